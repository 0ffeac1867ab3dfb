"""The Explanation result object: parallel pandas parts, slicing, tidy form and SHAP conversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import skig


@pytest.fixture
def exp():
    index = pd.Index([10, 20, 30, 40], name="applicant")
    values = pd.DataFrame(
        {"Income": [0.3, -0.2, 0.1, 0.0], "Home": [0.1, -0.05, 0.0, 0.2], "Age": [0.0, 0.01, -0.1, 0.05]}, index=index
    )
    data = pd.DataFrame(
        {"Income": [900.0, np.nan, 1500.0, 2000.0], "Home": ["rent", "owner", None, "rent"], "Age": [25, 40, 33, 61]},
        index=index,
    )
    base = pd.Series(0.2, index=index)
    predictions = values.sum(axis=1) + base + pd.Series([0.0, 1e-3, 0.0, -2e-3], index=index)
    return skig.Explanation(
        values,
        base,
        predictions,
        data,
        target=pd.Series(1, index=index),
        output="probability",
        method="ig",
        n_steps=pd.Series(64, index=index),
    )


def test_parts_share_the_index_and_delta_is_the_completeness_error(exp):
    for part in (exp.base_values, exp.predictions, exp.delta, exp.target, exp.n_steps):
        assert part.index.equals(exp.values.index)
    np.testing.assert_allclose(exp.delta, [0.0, -1e-3, 0.0, 2e-3], atol=1e-15)
    assert exp.feature_names == ["Income", "Home", "Age"]
    assert exp.shape == (4, 3) and len(exp) == 4
    assert "rows=4" in repr(exp) and "probability" in repr(exp)


def test_delta_matches_base_values_and_predictions_by_label_and_keeps_nan_rows_nan():
    """Series given in another order are matched by label, duplicated labels by position (the same index), and a
    row with a NaN attribution (its path met a NaN gradient) has a NaN delta, not base value minus prediction."""
    values = pd.DataFrame({"a": [1.0, np.nan, 0.5], "b": [0.25, 2.0, 0.0]}, index=["x", "y", "z"])
    data = pd.DataFrame({"a": [0.0] * 3, "b": [0.0] * 3}, index=values.index)
    base = pd.Series([0.5, 0.5, 0.5], index=["z", "x", "y"])
    predictions = pd.Series([1.0, 1.75, 3.0], index=["z", "x", "y"])
    exp = skig.Explanation(values, base, predictions, data)
    assert exp.delta.index.equals(values.index) and exp.delta.name == "delta"
    np.testing.assert_array_equal(exp.delta.to_numpy(), [0.0, np.nan, 0.0])
    twice = values.set_axis(["x", "x", "z"])
    exp = skig.Explanation(
        twice, base.set_axis(twice.index[[0, 1, 2]]), pd.Series([1.0, 2.0, 1.0], index=twice.index), data
    )
    np.testing.assert_array_equal(exp.delta.to_numpy(), [0.75, np.nan, 0.0])


@pytest.mark.parametrize(
    "how, key, rows",
    [
        ("iloc", 1, [20]),
        ("iloc", -1, [40]),
        ("iloc", slice(1, 3), [20, 30]),
        ("iloc", [3, 0], [40, 10]),
        ("iloc", np.array([True, False, True, False]), [10, 30]),
        ("loc", 20, [20]),
        ("loc", [40, 10], [40, 10]),
        ("loc", slice(20, 30), [20, 30]),
        ("loc", pd.Series([True, False, True, False], index=[40, 30, 20, 10]), [20, 40]),
        ("mask", np.array([False, True, True, False]), [20, 30]),
        ("mask", pd.Series([False, True, True, False], index=[40, 30, 20, 10]), [20, 30]),
    ],
)
def test_loc_is_by_label_iloc_by_position_and_every_part_stays_aligned(exp, how, key, rows):
    part = exp[key] if how == "mask" else getattr(exp, how)[key]
    assert list(part.values.index) == rows
    for frame in (part.base_values, part.predictions, part.delta, part.data, part.encoded_values, part.n_steps):
        assert list(frame.index) == rows
    assert part.is_row == (np.ndim(key) == 0 and not isinstance(key, slice))
    assert part.output == "probability"


def test_loc_and_iloc_differ_on_a_shuffled_integer_index(exp):
    shuffled = exp.iloc[[2, 0, 3, 1]]  # index labels 30, 10, 40, 20
    assert shuffled.loc[10].predictions.index.tolist() == [10]
    assert shuffled.iloc[1].predictions.index.tolist() == [10]
    assert shuffled.iloc[0].predictions.index.tolist() == [30]


@pytest.mark.parametrize("key", [0, 1, slice(0, 2), [0, 1], "Income", 1.5])
def test_a_bare_key_that_is_not_a_mask_is_refused_with_the_way_to_select(exp, key):
    with pytest.raises(TypeError, match=r"exp\.loc\[label\].*exp\.iloc\[position\]"):
        exp[key]


@pytest.mark.parametrize(
    "how, key, error",
    [
        ("iloc", 4, IndexError),
        ("iloc", -5, IndexError),
        ("loc", 0, KeyError),
        ("loc", 25, KeyError),
        ("iloc", np.array([True, False]), IndexError),
    ],
)
def test_bad_keys_raise(exp, how, key, error):
    with pytest.raises(error):
        getattr(exp, how)[key]


def test_importance_is_mean_absolute_attribution_sorted(exp):
    importance = exp.importance()
    assert list(importance.index) == ["Income", "Home", "Age"]
    assert importance["Income"] == pytest.approx(0.15)


def test_to_frame_is_tidy(exp):
    tidy = exp.to_frame()
    assert list(tidy.columns) == ["applicant", "feature", "feature_value", "attribution"]
    assert len(tidy) == 12
    home_20 = tidy[(tidy["applicant"] == 20) & (tidy["feature"] == "Home")].iloc[0]
    assert home_20["feature_value"] == "owner" and home_20["attribution"] == pytest.approx(-0.05)
    assert pd.isna(tidy[(tidy["applicant"] == 20) & (tidy["feature"] == "Income")]["feature_value"].iloc[0])


@pytest.mark.parametrize("name", ["feature", "attribution", "feature_value"])
def test_to_frame_keeps_an_index_named_like_one_of_its_columns(name):
    values = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.1]}, index=pd.Index([10, 11], name=name))
    data = pd.DataFrame({"a": [3.0, 4.0], "b": [1.0, 2.0]}, index=values.index)
    tidy = skig.Explanation(values, pd.Series([0.0, 0.0], index=values.index), values.sum(axis=1), data).to_frame()
    assert tidy.columns.tolist() == [f"{name} (row)", "feature", "feature_value", "attribution"]
    assert tidy[f"{name} (row)"].tolist() == [10, 10, 11, 11]
    assert tidy["attribution"].tolist() == [1.0, 0.5, 2.0, 0.1]


def test_to_shap_is_lossless(exp):
    import shap

    converted = exp.to_shap()
    assert isinstance(converted, shap.Explanation)
    np.testing.assert_array_equal(converted.values, exp.values.to_numpy())
    # the completeness error is folded into the base values, so that SHAP's base + sum of values is skig's f(x)
    np.testing.assert_allclose(converted.base_values, exp.base_values - exp.delta, atol=1e-15)
    np.testing.assert_allclose(converted.base_values + converted.values.sum(axis=1), exp.predictions, atol=1e-15)
    assert list(converted.feature_names) == exp.feature_names
    # numbers stay numbers (NaN kept); categories become codes for colouring, raw values stay in display_data
    np.testing.assert_array_equal(converted.data[:, 0], exp.data["Income"].to_numpy())
    np.testing.assert_array_equal(converted.data[:, 2], exp.data["Age"].to_numpy())
    assert np.isnan(converted.data[2, 1]) and converted.data[0, 1] == converted.data[3, 1]
    display = converted.display_data[:, 1]
    assert list(display[[0, 1, 3]]) == ["rent", "owner", "rent"] and pd.isna(display[2])


def test_one_row_converts_to_a_one_dimensional_shap_explanation(exp):
    row = exp.iloc[0].to_shap()
    assert row.values.shape == (3,) and np.ndim(row.base_values) == 0
    assert row.base_values == pytest.approx(0.2)


def test_explainer_output_round_trips_through_shap_plots(mlp, X):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    exp = skig.Explainer(mlp(5, 1), n_steps=8).fit(X).explain(X)
    shap.plots.waterfall(exp.iloc[0].to_shap(), show=False)
    shap.plots.beeswarm(exp.to_shap(), show=False)
    plt.close("all")


def test_explain_names_its_series_and_leaves_a_callers_series_as_it_was():
    X = pd.DataFrame(np.random.RandomState(0).normal(size=(20, 3)), columns=["a", "b", "c"])
    y = X.to_numpy() @ [1.0, -2.0, 0.5]
    from sklearn.linear_model import LinearRegression

    exp = skig.Explainer(LinearRegression().fit(X, y)).fit(X).explain(X)
    names = (exp.base_values.name, exp.predictions.name, exp.target.name, exp.n_steps.name, exp.delta.name)
    assert names == ("base_value", "prediction", "target", "n_steps", "delta")
    assert exp.iloc[2:5].base_values.name == "base_value" and exp.iloc[3].n_steps.name == "n_steps"
    base = pd.Series([0.5, 0.5], name="mine")
    made = skig.Explanation(pd.DataFrame({"a": [1.0, 2.0]}), base, pd.Series([1.5, 2.5]), pd.DataFrame({"a": [0, 1]}))
    assert base.name == "mine" and made.base_values.name == "base_value" and made.base_values is not base
