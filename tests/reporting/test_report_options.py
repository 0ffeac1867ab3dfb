"""The report's signature: at most 12 parameters, options grouped by what they set; a FAIL hint that fits its cause."""

import inspect

import numpy as np
import pandas as pd
import pytest
import torch

import skig
from skig.reporting import Groups, Reasons, ReportSettings
from skig.reporting._settings import completeness_hint


def test_at_most_twelve_parameters():
    assert len(inspect.signature(skig.report).parameters) <= 12


def test_grouped_options_refuse_bad_values():
    with pytest.raises(ValueError, match="min_contribution"):
        Reasons.of(Reasons({"a": "A"}, min_contribution=-1))
    with pytest.raises(ValueError, match="direction"):
        Reasons.of(Reasons(direction="up"))
    with pytest.raises(ValueError, match="max_groups"):
        Groups.of(Groups("branch", max_groups=0))
    with pytest.raises(ValueError, match="stability_rows"):
        ReportSettings(stability_rows=0)
    assert Reasons.of({"a": "A"}).texts == {"a": "A"} and Groups.of("branch").by == "branch"


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])


def _net(activation):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 6), activation, torch.nn.Linear(6, 1))


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"method": "smoothgrad", "random_state": 0, "rule": "gausslegendre"}, "lower noise_level"),
        ({"method": "expected", "baseline": "sample", "n_baselines": 8, "random_state": 0}, "raise n_samples (now 32)"),
        ({"rule": "exact", "relu": True}, "floating-point rounding"),
        ({"n_steps": 4, "rule": "riemann_right"}, "rule='gausslegendre' (riemann_right converges slowly)"),
        ({"n_steps": 4, "rule": "gausslegendre"}, "raise n_steps (now 4) or use n_steps='auto'"),
        ({"n_steps": "auto", "max_steps": 8, "tol": 0.0, "rule": "gausslegendre"}, "raise max_steps (now 8; 30 rows"),
        ({"n_steps": "auto", "tol": 0.5, "rule": "gausslegendre"}, "lower tol (now 0.5)"),
    ],
)
def test_fail_hint_fits_the_cause(data, params, expected):
    params = dict(params)
    model = _net(torch.nn.ReLU() if params.pop("relu", False) else torch.nn.Tanh())
    explainer = skig.Explainer(model, **params).fit(data)
    hint = completeness_hint(explainer, explainer.explain(data))
    assert expected in hint
    if params.get("method") in ("smoothgrad", "expected") or params.get("rule") == "exact":
        assert "n_steps" not in hint  # more steps cannot help there
