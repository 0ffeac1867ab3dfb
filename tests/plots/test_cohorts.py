import numpy as np
import pandas as pd
import pytest
from conftest import SUB_GRADES

from skig.plots import cohorts


def test_categorical_column_gives_one_cohort_per_category_and_missing_last(exp):
    groups = cohorts(exp, "Home")
    assert list(groups) == ["mortgage", "owner", "rent", "missing"]
    assert sum(len(part) for part in groups.values()) == len(exp)
    for name in ["mortgage", "owner", "rent"]:
        assert (groups[name].data["Home"] == name).all()
    assert groups["missing"].data.index.tolist() == exp.data.index[exp.data["Home"].isna()].tolist()


def test_cohorts_keep_the_rows_index_and_attributions(exp):
    rent = cohorts(exp, "Home")["rent"]
    pd.testing.assert_frame_equal(rent.values, exp.values.loc[rent.values.index])
    pd.testing.assert_series_equal(rent.predictions, exp.predictions.loc[rent.values.index])


def test_numeric_column_with_many_values_is_split_into_quartiles(exp):
    groups = cohorts(exp, "Income")
    names = list(groups)
    assert len(names) == 5 and names[-1] == "missing"
    assert names[0].startswith("Income <= ") and names[3].startswith("Income > ")
    assert " < Income <= " in names[1]
    assert len(groups["missing"]) == exp.data["Income"].isna().sum() == 2
    sizes = [len(groups[name]) for name in names[:4]]
    assert max(sizes) - min(sizes) <= 1
    # Every row is in its interval: the bins do not overlap and are in increasing order.
    highs = [groups[name].data["Income"].max() for name in names[:4]]
    lows = [groups[name].data["Income"].min() for name in names[:4]]
    assert all(high < low for high, low in zip(highs[:-1], lows[1:], strict=True))


def test_bins_as_a_count_or_as_cut_points(exp):
    assert len(cohorts(exp, "Age", bins=2)) == 2
    groups = cohorts(exp, "Age", bins=[30, 50])
    assert list(groups) == ["Age <= 30", "30 < Age <= 50", "Age > 50"]
    assert (groups["Age <= 30"].data["Age"] <= 30).all()
    assert groups["30 < Age <= 50"].data["Age"].between(30, 50, inclusive="right").all()
    assert (groups["Age > 50"].data["Age"] > 50).all()


def test_cut_points_format_with_thousands_separators(exp):
    assert list(cohorts(exp, "Income", bins=[2500]))[:2] == ["Income <= 2,500", "Income > 2,500"]


def test_numeric_column_with_few_values_gives_one_cohort_per_value(exp):
    exp.data["Dependents"] = np.arange(len(exp)) % 3
    assert list(cohorts(exp, "Dependents")) == ["0", "1", "2"]


def test_categorical_dtype_keeps_its_category_order(exp):
    exp.data["Home"] = pd.Categorical(exp.data["Home"], categories=["rent", "mortgage", "owner"])
    assert list(cohorts(exp, "Home")) == ["rent", "mortgage", "owner", "missing"]


def test_bad_column_and_bins_are_named(exp):
    with pytest.raises(KeyError, match="unknown feature 'Salary'"):
        cohorts(exp, "Salary")
    with pytest.raises(ValueError, match="strictly increasing"):
        cohorts(exp, "Age", bins=[50, 30])
    with pytest.raises(ValueError, match="positive integer"):
        cohorts(exp, "Age", bins=0)


def test_many_categories_give_the_largest_cohorts_and_other(lending):
    groups = cohorts(lending, "addr_state")
    counts = lending.data["addr_state"].value_counts()
    assert list(groups) == [*counts.index[:7], "other"]
    assert [len(groups[state]) for state in counts.index[:7]] == counts.iloc[:7].tolist()
    assert set(groups["other"].data["addr_state"]) == set(counts.index[7:])
    assert sum(len(part) for part in groups.values()) == len(lending)
    assert list(cohorts(lending, "addr_state", max_cohorts=3)) == [*counts.index[:2], "other"]


def test_many_ordered_levels_give_runs_of_consecutive_levels(lending):
    groups = cohorts(lending, "sub_grade")
    assert len(groups) == 8 and sum(len(part) for part in groups.values()) == len(lending)
    order = {grade: position for position, grade in enumerate(SUB_GRADES)}
    previous_high = -1
    for name, part in groups.items():
        low, high = (name.split("-") * 2)[:2]
        grades = part.data["sub_grade"].map(order)
        # Named by the run's ends, every row inside, runs in the order and not overlapping.
        assert grades.min() == order[low] and grades.max() == order[high] and order[low] > previous_high
        previous_high = order[high]
    sizes = [len(part) for part in groups.values()]
    assert max(sizes) < 2 * min(sizes)  # about equal sizes


def test_few_levels_are_left_as_they_are_and_max_cohorts_is_checked(exp):
    assert list(cohorts(exp, "Home", max_cohorts=3)) == ["mortgage", "owner", "rent", "missing"]
    with pytest.raises(ValueError, match="max_cohorts must be a positive integer"):
        cohorts(exp, "Home", max_cohorts=0)
