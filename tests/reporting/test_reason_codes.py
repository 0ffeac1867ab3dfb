import numpy as np
import pandas as pd
import pytest

import skig


@pytest.fixture
def exp():
    values = pd.DataFrame(
        {
            "Income": [0.20, -0.10, -0.01],
            "Debt": [0.05, 0.30, -0.02],
            "Age": [-0.02, 0.10, -0.03],
            "Home": [0.0, 0.2, 0],
        },
        index=["a", "b", "c"],
    )
    data = pd.DataFrame(
        {
            "Income": [80.0, 200.0, np.nan],
            "Debt": [900, 4000, 0],
            "Age": [25, 40, 61],
            "Home": ["rent", "owner", "rent"],
        },
        index=values.index,
    )
    base = pd.Series(0.1, index=values.index)
    return skig.Explanation(values, base, values.sum(axis=1) + base, data)


def test_lists_the_most_adverse_features_in_order_with_raw_values(exp):
    codes = skig.reason_codes(exp, n=2)
    assert list(codes.columns) == ["row", "rank", "feature", "value", "contribution"]
    b = codes[codes["row"] == "b"]
    assert b["feature"].tolist() == ["Debt", "Home"]
    assert b["rank"].tolist() == [1, 2]
    assert b["value"].tolist() == [4000, "owner"]
    np.testing.assert_allclose(b["contribution"], [0.30, 0.2])


def test_never_lists_a_feature_without_adverse_contribution(exp):
    codes = skig.reason_codes(exp, n=4)
    assert (codes["contribution"] > 0).all()
    assert codes[codes["row"] == "a"]["feature"].tolist() == ["Income", "Debt"]  # Home = 0 and Age < 0 are not reasons
    assert "c" not in set(codes["row"])  # nothing pushes row c up


def test_decrease_direction_lists_negative_contributions(exp):
    codes = skig.reason_codes(exp, n=1, direction="decrease")
    assert codes.set_index("row")["feature"].to_dict() == {"a": "Age", "b": "Income", "c": "Age"}
    assert (codes["contribution"] < 0).all()


def test_reason_text_from_mapping_or_callable(exp):
    mapping = {"Income": "Income insufficient for amount requested", "Debt": "Excessive obligations"}
    with pytest.warns(UserWarning, match="Home"):
        codes = skig.reason_codes(exp, n=2, reasons=mapping)
    assert codes.loc[codes["row"] == "a", "reason"].tolist() == [mapping["Income"], mapping["Debt"]]
    assert codes.loc[(codes["row"] == "b") & (codes["rank"] == 2), "reason"].item() == "Home"
    codes = skig.reason_codes(exp, n=1, reasons=lambda feature, value: f"{feature} is {value}")
    assert codes.loc[codes["row"] == "b", "reason"].item() == "Debt is 4000"


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": 1.5}, {"direction": "up"}, {"reasons": 3}])
def test_bad_arguments_raise(exp, kwargs):
    with pytest.raises((ValueError, TypeError)):
        skig.reason_codes(exp, **kwargs)
