"""Embedding nets explained on raw columns: the path runs in the joint space of looked-up vectors and float inputs,
checked against an independent dense float64 oracle with interpolating forward hooks, for every model kind."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from embedding_oracle import joint_ig
from torch import nn

import skig
from skig.engine import METHODS

COLUMNS = ["income", "age", "state", "grade", "term"]


class EmbeddingMLP(nn.Module):
    """Reads one float matrix: income, age, then codes for state, grade and term. ``state`` has its own table (with
    a padding row), grade and term share one table with per-column offsets (as rtdl does), and a constant-index
    lookup (a learned bias vector) is part of the model."""

    def __init__(self, activation=nn.ReLU, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.state = nn.Embedding(6, 3, padding_idx=0)
        self.shared = nn.Embedding(4 + 3, 2)
        self.register_buffer("offsets", torch.tensor([0, 4]))
        self.constant = nn.Embedding(1, 2)
        self.net = nn.Sequential(
            nn.Linear(2 + 3 + 4 + 2, 12), activation(), nn.Linear(12, 8), activation(), nn.Linear(8, 1)
        )
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.8)
            self.state.weight[0] = 0.0

    def forward(self, x):
        codes = x[:, 2:5].long()
        state = self.state(codes[:, 0])
        pair = self.shared(codes[:, 1:] + self.offsets).flatten(1)
        bias = self.constant(torch.zeros(len(x), dtype=torch.long, device=x.device))
        return self.net(torch.cat([x[:, :2] / torch.tensor([50.0, 20.0]), state, pair, bias], dim=1))

    def lookups(self):
        return [(self.state, [2]), (self.shared, [3, 4])]


def run_matrix(model, x):
    return model(x)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.RandomState(5)
    n = 90
    return pd.DataFrame(
        {
            "income": rng.uniform(20, 120, n),
            "age": rng.normal(45, 12, n),
            "state": rng.choice([0, 1, 2, 3, 4, 5], n, p=[0.1, 0.15, 0.3, 0.2, 0.15, 0.1]),
            "grade": rng.randint(0, 4, n),
            "term": rng.randint(0, 3, n),
        },
        index=pd.Index([f"loan{i:03d}" for i in rng.permutation(n)], name="loan"),
    )


def oracle_rows(model, rows, baselines, *, zero=False, weights=None, midpoint=False):
    """Oracle attributions per row, averaged over the baselines (2**16 midpoints for ReLU nets)."""
    weights = np.full(len(baselines), 1 / len(baselines)) if weights is None else weights
    out = []
    for row in rows:
        total = np.zeros(len(row))
        for weight, baseline in zip(weights, baselines, strict=True):
            values, _, _ = joint_ig(
                model,
                run_matrix,
                model.lookups(),
                [0, 1],
                row,
                baseline,
                n_columns=len(row),
                zero_vectors=zero,
                n_points=2**16 if midpoint else 256,
                midpoint=midpoint,
            )
            total += weight * values
        out.append(total)
    return np.asarray(out)


class TestEmbeddingMLP:
    @pytest.mark.parametrize("baseline", ["median", "zero", "sample"])
    def test_exact_matches_the_joint_space_oracle(self, frame, baseline):
        model = EmbeddingMLP()
        explainer = skig.Explainer(model, baseline=baseline, n_baselines=3, random_state=0).fit(frame)
        assert explainer.rule_ == "exact"
        X = frame.iloc[:6]
        exp = explainer.explain(X)
        baselines = explainer.encoded_baseline_.to_numpy()
        expected = oracle_rows(model, X.to_numpy(dtype=float), baselines, zero=baseline == "zero", midpoint=True)
        # The midpoint rule is off by at most 2**-16 of the gradient's jumps along the path.
        np.testing.assert_allclose(exp.values.to_numpy(), expected, rtol=0, atol=2e-4 * np.abs(expected).max())
        change = (exp.predictions - exp.base_values).abs()
        assert (exp.delta.abs() <= 1e-5 * np.maximum(change, 1.0)).all(), exp.delta
        # The categorical columns carry their share: never the silent zeros a cast would give.
        assert (exp.values[["state", "grade", "term"]].abs().sum() > 0).all()

    def test_smooth_net_by_gauss_legendre(self, frame):
        model = EmbeddingMLP(activation=nn.Tanh, seed=2)
        explainer = skig.Explainer(model, baseline="median", n_steps=64).fit(frame)
        assert explainer.rule_ == "gausslegendre"
        X = frame.iloc[10:15]
        exp = explainer.explain(X)
        expected = oracle_rows(model, X.to_numpy(dtype=float), explainer.encoded_baseline_.to_numpy())
        np.testing.assert_allclose(exp.values.to_numpy(), expected, rtol=1e-4, atol=1e-5)
        assert exp.delta.abs().max() < 1e-4

    def test_median_baseline_is_the_modal_category(self, frame):
        explainer = skig.Explainer(EmbeddingMLP()).fit(frame)
        base = explainer.baseline_.iloc[0]
        for column in ["state", "grade", "term"]:
            assert base[column] == frame[column].mode().iloc[0], column
        assert base["income"] == pytest.approx(frame["income"].mean())

    def test_zero_baseline_is_a_virtual_point(self, frame):
        explainer = skig.Explainer(EmbeddingMLP(), baseline="zero").fit(frame)
        assert explainer.baseline_[["state", "grade", "term"]].isna().all().all()
        assert (explainer.baseline_[["income", "age"]] == 0).all().all()

    @pytest.mark.parametrize("method", sorted(METHODS))
    def test_every_method_runs_in_embedding_space(self, frame, method):
        baseline = "kmeans" if method == "expected" else "median"
        rule = "exact" if method == "expected" else "auto"  # auto is Gauss-Legendre for Expected IG
        explainer = skig.Explainer(
            EmbeddingMLP(),
            method=method,
            baseline=baseline,
            n_baselines=4,
            n_samples=8,
            n_steps=16,
            random_state=0,
            rule=rule,
        ).fit(frame)
        exp = explainer.explain(frame.iloc[:5])
        assert np.isfinite(exp.values.to_numpy()).all()
        assert (exp.values[["state", "grade", "term"]].abs().sum() > 0).all()
        if method in ("ig", "expected"):
            assert exp.delta.abs().max() < 1e-4, exp.delta
        # k-means centroids stand for categories, never averaged codes
        if baseline == "kmeans":
            codes = explainer.encoded_baseline_[["state", "grade", "term"]].to_numpy()
            assert (codes == np.round(codes)).all()

    @pytest.mark.parametrize("rule, atol", [("gausslegendre", 1e-9), ("exact", 1e-6)])
    def test_row_results_do_not_depend_on_the_batch(self, frame, rule, atol):
        # Passes of other sizes sum a path in another order (float64, 1e-9); the general exact engine's float32
        # passes round differently with their size (within 1e-7 here).
        explainer = skig.Explainer(EmbeddingMLP(), batch_size=37, rule=rule).fit(frame)
        together = explainer.explain(frame.iloc[:20])
        alone = explainer.explain(frame.iloc[[7]])
        np.testing.assert_allclose(together.values.iloc[[7]].to_numpy(), alone.values.to_numpy(), rtol=0, atol=atol)

    @pytest.mark.parametrize(
        "value, shown", [(6, "[6.0]"), (-1, "[-1.0]"), (2.5, "[2.5]")], ids=["above", "negative", "fraction"]
    )
    def test_bad_codes_are_named_and_the_model_is_untouched(self, frame, value, shown):
        model = EmbeddingMLP()
        model.train()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        explainer = skig.Explainer(model).fit(frame)
        bad = frame.iloc[:4].copy().astype({"state": float})
        bad.iloc[2, bad.columns.get_loc("state")] = value
        with pytest.raises(ValueError, match=r"column 'state'.*codes 0 to 5") as info:
            explainer.explain(bad)
        assert shown in str(info.value) and repr(bad.index[2]) in str(info.value)
        assert model.training and all(p.requires_grad for p in model.parameters())
        assert not model._forward_hooks and not model.state._forward_hooks
        for key, value_before in before.items():
            assert torch.equal(model.state_dict()[key], value_before)

    @pytest.mark.parametrize("row", [0, 60], ids=["probed-row", "later-row"])
    @pytest.mark.parametrize("value", [6, -1], ids=["above", "negative"])
    def test_bad_codes_in_the_fit_data_are_named_not_an_index_error(self, frame, row, value):
        """Codes outside a table in X at fit: on the first rows (the probe), or further down (the trace)."""
        model = EmbeddingMLP()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        bad = frame.copy()
        bad.iloc[row, bad.columns.get_loc("state")] = value
        with pytest.raises(ValueError, match=rf"column 'state'.*codes 0 to 5.*\[{value}\.0\]") as info:
            skig.Explainer(model).fit(bad)
        assert repr(bad.index[row]) in str(info.value)
        for key, value_before in before.items():
            assert torch.equal(model.state_dict()[key], value_before)

    def test_out_of_range_indices_of_an_untraced_lookup_are_refused_clearly(self, frame):
        class PairIndex(nn.Module):  # grade * 3 + term: no one column owns the index
            def __init__(self):
                super().__init__()
                self.table = nn.Embedding(10, 2)  # too small for grade 3, term 2 (index 11)
                self.out = nn.Linear(3, 1)

            def forward(self, x):
                index = (x[:, 3] * 3 + x[:, 4]).long()
                return self.out(torch.cat([self.table(index), x[:, :1] / 50], dim=1))

        with pytest.raises(ValueError, match=r"table of 10 rows with indices outside it \(\[1[01]"):
            skig.Explainer(PairIndex()).fit(frame)

    @pytest.mark.parametrize("kind", ["two-rows", "constant-column"])
    def test_out_of_range_codes_where_no_lookup_can_be_traced_are_refused_clearly(self, frame, kind):
        """Too few rows to trace on, or a code column that does not vary: no lookup is traced, and the codes outside
        the table still get a ValueError, never torch's IndexError."""
        bad = frame.iloc[:2].copy() if kind == "two-rows" else frame.assign(state=9)
        bad.iloc[-1, bad.columns.get_loc("state")] = 9
        with pytest.raises(ValueError, match=r"table of 6 rows with indices outside it \(\[9\]\)"):
            skig.Explainer(EmbeddingMLP()).fit(bad)

    def test_shared_table_code_beyond_its_block_is_refused(self, frame):
        """grade's block of the shared table is rows 0-3: code 4 would silently read term's first vector."""
        explainer = skig.Explainer(EmbeddingMLP()).fit(frame)
        bad = frame.iloc[:3].copy()
        bad.iloc[0, bad.columns.get_loc("grade")] = 4
        with pytest.raises(ValueError, match=r"column 'grade'.*codes 0 to 3"):
            explainer.explain(bad)

    def test_nan_code_is_named(self, frame):
        explainer = skig.Explainer(EmbeddingMLP()).fit(frame)
        bad = frame.iloc[:3].astype({"term": float})
        bad.iloc[1, bad.columns.get_loc("term")] = np.nan
        with pytest.raises(ValueError, match="term"):
            explainer.explain(bad)

    def test_fit_is_silent_on_a_traced_embedding_net(self, frame):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            skig.Explainer(EmbeddingMLP(), n_steps=16).fit(frame).explain(frame.iloc[:5])


