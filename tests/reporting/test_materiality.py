"""Material reasons: none below ``min_contribution``; a feature's missing-value case has a text of its own."""

import numpy as np
import pandas as pd
import pytest

import skig

REASONS = {
    "dti": {"text": "Debt-to-income ratio too high", "missing": "No debt-to-income ratio on file"},
    "income": "Income insufficient",
    "age": "Length of credit history",
}


@pytest.fixture
def exp():
    rng = np.random.RandomState(0)
    index = pd.Index(rng.permutation(np.arange(700, 740)), name="app_id")
    values = pd.DataFrame(rng.normal(scale=0.02, size=(40, 3)), index=index, columns=["dti", "income", "age"])
    values.iloc[:5] = [[0.03, 0.00003, 0.004], [0.2, 0.05, -0.1], [0.001, 0.002, 0.0005], [-0.1, -0.2, -0.3], [0, 0, 0]]
    data = pd.DataFrame(rng.uniform(size=(40, 3)), index=index, columns=["dti", "income", "age"])
    data.iloc[::3, 0] = np.nan
    base = pd.Series(0.1, index=index)
    return skig.Explanation(values, base, base + values.sum(axis=1), data, output="probability")


@pytest.mark.parametrize("direction", ["increase", "decrease"])
@pytest.mark.parametrize("threshold", [0.0, 0.005, 0.02])
def test_no_reason_below_the_threshold_and_ranks_kept(exp, direction, threshold):
    codes = skig.reason_codes(exp, n=2, direction=direction, min_contribution=threshold)
    adverse = codes["contribution"] if direction == "increase" else -codes["contribution"]
    assert (adverse >= threshold).all() and (adverse > 0).all()
    # oracle: every adverse reason, thresholded, then the first two of each row
    every = skig.reason_codes(exp, n=3, direction=direction)
    sign = 1 if direction == "increase" else -1
    expected = every[sign * every["contribution"] >= threshold].groupby("row", sort=False).head(2)
    pd.testing.assert_frame_equal(codes.reset_index(drop=True), expected.reset_index(drop=True))
    notices = skig.adverse_action(exp, REASONS, n=2, direction=direction, min_contribution=threshold)
    counts = codes.groupby("row").size().reindex(exp.values.index, fill_value=0)
    np.testing.assert_array_equal(notices["n_reasons"].to_numpy(dtype=int), counts.to_numpy())


def test_a_row_with_only_immaterial_reasons_gets_fewer_or_none(exp):
    first, third = exp.values.index[0], exp.values.index[2]
    codes = skig.reason_codes(exp, n=4, min_contribution=0.001)  # 0.1 percentage point
    assert codes.loc[codes["row"] == first, "feature"].tolist() == ["dti", "age"]  # 0.003 pp of income is not
    assert codes.loc[codes["row"] == third, "feature"].tolist() == ["income", "dti"]
    assert skig.reason_codes(exp, n=4, min_contribution=0.01).query("row == @third").empty
    notices = skig.adverse_action(exp, REASONS, n=4, min_contribution=0.01)
    assert notices.loc[third, "n_reasons"] == 0 and pd.isna(notices.loc[third, "reason_1"])


def test_missing_value_named_apart(exp):
    codes = skig.reason_codes(exp, n=3, reasons=REASONS)
    dti = codes[codes["feature"] == "dti"]
    missing = dti["value"].isna()
    assert missing.any() and (~missing).any()
    assert (dti.loc[missing, "reason"] == "No debt-to-income ratio on file").all()
    assert (dti.loc[~missing, "reason"] == "Debt-to-income ratio too high").all()
    # a text alone serves both cases; an entry without "missing" uses its text for both
    both = skig.reason_codes(exp, n=3, reasons={**REASONS, "dti": {"text": "DTI"}})
    assert set(both.loc[both["feature"] == "dti", "reason"]) == {"DTI"}


def test_report_lists_the_missing_value_text():
    from skig.reporting._html import _reason_entry

    expected = "Debt-to-income ratio too high; when missing: No debt-to-income ratio on file"
    assert _reason_entry(REASONS, "dti") == expected
    assert _reason_entry(REASONS, "income") == "Income insufficient"
    assert _reason_entry(REASONS, "other") == "(none: the feature name is used)"


@pytest.mark.parametrize("bad", [-0.01, float("nan"), "1pp", True])
def test_bad_threshold_refused(exp, bad):
    with pytest.raises(ValueError, match="min_contribution"):
        skig.reason_codes(exp, min_contribution=bad)
    with pytest.raises(ValueError, match="min_contribution"):
        skig.adverse_action(exp, min_contribution=bad)


def test_bad_entry_refused(exp):
    with pytest.raises(ValueError, match="'dti'.*missing"):
        skig.reason_codes(exp, reasons={"dti": {"txt": "DTI", "missing": "none"}})
