"""Tabular deep-learning models as shipped (rtdl's FT-Transformer, pytorch-tabnet, a fastai-style TabularModel, a
skorch net behind an OrdinalEncoder), explained on raw columns and checked against the joint-space oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from embedding_oracle import joint_ig
from torch import nn

import skig

STATES = ["CA", "NY", "other", "missing", "(pooled)"]


@pytest.fixture(scope="module")
def loans():
    rng = np.random.RandomState(11)
    n = 160
    frame = pd.DataFrame(
        {
            "income": rng.normal(size=n),
            "debt": rng.normal(size=n),
            "state": pd.Categorical(rng.choice(STATES, n, p=[0.3, 0.2, 0.2, 0.1, 0.2]), categories=STATES),
            "grade": rng.randint(0, 4, n),
        },
        index=pd.Index(rng.permutation(n) * 5 + 3, name="loan"),
    )
    target = (frame["income"] - 0.7 * frame["grade"] + (frame["state"] == "other") + rng.normal(size=n) * 0.3) > 0
    return frame, target.astype(int).to_numpy()


def codes_matrix(frame: pd.DataFrame) -> np.ndarray:
    """income, debt, state code, grade: what the nets below read."""
    return np.column_stack([frame["income"], frame["debt"], frame["state"].cat.codes, frame["grade"]]).astype(float)


def check_against_oracle(
    exp, explainer, matrix, model, run, lookups, float_columns, *, midpoint, rtol, atol, dtype=torch.float64
):
    baseline = explainer.encoded_baseline_.to_numpy()[0]
    for position in range(len(exp.values)):
        expected, f_row, f_base = joint_ig(
            model,
            run,
            lookups,
            float_columns,
            matrix[position],
            baseline,
            n_columns=matrix.shape[1],
            n_points=2**15 if midpoint else 256,
            midpoint=midpoint,
            dtype=dtype,
        )
        np.testing.assert_allclose(exp.predictions.iloc[position], f_row, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(exp.base_values.iloc[position], f_base, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(exp.values.iloc[position].to_numpy(), expected, rtol=rtol, atol=atol)


class TestFTTransformer:
    @pytest.fixture(scope="class")
    def model(self):
        rtdl = pytest.importorskip("rtdl_revisiting_models")
        torch.manual_seed(3)
        kwargs = rtdl.FTTransformer.get_default_kwargs(n_blocks=1)
        return rtdl.FTTransformer(n_cont_features=2, cat_cardinalities=[5, 4], d_out=1, **kwargs).eval()

    def test_matches_the_oracle_and_adds_up(self, loans, model):
        frame, _ = loans
        inputs = {"x_cont": ["income", "debt"], "x_cat": ["state", "grade"]}
        explainer = skig.Explainer(model, inputs=inputs, n_steps=256).fit(frame)
        X = frame.iloc[:4]
        exp = explainer.explain(X)
        assert exp.delta.abs().max() < 5e-4  # float32 attention and layer norms, 256 steps
        lookups = [(model.cat_embeddings.embeddings[0], [2]), (model.cat_embeddings.embeddings[1], [3])]

        def run(m, x):
            return m(x[:, :2], x[:, 2:].long())

        matrix = codes_matrix(X)
        check_against_oracle(exp, explainer, matrix, model, run, lookups, [0, 1], midpoint=False, rtol=1e-3, atol=1e-5)
        assert explainer.baseline_.loc[0, "state"] == frame["state"].mode().iloc[0]

    def test_without_inputs_the_error_says_what_to_pass(self, loans, model):
        with pytest.raises(TypeError, match=r"inputs=\{'x_cont': \[\.\.\.\], 'x_cat': \[\.\.\.\]\}"):
            skig.Explainer(model).fit(loans[0])

    def test_unseen_category_is_named(self, loans, model):
        frame, _ = loans
        explainer = skig.Explainer(model, inputs={"x_cont": ["income", "debt"], "x_cat": ["state", "grade"]}).fit(frame)
        bad = frame.iloc[:3].copy()
        bad["state"] = pd.Categorical(["CA", "TX", "NY"])
        with pytest.raises(ValueError, match=r"column 'state'.*'TX'"):
            explainer.explain(bad)


class TabularModel(nn.Module):
    """fastai's TabularModel, written out: embeddings in a ModuleList, BatchNorm on the continuous columns, then
    Linear/ReLU/BatchNorm blocks; ``forward(x_cat, x_cont)``."""

    def __init__(self, cardinalities, n_cont, sizes=(16, 8), out=1):
        super().__init__()
        self.embeds = nn.ModuleList([nn.Embedding(c, min(4, (c + 1) // 2)) for c in cardinalities])
        self.emb_drop = nn.Dropout(0.1)
        self.bn_cont = nn.BatchNorm1d(n_cont)
        n_emb = sum(e.embedding_dim for e in self.embeds)
        layers, width = [], n_emb + n_cont
        for size in sizes:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True), nn.BatchNorm1d(size)]
            width = size
        self.layers = nn.Sequential(*layers, nn.Linear(width, out))

    def forward(self, x_cat, x_cont):
        x = torch.cat([e(x_cat[:, i]) for i, e in enumerate(self.embeds)], 1)
        x = torch.cat([self.emb_drop(x), self.bn_cont(x_cont)], 1)
        return self.layers(x)


class TestFastaiTabularModel:
    @pytest.fixture(scope="class")
    def model(self, loans):
        frame, target = loans
        torch.manual_seed(0)
        model = TabularModel([5, 4], 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
        x_cat = torch.as_tensor(np.column_stack([frame["state"].cat.codes, frame["grade"]]), dtype=torch.long)
        x_cont = torch.as_tensor(frame[["income", "debt"]].to_numpy(), dtype=torch.float32)
        y = torch.as_tensor(target, dtype=torch.float32).unsqueeze(1)
        for _ in range(30):
            optimizer.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(model(x_cat, x_cont), y).backward()
            optimizer.step()
        return model.eval()

    def test_exact_matches_the_oracle_with_completeness(self, loans, model):
        frame, _ = loans
        explainer = skig.Explainer(model, inputs={"x_cat": ["state", "grade"], "x_cont": ["income", "debt"]})
        explainer.fit(frame)
        assert explainer.rule_ == "exact"
        X = frame.iloc[5:10]
        exp = explainer.explain(X)
        change = (exp.predictions - exp.base_values).abs()
        assert (exp.delta.abs() <= 1e-5 * np.maximum(change, 1.0)).all(), exp.delta
        # The layout puts x_cat's columns first: state, grade, income, debt.
        matrix = codes_matrix(X)[:, [2, 3, 0, 1]]
        lookups = [(model.embeds[0], [0]), (model.embeds[1], [1])]

        def run(m, x):
            return m(x[:, :2].long(), x[:, 2:])

        check_against_oracle(exp, explainer, matrix, model, run, lookups, [2, 3], midpoint=True, rtol=0, atol=3e-4)
        assert list(exp.values.columns) == ["state", "grade", "income", "debt"]


class CodesNet(nn.Module):
    """A skorch module reading an OrdinalEncoder's output: income, debt, then codes it casts and looks up."""

    def __init__(self):
        super().__init__()
        self.state = nn.Embedding(5, 3)
        self.grade = nn.Embedding(4, 2)
        self.net = nn.Sequential(nn.Linear(7, 12), nn.ReLU(), nn.Linear(12, 2))

    def forward(self, X):
        codes = X[:, 2:].long()
        return self.net(torch.cat([X[:, :2], self.state(codes[:, 0]), self.grade(codes[:, 1])], dim=1))


