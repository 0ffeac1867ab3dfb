"""Exact IG's memory per path is bounded: long paths are cut into pieces of alpha, with the numbers of one piece."""

from __future__ import annotations

import pytest
import torch
from exact_helpers import frozen_copy, pick
from torch import nn

from skig.engine.exact import _bounds, _integrals, exact_path_integrals


def deep_net(width=64, depth=6, dtype=torch.float64):
    torch.manual_seed(0)
    layers = [nn.Linear(5, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return frozen_copy(nn.Sequential(*layers, nn.Linear(width, 2)), dtype)


def far_rows(n, dtype=torch.float64):
    # Scaled by 1,000: the paths cross many linear pieces, most of them near the baseline.
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(3), dtype=dtype) * 1000


@pytest.fixture(params=["chain", "general"])
def engine(request):
    return request.param


def held_per_piece(monkeypatch):
    """Record the most values any piece held when the engines checked their bounds."""
    largest = []
    check = _bounds.PieceBounds.check

    def recording(self, used, done):
        largest.append(int(used.max()))
        return check(self, used, done)

    monkeypatch.setattr(_bounds.PieceBounds, "check", recording)
    return largest


def test_paths_cut_into_pieces_equal_the_whole_paths_and_stay_under_the_bound(engine, monkeypatch):
    module = deep_net()
    ends = far_rows(6)
    starts, targets = torch.zeros_like(ends), torch.arange(6) % 2
    largest = held_per_piece(monkeypatch)
    whole, whole_segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=512, engine=engine)
    unbounded = max(largest)
    bound = 2**12
    assert unbounded > 8 * bound  # without pieces, a path holds many bounds' worth
    monkeypatch.setattr(_integrals, "PIECE_VALUES", bound)
    largest.clear()
    cut, cut_segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=512, engine=engine)
    # float64 model: the pieces meet at float64 points, so the sums agree to float64 rounding.
    torch.testing.assert_close(cut, whole, rtol=1e-9, atol=1e-12)
    # Completeness against the module itself.
    with torch.no_grad():
        gap = pick(module(ends), targets) - pick(module(starts), targets)
    torch.testing.assert_close(cut.sum(1), gap, rtol=1e-9, atol=1e-9)
    assert cut_segments.ge(whole_segments).all()  # each cut adds at most a segment end
    # A piece is checked after every hinge (general engine: every round) and cut as soon as it passes the bound:
    # what it holds stays within the bound plus one level's growth (at most 64 crossings of 64 units, times the
    # values a point holds), whatever the segments of the whole path.
    per_point = 64 if engine == "chain" else 6 * 64
    assert max(largest) <= bound + 66 * per_point < unbounded / 2


def test_where_a_path_is_cut_does_not_depend_on_its_batch(monkeypatch):
    module = deep_net(dtype=torch.float32)
    ends = far_rows(9, torch.float32)
    starts, targets = torch.zeros_like(ends), torch.zeros(9, dtype=torch.long)
    monkeypatch.setattr(_integrals, "PIECE_VALUES", 2**14)
    together, segments = exact_path_integrals(module, pick, starts, ends, targets, max_points=4096)
    for row in (0, 4, 8):
        alone, alone_segments = exact_path_integrals(
            module, pick, starts[row : row + 1], ends[row : row + 1], targets[row : row + 1], max_points=64
        )
        assert torch.equal(alone_segments, segments[row : row + 1])
        # float32 model: neighbouring rows change nothing but the last bits (see test_chain's batch test).
        torch.testing.assert_close(alone, together[row : row + 1], rtol=1e-5, atol=1e-9)


def test_a_path_too_long_to_integrate_exactly_is_refused_with_what_to_use(monkeypatch):
    module = deep_net(width=32, depth=3)
    ends = far_rows(1)
    monkeypatch.setattr(_integrals, "PIECE_VALUES", 2**10)
    monkeypatch.setattr(_bounds, "MAX_PIECES", 4)
    with pytest.raises(ValueError, match=r"not worth integrating exactly.*rule='gausslegendre'"):
        target = torch.zeros(1, dtype=torch.long)
        exact_path_integrals(module, pick, torch.zeros_like(ends), ends, target, max_points=64)