class EmbeddingBagNet(nn.Module):
    """An ``EmbeddingBag`` summing the vectors of grade and term (per-column offsets) and a float column."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(4)
        self.bag = nn.EmbeddingBag(7, 3, mode="sum")
        self.out = nn.Linear(4, 1)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator))

    def forward(self, x):
        codes = x[:, 1:3].long() + torch.tensor([0, 4])
        return self.out(torch.cat([torch.tanh(self.bag(codes)), x[:, :1] / 50], dim=1))


def test_embedding_bag_is_integrated_per_column(frame):
    X = frame[["income", "grade", "term"]]
    model = EmbeddingBagNet()
    explainer = skig.Explainer(model, n_steps=128).fit(X)
    exp = explainer.explain(X.iloc[:4])
    assert exp.delta.abs().max() < 1e-5
    # The oracle: a bag of sums is the sum of per-column lookups; interpolate each table row of the bag.
    baseline = explainer.encoded_baseline_.to_numpy()[0]
    weight = model.bag.weight.detach().double()
    w_out, b_out = model.out.weight.detach().double()[0], model.out.bias.detach().double()[0]
    nodes, weights = np.polynomial.legendre.leggauss(256)
    alphas = torch.as_tensor((nodes + 1) / 2)
    for position, row in enumerate(X.iloc[:4].to_numpy(dtype=float)):
        vectors = [weight[int(row[c]) + o] for c, o in ((1, 0), (2, 4))]
        bases = [weight[int(baseline[c]) + o] for c, o in ((1, 0), (2, 4))]
        path = [(b + alphas[:, None] * (v - b)).requires_grad_(True) for v, b in zip(vectors, bases, strict=True)]
        income = torch.as_tensor(baseline[0] + alphas.numpy() * (row[0] - baseline[0])).requires_grad_(True)
        out = torch.tanh(path[0] + path[1]) @ w_out[:3] + income / 50 * w_out[3] + b_out
        grads = torch.autograd.grad(out.sum(), [income, *path])
        w = torch.as_tensor(weights / 2)
        expected = [
            float((w * grads[0]).sum() * (row[0] - baseline[0])),
            float((w[:, None] * grads[1] * (vectors[0] - bases[0])).sum()),
            float((w[:, None] * grads[2] * (vectors[1] - bases[1])).sum()),
        ]
        np.testing.assert_allclose(exp.values.iloc[position].to_numpy(), expected, rtol=1e-4, atol=1e-6)


def test_a_changed_embedding_net_is_checked_in_embedding_space(frame):
    """A layer replaced after fit: the explainer rebuilds its adapter and checks it in the space fit traced (exact
    integration, the zero-gradient guard) instead of refusing the casts of the codes."""
    model = EmbeddingMLP()
    explainer = skig.Explainer(model).fit(frame)
    torch.manual_seed(9)
    model.net[2] = nn.Linear(12, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exp = explainer.explain(frame.iloc[:5])
    assert explainer.rule_ == "exact" and exp.delta.abs().max() < 1e-5
    with torch.no_grad():
        expected = model(torch.as_tensor(frame.iloc[:5].to_numpy(), dtype=torch.float32))[:, 0].double().numpy()
    np.testing.assert_allclose(exp.predictions.to_numpy(), expected, rtol=1e-6)


def test_capturing_pass_stops_after_the_last_traced_lookup(frame):
    """Rows become points by a pass that ends once the traced lookups' vectors are in: the layers after them never
    run, and the vectors are the tables' rows for the row's codes (plus rtdl-style offsets)."""
    from skig.engine._inputs import InputSpace, trace_lookups

    model = EmbeddingMLP().eval()
    encoded = frame.to_numpy(dtype=float)
    space = InputSpace(encoded.shape[1], tuple(trace_lookups(model, encoded)))
    assert [lookup.columns for lookup in space.lookups] == [(2,), (3, 4)]
    tail_calls = []
    handles = [m.register_forward_hook(lambda *_: tail_calls.append(1)) for m in (model.constant, model.net)]
    points = space.points(model, torch.as_tensor(encoded[:7], dtype=torch.float32), max_points=3).numpy()
    for handle in handles:
        handle.remove()
    assert not tail_calls
    codes = encoded[:7, 2:5].astype(int)
    with torch.no_grad():
        expected = np.column_stack(
            [
                encoded[:7],
                model.state.weight[codes[:, 0]].numpy(),
                model.shared.weight[codes[:, 1]].numpy(),
                model.shared.weight[codes[:, 2] + 4].numpy(),
            ]
        )
    np.testing.assert_array_equal(points, expected.astype(np.float32))


def test_capturing_pass_names_lookups_the_model_no_longer_makes(frame):
    from skig.engine._inputs import InputSpace, trace_lookups

    model = EmbeddingMLP().eval()
    encoded = frame.to_numpy(dtype=float)
    space = InputSpace(encoded.shape[1], tuple(trace_lookups(model, encoded)))
    fewer = nn.Sequential(nn.Identity())  # looks nothing up
    with pytest.raises(RuntimeError, match="looked up 0 of the 2 embedding lookups"):
        space.points(fewer, torch.as_tensor(encoded[:3], dtype=torch.float32), max_points=3)


class SquaredReLU(nn.Module):
    """``x * relu(x)``: not piecewise-linear, and its gradient's slope jumps where ``x`` crosses zero."""

    def forward(self, x):
        return x * torch.relu(x)