class TestSkorchPipeline:
    @pytest.fixture(scope="class")
    def pipe(self, loans):
        skorch = pytest.importorskip("skorch")
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler

        frame, target = loans
        raw = frame.assign(state=frame["state"].astype(str), grade=frame["grade"].map(lambda g: f"G{g}"))
        encode = ColumnTransformer(
            [
                ("num", StandardScaler(), ["income", "debt"]),
                ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["state", "grade"]),
            ]
        )
        net = skorch.NeuralNetClassifier(
            CodesNet,
            criterion=nn.CrossEntropyLoss,
            max_epochs=15,
            lr=0.05,
            optimizer=torch.optim.Adam,
            train_split=None,
            verbose=0,
        )
        torch.manual_seed(0)
        # skorch wants float32 inputs.
        pipe = make_pipeline(encode, FunctionTransformer(lambda a: a.astype(np.float32)), net)
        pipe.fit(raw, target)
        return pipe, raw

    def test_categories_get_their_share_and_match_the_oracle(self, pipe):
        pipe, raw = pipe
        explainer = skig.Explainer(pipe).fit(raw)
        assert explainer.rule_ == "exact"
        X = raw.sample(6, random_state=1)  # shuffled labels
        exp = explainer.explain(X)
        assert (exp.values.index == X.index).all()
        assert exp.delta.abs().max() < 1e-5
        assert (exp.values[["state", "grade"]].abs().sum() > 0).all()
        # The baseline is an applicant: its state and grade are categories as the user spells them.
        base = explainer.baseline_.iloc[0]
        assert base["state"] in STATES and base["grade"] in {"G0", "G1", "G2", "G3"}
        module = pipe[-1].module_
        matrix = pipe[:-1].transform(X).astype(np.float64)

        def run(m, x):
            out = m(x)
            return (out[:, 1] - out[:, 0]).unsqueeze(1)  # the logit of class 1 under softmax

        lookups = [(module.state, [2]), (module.grade, [3])]
        check_against_oracle(exp, explainer, matrix, module, run, lookups, [0, 1], midpoint=True, rtol=0, atol=3e-4)

    def test_unseen_category_is_named_by_its_value(self, pipe):
        pipe, raw = pipe
        explainer = skig.Explainer(pipe).fit(raw)
        bad = raw.iloc[:3].copy()
        bad.iloc[1, bad.columns.get_loc("state")] = "Atlantis"
        with pytest.raises(ValueError, match=r"column 'state'.*'Atlantis'"):
            explainer.explain(bad)


