"""Random draws keyed per row: every row's numbers come from ``random_state``'s seed and the row's own key.

A row keeps its draws whatever other rows are explained with it, so any split of the rows (batches, Spark or Dask
partitions) gives the same attributions as one call. SplitMix64 streams, vectorised over rows, in numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea & Flood, 2014): a bijective avalanche of 64-bit words."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_keys(index: pd.Index) -> np.ndarray:
    """A stable 64-bit key per index label (pandas' value hash: the same in every process and on every machine)."""
    return pd.util.hash_pandas_object(index, index=False).to_numpy(dtype=np.uint64)


def keyed_bits(keys: np.ndarray, seed: int, n_per_row: int) -> np.ndarray:
    """``n_per_row`` random 64-bit words for each key: the SplitMix64 stream started at ``mix(key ^ mix(seed))``."""
    keys = np.asarray(keys, dtype=np.uint64)
    start = _mix(keys ^ _mix(np.full(1, seed, dtype=np.uint64)))
    with np.errstate(over="ignore"):
        states = start[:, None] + _GOLDEN * np.arange(1, n_per_row + 1, dtype=np.uint64)[None, :]
    return _mix(states)


def keyed_uniforms(keys: np.ndarray, seed: int, n_per_row: int) -> np.ndarray:
    """Uniforms in (0, 1), shape (len(keys), n_per_row), float64 with 53 random bits each."""
    return ((keyed_bits(keys, seed, n_per_row) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def keyed_normals(keys: np.ndarray, seed: int, n_per_row: int) -> np.ndarray:
    """Standard normals, shape (len(keys), n_per_row), by the inverse normal CDF of :func:`keyed_uniforms`."""
    return ndtri(keyed_uniforms(keys, seed, n_per_row))
