"""Groups for the report: labels aligned by index, small groups pooled, gaps with intervals and p-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skig.reporting._groups import compare_groups, group_labels, labelled_columns, pool_groups


@pytest.fixture
def X():
    return pd.DataFrame({"a": range(6), "band": list("xxyyzz")}, index=[105, 101, 103, 100, 104, 102])


def test_series_is_aligned_by_label_not_position(X):
    by_label = pd.Series({100: "p", 101: "q", 102: "r", 103: "s", 104: "t", 105: "u"}, name="tier")
    labels, name, _ = group_labels(by_label, X)
    assert name == "tier"
    assert labels.tolist() == ["u", "q", "s", "p", "t", "r"]  # X's order, looked up by label
    longer = pd.concat([by_label, pd.Series({999: "extra"})])  # extra labels do not matter, length does not either
    assert group_labels(longer.sample(frac=1, random_state=0), X)[0].tolist() == labels.tolist()


def test_series_missing_labels_is_refused_with_the_labels(X):
    with pytest.raises(ValueError, match=r"no value for 1 rows of X, e\.g\. labels \[105\]"):
        group_labels(pd.Series("g", index=[100, 101, 102, 103, 104, 7]), X)
    with pytest.raises(ValueError, match="duplicated labels"):
        group_labels(pd.Series("g", index=[100, 100, 101, 102, 103, 104, 105]), X)


def test_column_array_and_missing_values(X):
    labels, name, _ = group_labels("band", X)
    assert name == "band" and labels.tolist() == list("xxyyzz") and labels.index.equals(X.index)
    labels, name, _ = group_labels(np.array(["a", None, "b", "a", np.nan, "b"], dtype=object), X)
    assert name == "group" and labels.tolist() == ["a", "missing", "b", "a", "missing", "b"]
    with pytest.raises(ValueError, match="one label per row of X \\(6 rows\\)"):
        group_labels(["a", "b"], X)
    with pytest.raises(ValueError, match="'sex' is not a column of X"):
        group_labels("sex", X)


def test_small_groups_are_pooled_as_other_and_said_so():
    labels = pd.Series(["a"] * 40 + ["b"] * 35 + ["c"] * 5 + ["d"] * 3)
    pooled = pool_groups(labels, min_size=30, max_groups=8)
    assert pooled.sizes["rows"].to_dict() == {"a": 40, "b": 35, "other": 8}
    assert "2 groups under 30 rows (c, d)" in pooled.sizes.loc["other", "note"]
    assert (pooled.labels == "other").sum() == 8


def test_many_groups_keep_the_largest_and_pool_the_rest():
    rng = np.random.RandomState(0)
    states = [f"S{i:02d}" for i in range(50)]
    labels = pd.Series(rng.choice(states, size=5000, p=np.linspace(1, 3, 50) / np.linspace(1, 3, 50).sum()))
    pooled = pool_groups(labels, min_size=30, max_groups=8)
    counts = labels.value_counts()
    assert list(pooled.sizes.index[:8]) == list(counts.index[:8])  # the 8 largest, largest first
    assert pooled.sizes.index[-1] == "other" and pooled.sizes["rows"].sum() == 5000
    assert "42 groups beyond the largest 8" in pooled.sizes.loc["other", "note"]


def test_a_real_group_called_other_is_not_merged():
    labels = pd.Series(["other"] * 40 + ["b"] * 40 + ["c"] * 2)
    assert list(pool_groups(labels, min_size=30, max_groups=8).sizes.index) == [
        "b",
        "other",
        "other (pooled)",
    ]  # ties by label


def test_users_values_named_like_skigs_labels_stay_apart():
    X = pd.DataFrame(index=pd.Index([9, 3, 7, 1, 5, 2, 8, 4], name="loan"))
    raw = ["missing", np.nan, 1, "1", "other", "other (pooled)", None, "missing"]
    labels, _, values = group_labels(np.array(raw, dtype=object), X)
    assert labels.tolist() == [
        "missing",
        "missing (no value)",
        "1",
        "'1'",
        "other",
        "other (pooled)",
        "missing (no value)",
        "missing",
    ]
    assert values["1"] == 1 and values["'1'"] == "1" and np.isnan(values["missing (no value)"])
    # Pooled, the real "other" and "other (pooled)" keep their rows; skig's pool takes the next free name.
    labels = pd.Series(["other"] * 40 + ["other (pooled)"] * 30 + ["missing"] * 35 + ["c"] * 2 + ["other"] * 0)
    pooled = pool_groups(labels, min_size=30, max_groups=8)
    assert pooled.sizes["rows"].to_dict() == {"other": 40, "missing": 35, "other (pooled)": 30, "other (pooled 2)": 2}
    assert pooled.other == "other (pooled 2)" and pooled.labels.value_counts().sum() == len(labels)
    # A real "other" that is itself pooled still gives skig's pool a name of its own.
    small = pool_groups(pd.Series(["a"] * 40 + ["other"] * 3 + ["c"] * 2), min_size=30, max_groups=8)
    assert small.other == "other (pooled)" and small.sizes["rows"].to_dict() == {"a": 40, "other (pooled)": 5}


def test_full_data_group_means_are_matched_by_value_not_text():
    frame = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], columns=pd.Index(["1", 1, np.nan, "other"], dtype=object))
    values = {"1": 1, "'1'": "1", "missing (no value)": np.nan}
    assert labelled_columns(frame, values).iloc[0].to_dict() == {"1": 2.0, "'1'": 1.0, "missing (no value)": 3.0}


def test_gap_with_interval_and_p_value_tell_a_disparity_from_noise():
    rng = np.random.RandomState(1)
    group = pd.Series(["A"] * 200 + ["B"] * 200)
    values = pd.DataFrame({"shifted": rng.normal(size=400), "noise": rng.normal(size=400)})
    values.loc[group == "B", "shifted"] += 1.0  # a true gap of 1 between the groups on one feature
    table = compare_groups(values, group, n_resamples=499, random_state=0)
    shifted, noise = table.loc["shifted"], table.loc["noise"]
    assert table.index[0] == "shifted" and (shifted["highest"], shifted["lowest"]) == ("B", "A")
    means = values.groupby(group).mean()
    assert shifted["difference"] == pytest.approx(means.loc["B", "shifted"] - means.loc["A", "shifted"])
    assert shifted["low"] < 1.0 < shifted["high"] and shifted["low"] > 0.5
    assert shifted["p_value"] == pytest.approx(1 / 500)  # no relabelling comes close
    assert noise["p_value"] > 0.05 and noise["low"] < 0.2
    # seeded: the same seed gives the same numbers
    pd.testing.assert_frame_equal(table, compare_groups(values, group, n_resamples=499, random_state=0))


def test_pair_p_value_matches_a_direct_count_times_the_number_of_pairs():
    rng = np.random.RandomState(3)
    group = pd.Series(["A"] * 20 + ["B"] * 25 + ["C"] * 15)
    values = pd.DataFrame({"f": rng.normal(size=60)})
    values.loc[group == "C", "f"] += 0.6
    table = compare_groups(values, group, n_resamples=200, random_state=5)
    observed = values["f"].groupby(group).mean()
    high, low = observed.idxmax(), observed.idxmin()
    assert (table.loc["f", "highest"], table.loc["f", "lowest"]) == (high, low)
    # the same shuffles of the two groups' rows, drawn again from the same seed, counted with pandas
    rng = np.random.RandomState(5)
    pair = values["f"][group.isin([high, low])]
    pair = pd.concat([pair[group == high], pair[group == low]])
    n_high, gap, count = (group == high).sum(), observed[high] - observed[low], 0
    for _ in range(200):
        shuffled = pair.to_numpy()[rng.permutation(len(pair))]
        count += abs(shuffled[:n_high].mean() - shuffled[n_high:].mean()) >= gap * (1 - 1e-9)
    assert table.attrs["n_pairs"] == 3
    assert table.loc["f", "p_value"] == pytest.approx(min(1.0, 3 * (1 + count) / 201))


def test_two_small_noisy_groups_do_not_make_a_disparity():
    rng = np.random.RandomState(2)
    group = pd.Series(["big1"] * 400 + ["big2"] * 400 + [f"small{i}" for i in range(6) for _ in range(12)])
    values = pd.DataFrame({"f": rng.normal(size=len(group))})  # no group matters
    row = compare_groups(values, group, n_resamples=299, random_state=0).loc["f"]
    assert row["highest"].startswith("small") or row["lowest"].startswith("small")
    assert row["p_value"] > 0.05 and row["low"] < 0  # the interval and the p-value agree: noise


def test_one_group_cannot_be_compared():
    with pytest.raises(ValueError, match="at least 2 groups"):
        compare_groups(pd.DataFrame({"f": [1.0, 2.0]}), pd.Series(["a", "a"]))