def test_baseline_spells_an_imputed_category_as_the_category(loans):
    """An imputer maps missing states to "missing", which is also a real state and the modal one: the baseline shows
    "missing" (the category it stands for), not the NaN of the first reference row with that code."""
    skorch = pytest.importorskip("skorch")
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler

    frame, target = loans
    state = frame["state"].astype(object).where(frame["state"] != "CA", "missing")
    state.iloc[:5] = np.nan  # the first rows with the modal code are missing values
    raw = frame.assign(state=state, grade=frame["grade"].map(lambda g: f"G{g}"))
    categorical = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), OrdinalEncoder())
    encode = ColumnTransformer(
        [("num", StandardScaler(), ["income", "debt"]), ("cat", categorical, ["state", "grade"])]
    )
    net = skorch.NeuralNetClassifier(CodesNet, criterion=nn.CrossEntropyLoss, max_epochs=1, train_split=None, verbose=0)
    torch.manual_seed(0)
    pipe = make_pipeline(encode, FunctionTransformer(lambda a: a.astype(np.float32)), net).fit(raw, target)
    explainer = skig.Explainer(pipe).fit(raw)
    assert raw["state"].fillna("missing").mode()[0] == "missing"
    assert explainer.baseline_.iloc[0]["state"] == "missing", explainer.baseline_


class TestTabNet:
    @pytest.fixture(scope="class")
    def data(self, loans):
        pytest.importorskip("pytorch_tabnet")
        frame, target = loans
        X = pd.DataFrame(codes_matrix(frame), columns=["income", "debt", "state", "grade"], index=frame.index)
        return X.astype({"state": int, "grade": int}), target

    @staticmethod
    def _fit(kind, X, y):
        from pytorch_tabnet.tab_model import TabNetClassifier, TabNetRegressor

        cls = TabNetClassifier if kind == "classifier" else TabNetRegressor
        model = cls(
            cat_idxs=[2, 3], cat_dims=[5, 4], cat_emb_dim=2, n_d=4, n_a=4, n_steps=2, seed=0, verbose=0,
            device_name="cpu",
        )  # fmt: skip
        target = y if kind == "classifier" else y.reshape(-1, 1).astype(np.float32)
        model.fit(X.to_numpy(dtype=np.float32), target, max_epochs=3, batch_size=64, virtual_batch_size=32)
        return model

    @pytest.mark.parametrize("kind", ["classifier", "regressor"])
    def test_matches_the_oracle(self, data, kind):
        X, y = data
        model = self._fit(kind, X, y)
        explainer = skig.Explainer(model, n_steps=2048).fit(X)
        rows = X.iloc[:3]
        exp = explainer.explain(rows)
        network = model.network
        lookups = [(network.embedder.embeddings[0], [2]), (network.embedder.embeddings[1], [3])]

        def run(m, x):
            out = m(x)[0]
            return (out[:, 1] - out[:, 0]).unsqueeze(1) if kind == "classifier" else out[:, :1]

        matrix = rows.to_numpy(dtype=np.float64)
        # Sparsemax is piecewise smooth: the oracle takes many midpoints, skig 2048 Gauss-Legendre steps (at 512, deltas
        # reach 4e-3: the kinks slow quadrature down, as delta shows). TabNet casts
        # its continuous columns to float32 inside forward, so the oracle runs in float32 too.
        check_against_oracle(
            exp, explainer, matrix, network, run, lookups, [0, 1], midpoint=True, rtol=0, atol=2e-3, dtype=torch.float32
        )
        assert (exp.values[["state", "grade"]].abs().sum() > 0).all()
        assert exp.delta.abs().max() < 1e-3
