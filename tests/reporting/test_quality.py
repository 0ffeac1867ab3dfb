"""Faithfulness and sanity tests: each must be able to fail, and sensitivity agrees with Captum's sensitivity_max."""

import numpy as np
import pandas as pd
import pytest
import torch

import skig
from skig.reporting._quality import PERTURB_RADIUS, deletion_curves, perturbation_scale, quality, sensitivity


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return pd.DataFrame(rng.normal(size=(300, 5)), columns=["a", "b", "c", "d", "e"])


def _linear(weights, bias=0.0):
    layer = torch.nn.Linear(len(weights), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weights]))
        layer.bias.fill_(bias)
    return layer


@pytest.fixture(scope="module")
def trained(data):
    y = torch.tensor(((3 * data["a"] - 2 * data["c"] + 0.5 * data["e"]) > 0).to_numpy(), dtype=torch.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    inputs = torch.tensor(data.to_numpy(), dtype=torch.float32)
    for _ in range(300):
        optimiser.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(inputs).squeeze(1), y).backward()
        optimiser.step()
    return net


class _WeightsIgnored(torch.nn.Module):
    """Its output never reads its weights: attributions cannot depend on them."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(5, 1)

    def forward(self, x):
        return (x**2 * torch.tensor([3.0, 1.0, 0.5, 0.2, 0.1])).sum(1, keepdim=True) + 0.0 * self.layer(x)


def test_deletion_beats_random_where_one_column_dominates(data):
    explainer = skig.Explainer(_linear([4.0, 0.2, 0.1, 0.1, 0.05]), baseline="median", n_steps=8).fit(data)
    tests = quality(explainer, data, max_rows=100, shap_rows=5)
    assert tests.loc["deletion", "verdict"] == "pass" and tests.loc["deletion", "value"] > 0.3
    curves = tests.attrs["deletion"]
    assert (curves["top-k columns"] >= curves["k random columns"] - 1e-12).all()
    np.testing.assert_allclose(curves.iloc[-1], 1.0)  # every column at the baseline: f(baseline) exactly (linear)


def test_deletion_does_not_beat_random_where_the_model_ignores_its_inputs(data):
    explainer = skig.Explainer(_linear([0.0] * 5, bias=0.7), baseline="median", n_steps=8).fit(data)
    exp = explainer.explain(data.iloc[:50])
    curves, areas = deletion_curves(explainer, exp, seed=1)
    assert np.all(areas == 0) and np.all(curves.to_numpy() == 0)
    tests = quality(explainer, data, max_rows=50, shap_rows=5)
    assert tests.loc["deletion", "verdict"] == "fail"


def test_randomisation_low_on_a_trained_net_high_where_weights_do_not_matter(data, trained):
    explainer = skig.Explainer(trained, baseline="median").fit(data)
    tests = quality(explainer, data, max_rows=100, shap_rows=10)
    stages = tests[tests.index.str.startswith("model randomisation")]
    assert len(stages) == 3 and stages["verdict"].tolist() == ["n/a", "n/a", "pass"]
    assert stages["value"].iloc[-1] < 0.5
    ignored = skig.Explainer(_WeightsIgnored(), baseline="median", n_steps=16).fit(data)
    tests = quality(ignored, data, max_rows=100, shap_rows=10)
    row = tests.loc["model randomisation: top 1 of 1 layers (down to layer)"]
    assert row["verdict"] == "fail" and row["value"] > 0.99


def test_sensitivity_equals_captums_sensitivity_max(data):
    from captum.attr import IntegratedGradients
    from captum.metrics import sensitivity_max

    from skig.engine import keyed_uniforms, row_keys

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    explainer = skig.Explainer(net, baseline="mean", n_steps=32, rule="gausslegendre").fit(data)
    rows = data.iloc[:40].set_axis(np.arange(900, 940)[::-1])
    exp = explainer.explain(rows)
    ours = sensitivity(explainer, exp, seed=11, scale=perturbation_scale(explainer, rows))
    # the same perturbations, in the order Captum expands rows (each row's draws together)
    scale = data.std(ddof=0).to_numpy()  # the reference rows' (noise_scale_)
    noise = 2 * keyed_uniforms(row_keys(rows.index), 11, 10 * 5).reshape(40, 10, 5) - 1
    shifts = torch.tensor((PERTURB_RADIUS * scale * noise).reshape(400, 5))
    baseline = torch.tensor(explainer.encoded_baseline_.to_numpy())
    ig = IntegratedGradients(net)
    theirs = sensitivity_max(
        ig.attribute,
        torch.tensor(rows.to_numpy()),
        perturb_func=lambda inputs, radius: inputs + shifts,
        n_perturb_samples=10,
        baselines=baseline,
        target=0,
        n_steps=32,
        method="gausslegendre",
    )
    np.testing.assert_allclose(ours.to_numpy(), theirs.numpy(), rtol=1e-6)
    assert ours.index.equals(rows.index)


def test_agreement_with_shap_on_a_linear_model(data):
    explainer = skig.Explainer(_linear([2.0, -1.0, 0.5, 0.3, 0.0]), baseline="median", n_steps=8).fit(data)
    tests = quality(explainer, data, max_rows=60, shap_rows=10)
    # one background row and an additive model: SHAP values are w * (x - b), IG's exactly
    assert tests.loc["agreement with SHAP: rank correlation", "value"] > 0.99
    assert tests.loc["agreement with SHAP: top-3 overlap", "value"] == 1.0
    assert tests.loc["completeness: max |delta| / mean |f(x) - f(baseline)|", "verdict"] == "pass"
    assert tests.loc["sensitivity (max, median over rows)", "verdict"] == "pass"
    assert set(tests["verdict"]) <= {"pass", "fail", "n/a"}


def test_same_numbers_whatever_the_rows_around(data, trained):
    explainer = skig.Explainer(trained, baseline="median").fit(data)
    shuffled = data.sample(frac=1.0, random_state=4)
    scale = perturbation_scale(explainer, data)
    first = sensitivity(explainer, explainer.explain(data.iloc[:30]), seed=3, scale=scale)
    second = sensitivity(explainer, explainer.explain(shuffled), seed=3, scale=scale)
    # draws keyed by row label: batch-dependent draws would move these by 10% or more; what remains is float32
    # rounding of exact IG across batches (the engine's, as in test_dask's exact float32 partitioning case)
    pd.testing.assert_series_equal(first, second.loc[first.index], rtol=1e-4)


def test_report_section(data, trained, tmp_path):
    explainer = skig.Explainer(trained, baseline="median").fit(data)
    html = skig.report(explainer, data.iloc[:80], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Are these explanations faithful?" in html and "deletion curves" in html
    skipped = skig.reporting.ReportSettings(quality_rows=0)
    assert "faithful" not in skig.report(explainer, data.iloc[:80], tmp_path / "s.html", settings=skipped).read_text()


def test_a_pipeline_with_categories_runs_every_test():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, 300),
            "debt": rng.uniform(0, 1, 300),
            "home": rng.choice(["own", "rent", "other"], 300),  # a user's category literally named "other"
        },
        index=rng.permutation(np.arange(2000, 2300)),
    )
    y = (X["debt"] + (X["home"] == "rent") * 0.3 + rng.normal(0, 0.2, 300) > 0.6).astype(int)
    columns = ColumnTransformer([("num", StandardScaler(), ["income", "debt"]), ("cat", OneHotEncoder(), ["home"])])
    pipe = Pipeline([("prep", columns), ("model", LogisticRegression())]).fit(X, y)
    explainer = skig.Explainer(pipe, output="probability", baseline="median", n_steps=16).fit(X)
    tests = quality(explainer, X, max_rows=60, shap_rows=8)
    assert (tests["verdict"] != "fail").all(), tests
    assert tests.loc["agreement with SHAP: rank correlation", "value"] > 0.9