def test_adaptive_steps_on_a_hinged_embedding_net_judge_raw_columns(frame, monkeypatch):
    """rule="auto" with n_steps="auto" takes the adaptive trapezoid rule here, and judges each raw column's error
    bound: a categorical column's vector coordinates are summed onto it (their errors may cancel there)."""
    from skig.engine import _integration

    seen = []
    refine = _integration.refine_intervals
    monkeypatch.setattr(
        _integration, "refine_intervals", lambda *a, **k: (seen.append(k["columns"].tolist()), refine(*a, **k))[1]
    )
    model = EmbeddingMLP(activation=SquaredReLU, seed=3)
    explainer = skig.Explainer(model, baseline="median", n_steps="auto", tol=1e-3).fit(frame)
    assert explainer.rule_ == "riemann_trapezoid"
    X = frame.iloc[20:32]
    exp = explainer.explain(X)
    # income, age and the three code columns, then state's 3 coordinates and grade's and term's 2 each
    assert seen == [[0, 1, 2, 3, 4, 2, 2, 2, 3, 3, 4, 4]]
    expected = oracle_rows(model, X.to_numpy(dtype=float), explainer.encoded_baseline_.to_numpy(), midpoint=True)
    error = np.abs(exp.values.to_numpy() - expected).max(1) / np.abs(expected).sum(1)
    assert error.max() <= 2e-3 and exp.n_steps.nunique() > 1
