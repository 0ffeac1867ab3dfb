"""Plot tests draw on the Agg backend and close every figure they open; explanations are built with known numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import skig

# Feature scales chosen far apart, so the importance order is known: Income, Home, Age, Debt, f0, f1, f2, f3.
SCALES = {"Income": 1.0, "Home": 0.6, "Age": 0.4, "Debt": 0.25, "f0": 0.12, "f1": 0.06, "f2": 0.03, "f3": 0.015}
N_ROWS = 40


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def exp():
    """40 rows, 8 features: numeric Income (2 NaN), categorical Home (rent/owner/mortgage, 1 NaN), numbers."""
    rng = np.random.default_rng(0)
    data = pd.DataFrame(
        {
            "Income": rng.uniform(500, 9000, N_ROWS).round(),
            "Home": rng.choice(["rent", "owner", "mortgage"], N_ROWS).astype(object),
            "Age": rng.integers(20, 70, N_ROWS).astype(float),
            "Debt": rng.normal(size=N_ROWS),
            **{name: rng.normal(size=N_ROWS) for name in ["f0", "f1", "f2", "f3"]},
        },
        index=pd.RangeIndex(100, 100 + N_ROWS, name="applicant"),
    )
    data.iloc[[3, 17], 0] = np.nan
    data.iloc[[5], 1] = np.nan
    signs = rng.choice([-1.0, 1.0], size=(N_ROWS, len(SCALES)))
    magnitudes = rng.uniform(0.8, 1.2, size=(N_ROWS, len(SCALES))) * np.array(list(SCALES.values()))
    values = pd.DataFrame(signs * magnitudes, columns=list(SCALES), index=data.index)
    base = pd.Series(0.2, index=data.index)
    return skig.Explanation(values, base, values.sum(axis=1) + base, data, output="probability")


@pytest.fixture
def importance_order():
    """The features of ``exp``, most important first."""
    return list(SCALES)


@pytest.fixture
def applicant():
    """One applicant with known attributions: Income +0.3, Age -0.2, Home +0.1, Debt -0.05, then tiny ones."""
    values = pd.DataFrame(
        {"Income": [0.3], "Age": [-0.2], "Home": [0.1], "Debt": [-0.05], "f0": [0.004], "f1": [-0.003], "f2": [0.002]}
    )
    data = pd.DataFrame(
        {"Income": [1250.0], "Age": [35.0], "Home": ["rent"], "Debt": [np.nan], "f0": [0.5], "f1": [2.0], "f2": [1]}
    )
    base = pd.Series([0.2])
    return skig.Explanation(values, base, values.sum(axis=1) + base, data, is_row=True)


@pytest.fixture
def render(tmp_path):
    """Save the figure of ``ax`` to PNG and check a non-empty image was written."""

    def save(ax, name="plot"):
        path = tmp_path / f"{name}.png"
        ax.figure.savefig(path, dpi=60)
        assert path.stat().st_size > 1000
        return path

    return save


@pytest.fixture
def ticks():
    """Tick label texts of an axis, in tick order (bottom to top for y)."""

    def texts(ax, axis="y"):
        labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
        return [label.get_text() for label in labels]

    return texts
