"""Embedding and multi-input nets for the distributed tests; importable by Spark and Dask worker processes.

The same kinds as tests/tabular: a module with ``forward(x_num, x_cat)`` explained with ``inputs=`` (one column of
strings with its categories given, one pandas Categorical, one of integer codes), and a skorch net behind an
OrdinalEncoder whose ``forward`` casts the codes and looks them up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

HOMES = ["own", "rent", "other"]
GRADES = ["A", "B", "C", "D"]
NUMERIC = ["income (USD)", "debt.ratio"]
CATEGORICAL = ["home", "grade", "term"]
COLUMNS = NUMERIC + CATEGORICAL
INPUTS = {"x_num": NUMERIC, "x_cat": {"home": HOMES, "grade": None, "term": None}}


def make_loans(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Applicants with a shuffled integer key: numbers, ``home`` as strings, ``grade`` as a pandas Categorical and
    ``term`` as integer codes; a non-RangeIndex."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame(
        {
            "account_id": rng.permutation(np.arange(20_000, 20_000 + n_rows)).astype(np.int64),
            "income (USD)": rng.normal(size=n_rows),
            "debt.ratio": rng.uniform(0, 1, size=n_rows),
            "home": rng.choice(HOMES, size=n_rows),
            "grade": pd.Categorical(rng.choice(GRADES, size=n_rows), categories=GRADES),
            "term": rng.randint(0, 2, size=n_rows).astype(np.int64),
        }
    )
    frame.index = pd.Index(rng.permutation(np.arange(n_rows)) * 3 + 5, name="row")
    return frame


def _seeded(module: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.8)
    return module


class NumCat(nn.Module):
    """``forward(x_num, x_cat)``: one table per categorical column, then an MLP (ReLU: exact IG; tanh: quadrature)."""

    def __init__(self, cardinalities=(3, 4, 2), activation: str = "relu", seed: int = 1):
        super().__init__()
        self.tables = nn.ModuleList([nn.Embedding(c, 2) for c in cardinalities])
        act = nn.ReLU() if activation == "relu" else nn.Tanh()
        # Hidden widths are multiples of 8: on some CPUs (AMD EPYC, MKL) a float32 product whose inner dimension is
        # not (10, say) into a narrow output rounds a row by its position in the pass, so exact IG's backward through
        # a 10-unit layer is not row-invariant (see the report of issue 20); nets of usual widths are.
        self.net = nn.Sequential(nn.Linear(2 + 2 * len(cardinalities), 16), act, nn.Linear(16, 2))
        _seeded(self, seed)

    def forward(self, x_num, x_cat):
        vectors = [table(x_cat[:, i]) for i, table in enumerate(self.tables)]
        return self.net(torch.cat([x_num, *vectors], dim=1))


class CodesNet(nn.Module):
    """A skorch module reading an OrdinalEncoder's output: two numbers, then three codes it casts and looks up."""

    def __init__(self):
        super().__init__()
        self.home = nn.Embedding(3, 3)
        self.grade = nn.Embedding(4, 2)
        self.term = nn.Embedding(2, 2)
        self.net = nn.Sequential(nn.Linear(9, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, X):
        codes = X[:, 2:].long()
        vectors = [self.home(codes[:, 0]), self.grade(codes[:, 1]), self.term(codes[:, 2])]
        return self.net(torch.cat([X[:, :2], *vectors], dim=1))


def _to_float32(a):
    return np.asarray(a, dtype=np.float32)


def make_skorch_pipeline(frame: pd.DataFrame):
    """StandardScaler and OrdinalEncoder in a ColumnTransformer, float32, then a skorch classifier (ReLU: exact)."""
    import skorch
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler

    X = frame[COLUMNS]
    y = ((X["income (USD)"] - X["debt.ratio"] + (X["home"] == "rent")) > 0).astype(np.int64).to_numpy()
    encode = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL),
        ]
    )
    net = skorch.NeuralNetClassifier(
        CodesNet, criterion=nn.CrossEntropyLoss, max_epochs=5, lr=0.05, train_split=None, verbose=0
    )
    torch.manual_seed(0)
    return make_pipeline(encode, FunctionTransformer(_to_float32), net).fit(X, y)


def make_ft_transformer():
    """rtdl's FT-Transformer (one block) on the two numbers and the three codes: ``forward(x_cont, x_cat)``."""
    import rtdl_revisiting_models as rtdl

    torch.manual_seed(3)
    kwargs = rtdl.FTTransformer.get_default_kwargs(n_blocks=1)
    return rtdl.FTTransformer(n_cont_features=2, cat_cardinalities=[3, 4, 2], d_out=1, **kwargs).eval()


FT_INPUTS = {"x_cont": NUMERIC, "x_cat": {"home": HOMES, "grade": None, "term": None}}
