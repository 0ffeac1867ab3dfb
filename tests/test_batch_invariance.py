"""A row's numbers never depend on its batch: predictions, base values, delta, target and attributions are bit-identical
whether the row is explained alone, among shuffled rows, or beside identical copies of itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from skorch import NeuralNetClassifier

import skig

NUMERIC = ["age", "income", "debt", "inquiries"]
PURPOSES = ["car", "house", "other"]  # a real category named "other"


class Net(torch.nn.Module):
    def __init__(self, n_inputs, activation):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_inputs, 32), activation(), torch.nn.Linear(32, 32), activation(), torch.nn.Linear(32, 3)
        )

    def forward(self, x):
        return self.body(x)


def _to_float32(z):
    return np.asarray(z, dtype=np.float32)


def _applicants(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(NUMERIC))) * [10, 2e4, 0.2, 2] + [40, 5e4, 0.3, 3], columns=NUMERIC)
    X["purpose"] = rng.choice(PURPOSES, n)
    X.index = pd.Index([f"A{i:04d}" for i in rng.permutation(n)], name="applicant")
    score = (X["age"] - 40) / 10 - (X["debt"] - 0.3) / 0.2 + (X["purpose"] == "house")
    y = np.digitize(score + rng.normal(size=n), [-0.5, 0.5]).astype(np.int64)
    return X, y


@pytest.fixture(scope="module", params=["tanh", "relu"])
def pipeline(request):
    X, y = _applicants()
    activation = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[request.param]
    torch.manual_seed(0)
    pipe = make_pipeline(
        make_column_transformer((StandardScaler(), NUMERIC), (OneHotEncoder(), ["purpose"])),
        FunctionTransformer(_to_float32),
        NeuralNetClassifier(
            Net,
            module__n_inputs=len(NUMERIC) + len(PURPOSES),
            module__activation=activation,
            criterion=torch.nn.CrossEntropyLoss,
            max_epochs=5,
            lr=0.05,
            train_split=None,
            verbose=0,
        ),
    )
    return pipe.fit(X, y), X


METHODS = {
    "ig": {},
    "ig-50-steps": {"n_steps": 50, "rule": "gausslegendre"},
    "ig-auto-steps": {"n_steps": "auto", "rule": "gausslegendre", "max_steps": 64},
    "ig-probability": {"output": "probability"},
    "expected": {"method": "expected", "baseline": "kmeans", "n_baselines": 8, "n_samples": 24},
    "smoothgrad": {"method": "smoothgrad", "n_samples": 4, "n_steps": 16},
    "guided": {"method": "guided", "n_steps": 16},
}
NUMBERS = ("predictions", "base_values", "target", "n_steps", "values", "delta")


def _row(exp, position):
    return {name: getattr(exp, name).iloc[position] for name in NUMBERS}


def _assert_bit_identical(a, b):
    for name in NUMBERS:
        if name == "values":
            np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=name)
        else:
            assert a[name] == b[name] or (pd.isna(a[name]) and pd.isna(b[name])), name


@pytest.mark.parametrize("method", list(METHODS))
def test_a_row_alone_and_among_shuffled_rows_gets_identical_numbers(pipeline, method):
    pipe, X = pipeline
    explainer = skig.Explainer(pipe, random_state=0, **METHODS[method]).fit(X)
    applicant = X.iloc[[123]]
    others = X.drop(applicant.index).sample(36, random_state=1)
    alone = _row(explainer.explain(applicant), 0)
    for position in (0, 5, 17, 36):  # every position modulo the 16-row blocks of a pass, and the last
        batch = pd.concat([others.iloc[:position], applicant, others.iloc[position:]])
        _assert_bit_identical(alone, _row(explainer.explain(batch), position))


@pytest.mark.parametrize("method", list(METHODS))
def test_identical_copies_in_one_call_get_identical_numbers(pipeline, method):
    pipe, X = pipeline
    explainer = skig.Explainer(pipe, random_state=0, **METHODS[method]).fit(X)
    # One label repeated: random draws are keyed by the row's label, so copies draw the same numbers too.
    copies = pd.concat([X.iloc[[7]]] * 37)
    exp = explainer.explain(copies)
    first = _row(exp, 0)
    for position in range(1, len(copies)):
        _assert_bit_identical(first, _row(exp, position))
