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
def legend_lines():
    """A legend's texts line by line, as read (matplotlib lists them column by column)."""

    def lines(ax):
        legend = ax.get_legend()
        texts = [text.get_text() for text in legend.get_texts()]
        n_lines = len(texts) // legend._ncols
        return [texts[line::n_lines] for line in range(n_lines)]

    return lines


@pytest.fixture
def ticks():
    """Tick label texts of an axis, in tick order (bottom to top for y)."""

    def texts(ax, axis="y"):
        labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
        return [label.get_text() for label in labels]

    return texts


SUB_GRADES = [f"{grade}{step}" for grade in "ABCDEFG" for step in range(1, 6)]
STATES = (
    "CA TX NY FL IL PA OH GA NC MI NJ VA WA AZ MA TN IN MO MD WI CO MN SC AL LA KY OR OK CT UT "
    "IA NV AR MS KS NM NE ID WV HI NH ME MT RI DE SD ND AK VT WY"
).split()
N_LOANS = 300


@pytest.fixture(scope="session")
def lending():
    """300 loans like a lending set, on a shuffled index of labels 1000..1299 (never positions).

    ``sub_grade``: ordered A1 < ... < G5 (35 levels); ``addr_state``: 50 states, CA most frequent then by Zipf's
    law; ``int_rate`` rises with the grade; ``annual_inc`` (5 missing); ``home_ownership``: 3 levels. Attributions
    have a known structure: ``sub_grade`` rises with the grade's position (0.02 per step, centred), ``int_rate`` with
    the rate, ``annual_inc`` falls with the income (missing: +0.1), ``addr_state`` is a small effect per state.
    The base value is ``E[f(background)] = 0.15``; predictions make completeness exact.
    """
    rng = np.random.default_rng(7)
    grade_weights = np.exp(-0.5 * ((np.arange(35) - 12) / 8) ** 2)
    codes = rng.choice(35, N_LOANS, p=grade_weights / grade_weights.sum())
    state_weights = 1 / np.arange(1, 51)
    index = pd.Index(rng.permutation(np.arange(1000, 1000 + N_LOANS)), name="loan_id")
    data = pd.DataFrame(
        {
            "sub_grade": pd.Categorical.from_codes(codes, categories=SUB_GRADES, ordered=True),
            "addr_state": rng.choice(STATES, N_LOANS, p=state_weights / state_weights.sum()).astype(object),
            "int_rate": (5.5 + 0.7 * codes + rng.normal(0, 0.4, N_LOANS)).round(2),
            "annual_inc": rng.lognormal(11, 0.5, N_LOANS).round(-2),
            "home_ownership": rng.choice(["RENT", "OWN", "MORTGAGE"], N_LOANS).astype(object),
        },
        index=index,
    )
    data.iloc[rng.choice(N_LOANS, 5, replace=False), data.columns.get_loc("annual_inc")] = np.nan
    income = np.log(data["annual_inc"])
    state_effect = {state: 0.01 * ((position * 7) % 11 - 5) for position, state in enumerate(STATES)}
    values = pd.DataFrame(
        {
            "sub_grade": 0.02 * (codes - 17.0),
            "int_rate": 0.05 * (data["int_rate"] - 12.0),
            "annual_inc": (-0.2 * (income - 11)).fillna(0.1),
            "addr_state": data["addr_state"].map(state_effect),
            "home_ownership": data["home_ownership"].map({"RENT": 0.03, "OWN": -0.02, "MORTGAGE": -0.01}),
        },
        index=index,
    )
    base = pd.Series(0.15, index=index)
    return skig.Explanation(
        values, base, values.sum(axis=1) + base, data, output="probability", base_value_label="E[f(background)]"
    )
