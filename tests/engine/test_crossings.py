"""The exact engines' crossings: the compiled CPU loops and the torch operators both held to one plain numpy reference
(random segments, ties, crossings on a segment's ends, repeated crossings), written here apart from the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skig.engine.exact import _crossings

BLOCK = 16  # rows are padded to a multiple of this (skig.engine._gradients.ROW_BLOCK)


def reference_merge(values: np.ndarray, alpha: np.ndarray, path: np.ndarray, n: int):
    """Every segment's zero crossings, in plain Python: a unit whose value is > 0 at one end of a segment and not
    at the other crosses at t = a / (a - b), position lo + t (hi - lo); one at or past an end is dropped; per
    segment sorted by position (the first unit's kept among equal positions), equal positions once. Returned
    merged in path order: (values, alpha, path, parent) of the real points, and the (segment, position) pairs."""
    rows, alphas, paths, parents, found_pairs = [], [], [], [], []
    for i in range(n):
        rows.append(values[i].astype(np.float64))
        alphas.append(alpha[i])
        paths.append(path[i])
        parents.append(i)
        if i + 1 == n or path[i] < 0 or path[i] != path[i + 1]:
            continue
        lo, hi = alpha[i], alpha[i + 1]
        found = []
        for unit in range(values.shape[1]):
            a, b = float(values[i, unit]), float(values[i + 1, unit])
            if (a > 0) != (b > 0):
                t = a / (a - b)
                position = lo + t * (hi - lo)
                if lo < position < hi:
                    found.append((position, t))
        found.sort(key=lambda item: item[0])  # stable
        kept = []
        for position, t in found:
            if not kept or kept[-1][0] != position:
                kept.append((position, t))
        for position, t in kept:
            a, b = values[i].astype(np.float64), values[i + 1].astype(np.float64)
            rows.append(a + t * (b - a))
            alphas.append(position)
            paths.append(path[i])
            parents.append(i)
            found_pairs.append((i, position))
    return np.array(rows), np.array(alphas), np.array(paths), np.array(parents), found_pairs


def reference_sides(values: np.ndarray, path: np.ndarray, n: int) -> np.ndarray:
    """Where a unit is > 0 at one end of a segment and not at the other, +-1 by the sign of the two ends' sum."""
    out = values.copy()
    for i in range(n - 1):
        if path[i] >= 0 and path[i] == path[i + 1]:
            for unit in range(values.shape[1]):
                a, b = values[i, unit], values[i + 1, unit]
                if (a > 0) != (b > 0):
                    out[i, unit] = 1.0 if a + b > 0 else -1.0
    return out


def points(dtype: torch.dtype, seed: int):
    """Points of a few paths sorted by (path, alpha), padded as the chain engine pads them, with the cases that
    matter: units crossing together (repeats), zeros on a segment's ends, segments without crossings, a path of one
    segment, a path whose two ends are equal."""
    rng = np.random.default_rng(seed)
    counts = [2, 3, 4, 2, 5, 2]
    rows, alpha, path = [], [], []
    for owner, count in enumerate(counts):
        inner = np.sort(rng.uniform(0, 1, count - 2))
        alpha += [0.0, *inner, 1.0]
        path += [owner] * count
        rows.append(rng.normal(size=(count, 9)))
    values = np.concatenate(rows)
    values[:, 3] = values[:, 2]  # the same crossings twice
    values[:, 4] = 2 * values[:, 2]  # the same positions by another route (exact: a power of two)
    values[1, 5] = 0.0  # a crossing at the end of path 0's only segment (t = 1 or no flip)
    values[2, 6], values[3, 6] = 0.0, 1.0  # at the start of a segment (t = 0): dropped
    values[5, 7], values[6, 7] = -1.0, -2.0  # both below: no crossing
    values[-2:] = values[-2]  # the last path has equal ends: no crossing at all
    values[:, 8] = np.where(np.arange(len(values)) % 2 == 0, 0.5, -0.25)  # crossings on every segment
    n = len(values)
    padded = -(-n // BLOCK) * BLOCK
    values = np.concatenate((values, np.zeros((padded - n, values.shape[1]))))
    alpha = np.array(alpha + [2.0] * (padded - n))
    path = np.array(path + [-1] * (padded - n))
    return torch.tensor(values, dtype=dtype), torch.tensor(alpha), torch.tensor(path), n


IMPLEMENTATIONS = ["compiled", "torch"]


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request, monkeypatch):
    if request.param == "compiled":
        if _crossings.njit is None:
            pytest.skip("numba is not installed")
    else:
        monkeypatch.setattr(_crossings, "compiled_available", lambda values: False)
    return request.param


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_crossings_are_the_reference(implementation, dtype, seed):
    values, alpha, path, n = points(dtype, seed)
    expected_values, expected_alpha, expected_path, expected_parent, _ = reference_merge(
        values.numpy(), alpha.numpy(), path.numpy(), n
    )
    merged, merged_alpha, merged_path, parent, total = _crossings.merge_crossings(values, alpha, path, n)
    assert total == len(expected_alpha) > n
    assert merged.shape[0] % BLOCK == 0 and merged.shape[0] >= total
    np.testing.assert_array_equal(merged_alpha[:total].numpy(), expected_alpha)  # bit for bit
    np.testing.assert_array_equal(merged_path[:total].numpy(), expected_path)
    np.testing.assert_array_equal(parent[:total].numpy(), expected_parent)
    tolerance = 1e-6 if dtype == torch.float32 else 1e-14  # new points are interpolated in the values' dtype
    np.testing.assert_allclose(merged[:total].double().numpy(), expected_values, rtol=tolerance, atol=tolerance)
    assert (merged_path[total:] == -1).all() and (merged_alpha[total:] == 2.0).all()
    assert (merged[total:] == 0).all() and (parent[total:] == 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_recorded_sides_are_the_reference(implementation, dtype):
    values, alpha, path, n = points(dtype, 0)
    merged, _, merged_path, _, total = _crossings.merge_crossings(values, alpha, path, n)
    expected = reference_sides(merged.numpy(), merged_path.numpy(), total)
    _crossings.record_sides(merged, merged_path, total)
    np.testing.assert_array_equal(merged.numpy(), expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossing_positions_and_sorted_unique_are_the_reference(seed):
    """The general engine's use: (segment, unit) entries found call by call, then sorted and deduplicated."""
    values, alpha, path, n = points(torch.float64, seed)
    *_, expected = reference_merge(values.numpy(), alpha.numpy(), path.numpy(), n)
    segment, unit = torch.meshgrid(torch.arange(n - 1), torch.arange(values.shape[1]), indexing="ij")
    segment, unit = segment.reshape(-1), unit.reshape(-1)
    flips = ((values[segment, unit] > 0) != (values[segment + 1, unit] > 0)) & (path[segment] == path[segment + 1])
    segment, unit = segment[flips], unit[flips]
    # Entries in another order than the reference's (as calls find them): the sort must restore it.
    order = torch.randperm(segment.numel(), generator=torch.Generator().manual_seed(seed))
    segment, unit = segment[order], unit[order]
    _, position, inside = _crossings.crossing_positions(
        values[segment, unit], values[segment + 1, unit], alpha[segment], alpha[segment + 1]
    )
    found_segment, found_position = _crossings.sorted_unique(segment[inside], position[inside])
    assert list(zip(found_segment.tolist(), found_position.tolist(), strict=True)) == expected
