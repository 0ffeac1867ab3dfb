"""Fingerprints: the same model gives the same SHA-256 in any process, and any changed weight gives another."""

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skig
from skig.cli import fingerprint_path, main
from skig.reporting._fingerprint import digest

ROOT = Path(__file__).resolve().parents[2]
# A fresh interpreter loads the saved model and data and prints the fitted explainer's fingerprint.
CHILD = """
import json, sys, joblib, pandas as pd
import skig
model = joblib.load(sys.argv[1])
X = pd.read_pickle(sys.argv[2])
record = skig.Explainer(model, n_steps=8, random_state=5).fit(X).fingerprint_
print(json.dumps({key: record[key] for key in ("model", "reference_data", "settings", "random_state")}))
"""


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _pipeline():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, 200),
            "debt": rng.uniform(0, 1, 200),
            "home": rng.choice(["own", "rent", "other"], 200),
        }
    )
    y = (X["debt"] + (X["home"] == "rent") * 0.3 + rng.normal(0, 0.2, 200) > 0.6).astype(int)
    columns = ColumnTransformer([("num", StandardScaler(), ["income", "debt"]), ("cat", OneHotEncoder(), ["home"])])
    return Pipeline([("prep", columns), ("model", LogisticRegression())]).fit(X, y), X


@pytest.mark.parametrize("kind", ["net", "pipeline"])
def test_same_in_another_process(kind, tmp_path):
    if kind == "net":
        model, X = _net().eval(), pd.DataFrame(np.random.RandomState(1).normal(size=(40, 3)), columns=list("abc"))
    else:
        model, X = _pipeline()
    joblib.dump(model, tmp_path / "model.joblib")
    X.to_pickle(tmp_path / "X.pkl")
    here = skig.Explainer(model, n_steps=8, random_state=5).fit(X).fingerprint_
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "model.joblib"), str(tmp_path / "X.pkl")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "123"},
        timeout=300,
        check=True,
    )
    there = json.loads(child.stdout.strip().splitlines()[-1])
    assert there == {key: here[key] for key in there}
    assert all(len(here[key]) == 64 for key in ("model", "reference_data", "settings"))


def test_one_changed_weight_changes_the_model_digest():
    net = _net()
    before = digest(net)
    assert digest(_net()) == before  # another object with the same weights: the same digest
    with torch.no_grad():
        weight = net[0].weight
        weight[2, 1] = torch.nextafter(weight[2, 1], torch.tensor(np.inf))  # one float step on one weight
    assert digest(net) != before
    buffers = _net()
    buffers[1].running_mean[3] += 1.0  # a buffer, not a parameter
    assert digest(buffers) != before
    activation = _net()
    activation[2] = torch.nn.Tanh()  # same weights, another function
    assert digest(activation) != before


def test_pipeline_fitted_statistics_and_coefficients_count():
    pipe, _ = _pipeline()
    before = digest(pipe)
    for change in (
        lambda p: p.named_steps["model"].coef_.__setitem__((0, 1), p.named_steps["model"].coef_[0, 1] + 1e-12),
        lambda p: p.named_steps["prep"].named_transformers_["num"].mean_.__setitem__(0, 1.0),
        lambda p: p.named_steps["prep"].named_transformers_["cat"].categories_[0].__setitem__(0, "x"),
        lambda p: p.set_params(model__C=0.5),
    ):
        other, _ = _pipeline()
        change(other)
        assert digest(other) != before


def test_settings_data_and_changed_model(tmp_path):
    net, X = _net().eval(), pd.DataFrame(np.random.RandomState(1).normal(size=(40, 3)), columns=list("abc"))
    fitted = skig.Explainer(net, n_steps=8).fit(X)
    same = skig.Explainer(net, n_steps=8, progress=True, outcome="score").fit(X.copy())
    assert fitted.fingerprint_["settings"] == same.fingerprint_["settings"]  # neither changes a number
    assert fitted.fingerprint_["reference_data"] == same.fingerprint_["reference_data"]
    assert skig.Explainer(net, n_steps=16).fit(X).fingerprint_["settings"] != fitted.fingerprint_["settings"]
    assert digest(X.iloc[::-1]) != digest(X) and digest(X.rename(columns={"a": "A"})) != digest(X)
    record = skig.reporting.fingerprint(fitted, X.iloc[:10])
    assert record["data"] == digest(X.iloc[:10]) and not record["model_changed_since_fit"]
    with torch.no_grad():
        net[3].bias += 0.1
    assert skig.reporting.fingerprint(fitted)["model_changed_since_fit"]
    html = skig.report(fitted, X, tmp_path / "r.html").read_text(encoding="utf-8")
    assert digest(net) in html and digest(X) in html and "weights changed after the explainer was fitted" in html


def test_cli_writes_a_sidecar_next_to_every_output(tmp_path):
    pipe, X = _pipeline()
    joblib.dump(pipe, tmp_path / "model.joblib")
    X.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "reasons.json").write_text(json.dumps({"income": "Income", "debt": "Debt", "home": "Home"}))
    common = [str(tmp_path / "model.joblib"), str(tmp_path / "data.csv"), "--steps", "8"]
    outs = {"explain": "a.csv", "report": "r.html", "adverse-action": "n.csv"}
    records = {}
    for command, name in outs.items():
        extra = ["--reasons", str(tmp_path / "reasons.json")] if command == "adverse-action" else []
        assert main([command, *common, "-o", str(tmp_path / name), *extra]) == 0
        records[command] = json.loads(fingerprint_path(tmp_path / name).read_text(encoding="utf-8"))
        assert records[command]["output"] == name and records[command]["command"] == command
    models = {record["model"] for record in records.values()}
    data = {record["data"] for record in records.values()}
    assert models == {digest(joblib.load(tmp_path / "model.joblib"))} and data == {
        digest(pd.read_csv(tmp_path / "data.csv"))
    }
    assert records["report"]["files"]["data"]["sha256"] == records["explain"]["files"]["data"]["sha256"]
    assert {"torch", "scikit-learn", "skig"} <= set(records["explain"]["versions"])
