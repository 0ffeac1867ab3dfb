"""Models, data and explainers the distributed tests share; importable by Spark and Dask worker processes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import skig

NUMERIC = ["income (USD)", "debt.ratio", "age"]
CATEGORICAL = ["home"]
# Labels that are not valid Spark identifiers: a space and parentheses, a dot.
FEATURES = NUMERIC + CATEGORICAL


def make_frame(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Applicants with a shuffled integer account id (the key), a month, a segment and a categorical column."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame(
        {
            "account_id": rng.permutation(np.arange(10_000, 10_000 + n_rows)).astype(np.int64),
            "month": np.where(np.arange(n_rows) % 2 == 0, "2024-05", "2024-06"),
            "segment": rng.choice(["retail", "sme"], size=n_rows),
            "income (USD)": rng.lognormal(10, 0.5, size=n_rows),
            "debt.ratio": rng.uniform(0, 1, size=n_rows),
            "age": rng.randint(18, 80, size=n_rows).astype(np.float64),
            "home": rng.choice(["own", "rent", "other"], size=n_rows),
        }
    )
    # A non-RangeIndex: shuffled labels, as a frame read, filtered and joined has.
    frame.index = pd.Index(rng.permutation(np.arange(n_rows)) * 3 + 7, name="row")
    return frame


def _labels(X: pd.DataFrame) -> pd.Series:
    return (np.log(X["income (USD)"]) - 10 - 2 * X["debt.ratio"] + (X["home"] == "rent") > -1).astype(int)


def _preprocess() -> ColumnTransformer:
    return ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)],
        sparse_threshold=0,
    )


def make_pipeline(frame: pd.DataFrame) -> Pipeline:
    """OneHotEncoder + StandardScaler in a ColumnTransformer, then a small scikit-learn MLP (float64, tanh)."""
    X = frame[FEATURES]
    model = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=300, random_state=0)
    return Pipeline([("preprocess", _preprocess()), ("mlp", model)]).fit(X, _labels(X))


class ReluNet(torch.nn.Module):
    """A float32 ReLU MLP with one logit, as skorch users write it."""

    def __init__(self, n_features: int = 6, hidden: int = 64) -> None:
        super().__init__()
        self.dense0 = torch.nn.Linear(n_features, hidden)
        self.dense1 = torch.nn.Linear(hidden, hidden)
        self.output = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.dense0(x))
        return self.output(torch.relu(self.dense1(x))).squeeze(-1)


def make_relu_pipeline(frame: pd.DataFrame) -> Pipeline:
    """The same preprocessing, then a skorch float32 ReLU net: explained with exact IG by default."""
    from skorch import NeuralNetBinaryClassifier

    X = frame[FEATURES]
    torch.manual_seed(0)
    net = NeuralNetBinaryClassifier(ReluNet, max_epochs=30, lr=0.2, train_split=None, verbose=0)
    steps = [("preprocess", _preprocess()), ("float32", FunctionTransformer(np.float32)), ("net", net)]
    return Pipeline(steps).fit(X, _labels(X).to_numpy(dtype=np.float32))


def make_torch_mlp(n_features: int, seed: int = 0) -> torch.nn.Module:
    """A small seeded tanh MLP with one output."""
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.7)
    return model


#: Every method with small settings, as ``Explainer`` keyword arguments.
METHODS = {
    "ig": {"method": "ig", "n_steps": 8},
    "smoothgrad": {"method": "smoothgrad", "n_steps": 4, "n_samples": 3, "random_state": 0},
    "smoothgrad_sq": {"method": "smoothgrad_sq", "n_steps": 4, "n_samples": 3, "random_state": 0},
    "vargrad": {"method": "vargrad", "n_steps": 4, "n_samples": 3, "random_state": 0},
    "expected": {"method": "expected", "baseline": "sample", "n_baselines": 8, "n_samples": 4, "random_state": 0},
    "guided": {"method": "guided", "n_steps": 4},
}
#: Methods explained on the float32 ReLU pipeline, where the default rule is exact IG: their float32 results must
#: be bit-identical whatever rows share a batch.
EXACT_METHODS = {
    "exact float32": {"method": "ig"},
    "expected exact float32": {
        "method": "expected", "baseline": "sample", "n_baselines": 8, "n_samples": 4, "random_state": 0,
        "rule": "exact",  # rule="auto" is Gauss-Legendre for Expected IG (docs/methods.md)
    },
}  # fmt: skip


class FailOnceExplainer(skig.Explainer):
    """An explainer whose first ``explain`` of a batch holding ``marker_row_`` raises, leaving ``marker_file_``.

    The file makes the retry succeed: it lives on disk, shared by every worker process and attempt.
    """

    def explain(self, X, *, target=None):
        marker = Path(self.marker_file_)
        if self.marker_row_ in X.index and not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError(f"injected failure on row {self.marker_row_}")
        return super().explain(X, target=target)


class SlowExplainer(skig.Explainer):
    """An explainer that records each batch it starts in ``started_dir_`` and then takes ``delay_`` seconds."""

    def explain(self, X, *, target=None):
        Path(self.started_dir_, f"{X.index[0]}-{time.monotonic_ns()}").write_text("started")
        time.sleep(self.delay_)
        return super().explain(X, target=target)


class ThreadsExplainer(skig.Explainer):
    """An explainer that writes torch's thread count in each batch it explains, and whether skig's task raised
    glibc's allocator thresholds there, to a new file in ``record_dir_``."""

    def explain(self, X, *, target=None):
        from skig._distributed import _allocator

        name = f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"
        raised = _allocator._restore is not None
        Path(self.record_dir_, name).write_text(f"{torch.get_num_threads()} {int(raised)}")
        return super().explain(X, target=target)


def recorded_threads(folder) -> list[int]:
    """The thread counts a :class:`ThreadsExplainer` recorded."""
    return [int(path.read_text().split()[0]) for path in Path(folder).iterdir()]


def recorded_allocator(folder) -> list[bool]:
    """Whether each batch a :class:`ThreadsExplainer` recorded ran with glibc's thresholds raised by skig."""
    return [path.read_text().split()[1] == "1" for path in Path(folder).iterdir()]


class LoadRecordingExplainer(skig.Explainer):
    """An explainer that leaves a file in ``record_dir_`` each time a process unpickles it (``load-<pid>-...``) and
    each time it explains a batch (``explain-<pid>-...``)."""

    def __setstate__(self, state):
        super().__setstate__(state)
        Path(self.record_dir_, f"load-{os.getpid()}-{time.monotonic_ns()}").write_text("")

    def explain(self, X, *, target=None):
        Path(self.record_dir_, f"explain-{os.getpid()}-{time.monotonic_ns()}").write_text("")
        return super().explain(X, target=target)


def recorded_events(folder) -> list[tuple[str, int]]:
    """``(kind, pid)`` of each file a :class:`LoadRecordingExplainer` left."""
    return [(path.name.split("-")[0], int(path.name.split("-")[1])) for path in Path(folder).iterdir()]
