"""What a reader sees, measured on the rendered page: no label covers another, none spills out of its bar or axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

import skig
from skig.plots import beeswarm, decision, force, heatmap, waterfall

LONG_NAMES = ["inquiries_last_12m", "debt_to_income_ratio", "months_since_last_delinquency", "annual_income", "x"]


def _rendered(ax):
    """The figure drawn as saved, and its renderer: extents are read after the layout engine ran."""
    figure = ax.figure
    figure.canvas.draw()
    return figure.canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _one_row(values: dict[str, float], base: float, data: dict) -> skig.Explanation:
    frame = pd.DataFrame({name: [value] for name, value in values.items()})
    prediction = pd.Series([base + sum(values.values())])
    return skig.Explanation(frame, pd.Series([base]), prediction, pd.DataFrame({k: [v] for k, v in data.items()}))


# The walk ends at its leftmost point on a short decrease whose label must go past its tip: into the feature names
# unless the axes make room. Then: a short bar of every sign, long names, and values of every size.
CASES = {
    "decrease at the left edge": (
        {"inquiries_last_12m": -0.061, "debt_to_income_ratio": 0.02, "annual_income": 0.01, "x": -0.004},
        0.3,
    ),
    "increase at the right edge": ({"inquiries_last_12m": 0.061, "debt_to_income_ratio": -0.02, "x": 0.004}, 0.3),
    "one large, many small": (
        {"debt_to_income_ratio": 1.7, "inquiries_last_12m": -0.061, "annual_income": 0.0008, "x": -0.0007},
        -0.2,
    ),
    "all large": ({name: (-1) ** i * (1.5 - 0.2 * i) for i, name in enumerate(LONG_NAMES)}, 0.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_waterfall_value_labels_stay_in_their_bars_and_off_the_feature_names(case):
    values, base = CASES[case]
    data = {name: 0.0 if name == "inquiries_last_12m" else 12.5 for name in values}
    ax = waterfall(_one_row(values, base, data))
    renderer = _rendered(ax)
    axes = ax.get_window_extent(renderer)
    names = [label.get_window_extent(renderer) for label in ax.get_yticklabels()]
    value_texts = [text for text in ax.texts if text.get_text()[:1] in "+-"]
    assert len(value_texts) == len(values)
    for text in value_texts:
        box = text.get_window_extent(renderer)
        assert axes.x0 <= box.x0 and box.x1 <= axes.x1, text.get_text()
        assert not any(_overlap(box, name) for name in names), text.get_text()
        if to_hex(text.get_color()) == "#ffffff":
            # White on its arrow: inside the arrow's extent (the row it is centred on).
            (patch,) = [p for p in ax.patches if _overlap(p.get_window_extent(renderer), box)]
            bar = patch.get_window_extent(renderer)
            assert bar.x0 <= box.x0 and box.x1 <= bar.x1, text.get_text()
    others = [text.get_window_extent(renderer) for text in value_texts]
    assert not any(_overlap(a, b) for i, a in enumerate(others) for b in others[i + 1 :])


def test_waterfall_label_of_a_bar_too_short_for_it_goes_outside():
    values = {"inquiries_last_12m": -0.061, "debt_to_income_ratio": 0.9}
    ax = waterfall(_one_row(values, 0.3, {"inquiries_last_12m": 0.0, "debt_to_income_ratio": 0.4}))
    renderer = _rendered(ax)
    colors = {text.get_text(): to_hex(text.get_color()) for text in ax.texts}
    assert colors["+0.9"] == "#ffffff" and colors["-0.061"] != "#ffffff"
    names = [label.get_window_extent(renderer) for label in ax.get_yticklabels()]
    label = next(text for text in ax.texts if text.get_text() == "-0.061").get_window_extent(renderer)
    arrow = ax.patches[0].get_window_extent(renderer)  # bottom: the smaller one
    assert label.x1 <= arrow.x0  # left of the decrease's tip, not on it
    assert label.x0 >= ax.get_window_extent(renderer).x0 and not any(_overlap(label, name) for name in names)


def _lending_like(n=120, names=("debt_to_income_ratio", "months_since_last_delinquency", "loan_purpose")):
    rng = np.random.default_rng(1)
    purposes = ["debt_consolidation_and_refinancing", "debt_consolidation_and_remodelling", "home_improvement", "car"]
    data = pd.DataFrame(
        {
            names[0]: rng.uniform(0, 40, n),
            names[1]: rng.uniform(0, 90, n),
            names[2]: rng.choice(purposes, n),
            "employment_length_category": rng.choice(["less_than_one_year", "ten_years_or_more", "two_to_four"], n),
        }
    )
    values = pd.DataFrame(rng.normal(0, 0.05, size=data.shape), columns=data.columns)
    base = pd.Series(0.3, index=data.index)
    return skig.Explanation(values, base, values.sum(axis=1) + base, data, output="probability")


def test_beeswarm_legend_writes_whole_names_inside_the_figure():
    exp = _lending_like()
    ax = beeswarm(exp)
    renderer = _rendered(ax)
    legend = ax.get_legend()
    texts = [text.get_text() for text in legend.get_texts() if text.get_text()]
    expected = {"loan_purpose", "employment_length_category"} | set(exp.data["loan_purpose"])
    expected |= set(exp.data["employment_length_category"])
    assert set(texts) == expected  # nothing cut to "debt_consolidation_and_r…"
    page = ax.figure.get_window_extent(renderer)
    boxes = [text.get_window_extent(renderer) for text in legend.get_texts() if text.get_text()]
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def _near_zero():
    """A probability of default close to 0 (from 0.02 down to 0.001, then up to 0.201) and rows near it."""
    one = _one_row({"debt_to_income_ratio": 0.2, "inquiries_last_12m": -0.019}, 0.02, {})
    one = skig.Explanation(one.values, one.base_values, one.predictions, one.values * 0, output="probability")
    rows = _lending_like()
    rows = skig.Explanation(
        rows.values * 0.12,
        rows.base_values * 0 + 0.06,
        rows.values.sum(axis=1) * 0.12 + 0.06,
        rows.data,
        output="probability",
    )
    return [one, rows.iloc[:30]]


@pytest.mark.parametrize("which", [0, 1])
def test_decision_and_force_in_probability_space_stay_between_0_and_1(which):
    exp = _near_zero()[which]
    assert (exp.predictions > 0).all() and (exp.predictions < 1).all()
    ax = decision(exp)
    paths = np.concatenate([line.get_xdata() for line in ax.lines[1:]])
    # The margins stop at 0; only a path's own partial sums could take the axis below it.
    assert ax.get_xlim()[0] >= min(0.0, paths.min()) - 1e-12 and ax.get_xlim()[1] <= 1
    for position in range(min(len(exp), 5)):
        ax = force(exp.iloc[position])
        low, high = ax.get_xlim()
        corners = np.concatenate([patch.get_xy()[:, 0] for patch in ax.patches])
        assert low >= min(0.0, corners.min()) - 1e-12 and high <= 1
        assert low <= corners.min() and corners.max() <= high  # every arrow is still drawn whole


def test_decision_axis_follows_a_path_that_leaves_0_to_1():
    values = pd.DataFrame({"a": [-0.15], "b": [0.2]})  # from 0.1, "a" first (the less important): down to -0.05
    data = pd.DataFrame({"a": [1], "b": [2]})
    exp = skig.Explanation(values, pd.Series([0.1]), pd.Series([0.15]), data, output="probability")
    ax = decision(exp)
    assert ax.get_xlim()[0] <= -0.05 + 1e-12  # the partial sum is drawn, not cut


def test_heatmap_f_of_x_band_has_a_scale_that_reads_the_predictions():
    exp = _lending_like(60)
    ax = heatmap(exp)
    renderer = _rendered(ax)
    (band,) = ax.child_axes
    ticks = band.get_yticks()
    labels = [label.get_text() for label in band.get_yticklabels()]
    assert len(ticks) >= 2 and all(label for label in labels)
    predictions = np.sort(exp.predictions.to_numpy())
    assert predictions[0] - 1e-9 <= ticks.min() and ticks.max() <= predictions[-1] + 1e-9
    # Independent of the mapping's formula: the line's height on the page, fitted against the predictions it draws,
    # puts each tick value where the scale writes it.
    line = ax.lines[-1]
    heights = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))[:, 1]
    slope, intercept = np.polyfit(predictions, heights, 1)
    tick_heights = band.transData.transform(np.column_stack([np.zeros_like(ticks), ticks]))[:, 1]
    np.testing.assert_allclose(tick_heights, slope * ticks + intercept, atol=0.5)
    # The scale's labels sit right of the matrix, clear of its bars and of the colour bar.
    axes = ax.get_window_extent(renderer)
    for label in band.get_yticklabels():
        assert label.get_window_extent(renderer).x0 >= axes.x1


def test_waterfall_draws_on_a_figure_without_pyplot():
    from matplotlib.figure import Figure  # as the report makes its figures: a canvas with no renderer of its own

    ax = Figure(figsize=(8, 3), layout="constrained").add_subplot()
    values, base = CASES["decrease at the left edge"]
    waterfall(_one_row(values, base, dict.fromkeys(values, 1.0)), ax=ax)
    assert len(ax.patches) == len(values)
