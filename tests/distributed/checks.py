"""Comparisons of distributed results with single-machine explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from skig._distributed._schema import RESULT_COLUMNS


def as_flat(exp, prefix: str = "") -> pd.DataFrame:
    """An Explanation in the distributed layout (without carried columns), indexed by its row keys."""
    flat = exp.values.add_prefix(prefix).astype(np.float64)
    flat["prediction"] = exp.predictions.to_numpy(dtype=np.float64)
    flat["base_value"] = exp.base_values.to_numpy(dtype=np.float64)
    flat["delta"] = exp.delta.to_numpy(dtype=np.float64)
    flat["n_steps"] = exp.n_steps.to_numpy(dtype=np.int64)
    return flat


def assert_same_numbers(result: pd.DataFrame, exp, key: str = "account_id", prefix: str = "") -> None:
    """Every row of ``exp`` exactly once in ``result``, with bit-identical attributions and results."""
    assert result[key].is_unique, "a row was explained more than once"
    got = result.set_index(key).sort_index()
    expected = as_flat(exp, prefix).sort_index()
    assert list(got.index) == list(expected.index), "rows are missing or extra"
    columns = list(expected.columns)
    pd.testing.assert_frame_equal(got[columns], expected[columns], check_exact=True, check_names=False)
    assert set(RESULT_COLUMNS) <= set(got.columns)
