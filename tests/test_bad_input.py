"""Bad input: every mistake gives a clear error naming the offending value and what is accepted, and changes nothing.

Also: the user's torch module (modes, requires_grad, hooks, device, weights) is exactly as before, even after errors.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import skig

COLUMNS = ["age", "income", "debt", "score"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - some libraries draw from the global state


class MLP(torch.nn.Module):
    def __init__(self, n_features=4, n_outputs=1):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_features, 8), torch.nn.Tanh(), torch.nn.Linear(8, n_outputs)
        ).double()

    def forward(self, x):
        return self.body(x)


class Stateful(torch.nn.Module):
    """Dropout and BatchNorm (whose eval/train outputs differ), a call counter and a switch to fail mid-explain."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(4, 8),
            torch.nn.BatchNorm1d(8),
            torch.nn.Tanh(),
            torch.nn.Dropout(0.5),
            torch.nn.Linear(8, 8),
            torch.nn.Dropout(0.3),
            torch.nn.Linear(8, 1),
        )
        self.calls = 0
        self.fail_after = None

    def forward(self, x):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("boom: forward failed mid-explain")
        return self.body(x)


class Detaching(torch.nn.Module):
    """Cuts the graph: the output depends on parameters but not differentiably on the input."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.linear(x.detach())


class ThroughNumpy(torch.nn.Module):
    """Computes in numpy on a detached copy, as a user wrapping a non-torch model would."""

    def forward(self, x):
        return torch.as_tensor(np.tanh(x.detach().numpy()).sum(1, keepdims=True))


class NaiveNumpy(torch.nn.Module):
    """Calls ``.numpy()`` on its input directly: torch refuses when the input requires a gradient."""

    def forward(self, x):
        return torch.as_tensor(np.tanh(x.numpy()).sum(1, keepdims=True))


@pytest.fixture(scope="module")
def frame():
    rng = np.random.RandomState(0)
    return pd.DataFrame(rng.normal(size=(60, 4)), columns=COLUMNS, index=pd.RangeIndex(10, 70, name="id"))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MLP()


@pytest.fixture
def fitted(model, frame):
    return skig.Explainer(model, n_steps=8).fit(frame)


@pytest.fixture
def fitted_array(model, frame):
    return skig.Explainer(model, n_steps=8).fit(frame.to_numpy())


def _fitted_state(explainer):
    """Everything fit learned, copied, to compare after a failure."""
    return {key: copy.deepcopy(value) for key, value in vars(explainer).items() if key.endswith("_")}


def _assert_same_state(explainer, state):
    assert set(state) == {key for key in vars(explainer) if key.endswith("_")}
    for key, value in state.items():
        now = getattr(explainer, key)
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(now, value)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(now, value)
        elif key != "adapter_":
            assert now == value, key


def _raises_and_changes_nothing(explainer, X, error, match, **kwargs):
    """``explain(X)`` raises ``error`` matching ``match``; the explainer and X are untouched, and still work."""
    state, before = _fitted_state(explainer), X.copy()
    reference = explainer.explain(X_good := _good_rows(explainer))
    with pytest.raises(error, match=match):
        explainer.explain(X, **kwargs)
    _assert_same_state(explainer, state)
    if isinstance(X, pd.DataFrame):
        pd.testing.assert_frame_equal(X, before)
    else:
        np.testing.assert_array_equal(X, before)
    pd.testing.assert_frame_equal(explainer.explain(X_good).values, reference.values)


def _good_rows(explainer):
    rows = np.random.RandomState(5).normal(size=(6, explainer.n_features_in_))
    names = getattr(explainer, "feature_names_in_", None)
    return pd.DataFrame(rows, columns=names) if names is not None else rows


class TestColumns:
    def test_missing_column_is_named(self, fitted, frame):
        match = r"missing columns \['debt'\].*fitted on \['age', 'income', 'debt', 'score'\]"
        _raises_and_changes_nothing(fitted, frame.drop(columns="debt"), ValueError, match)

    def test_extra_column_is_dropped_with_a_warning_and_never_attributed(self, fitted, frame):
        expected = fitted.explain(frame)
        with pytest.warns(UserWarning, match=r"does not read: \['zzz'\].*dropped"):
            got = fitted.explain(frame.assign(zzz=1.0))
        pd.testing.assert_frame_equal(got.values, expected.values)
        assert list(got.values.columns) == ["age", "income", "debt", "score"]

    def test_renamed_column_is_named_both_ways(self, fitted, frame):
        renamed = frame.rename(columns={"income": "salary"})
        _raises_and_changes_nothing(fitted, renamed, ValueError, r"missing columns \['income'\].*\['salary'\]")

    def test_duplicated_column_is_named(self, fitted, frame):
        doubled = pd.concat([frame, frame[["age"]]], axis=1)
        _raises_and_changes_nothing(fitted, doubled, ValueError, r"duplicated column names \['age'\]")

    def test_columns_in_another_order_are_matched_by_name(self, fitted, frame):
        expected = fitted.explain(frame)
        shuffled = frame[["score", "age", "debt", "income"]]
        got = fitted.explain(shuffled)
        pd.testing.assert_frame_equal(got.values, expected.values)
        pd.testing.assert_frame_equal(got.data, expected.data)
        pd.testing.assert_series_equal(got.predictions, expected.predictions)
        assert list(shuffled.columns) == ["score", "age", "debt", "income"], "the input is not reordered in place"

    @pytest.mark.parametrize("width", [3, 5])
    def test_wrong_width_array(self, fitted_array, frame, width):
        X = np.random.RandomState(1).normal(size=(5, width))
        _raises_and_changes_nothing(fitted_array, X, ValueError, rf"X has {width} features.* 4 features")

    def test_wrong_width_array_on_frame_fitted(self, fitted, frame):
        _raises_and_changes_nothing(fitted, frame.to_numpy()[:, :3], ValueError, r"X has 3 features.* 4 features")

    def test_array_on_frame_fitted_is_read_in_fitted_order(self, fitted, frame):
        pd.testing.assert_frame_equal(
            fitted.explain(frame.to_numpy()).values.set_axis(frame.index), fitted.explain(frame).values
        )

    def test_non_numeric_value_is_named(self, fitted, frame):
        _raises_and_changes_nothing(fitted, frame.assign(debt="lots"), ValueError, "'lots'")

    def test_model_of_another_width_fails_at_fit(self, model, frame):
        with pytest.raises(ValueError, match=r"model failed on the reference rows \(3 encoded columns\)"):
            skig.Explainer(model).fit(frame.iloc[:, :3])


class TestNonFinite:
    @pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
    def test_at_fit_names_the_column(self, model, frame, value, kind):
        bad = frame.copy()
        bad.iloc[3, 1] = value
        with pytest.raises(ValueError, match=rf"X contains {kind} in columns \['income'\].*finite"):
            skig.Explainer(model).fit(bad)

    @pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf")])
    def test_at_fit_array_names_the_column(self, model, frame, value, kind):
        bad = frame.to_numpy().copy()
        bad[3, 2] = value
        with pytest.raises(ValueError, match=rf"X contains {kind} in columns \['x2'\]"):
            skig.Explainer(model).fit(bad)

    @pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
    def test_at_explain_names_the_column(self, fitted, frame, value, kind):
        bad = frame.copy()
        bad.iloc[3, 3] = value
        _raises_and_changes_nothing(fitted, bad, ValueError, rf"X contains {kind} in columns \['score'\]")

    def test_at_explain_array_names_the_column(self, fitted_array, frame):
        bad = frame.to_numpy().copy()
        bad[0, 0] = np.nan
        _raises_and_changes_nothing(fitted_array, bad, ValueError, r"X contains NaN in columns \['x0'\]")

    def test_nan_and_inf_are_told_apart(self, fitted, frame):
        bad = frame.copy()
        bad.iloc[3, 0] = np.nan
        bad.iloc[4, 3] = np.inf
        with pytest.raises(ValueError) as info:
            fitted.explain(bad)
        assert re.search(r"NaN in columns \['age'\]", str(info.value))
        assert re.search(r"inf in columns \['score'\]", str(info.value))

    def test_non_finite_baseline_row_is_named(self, model, frame):
        row = frame.iloc[0].copy()
        row["debt"] = np.nan
        with pytest.raises(ValueError, match=r"NaN in columns \['debt'\]"):
            skig.Explainer(model, baseline=row).fit(frame)


class TestShapes:
    def test_empty_frame(self, fitted, frame):
        _raises_and_changes_nothing(fitted, frame.iloc[:0], ValueError, r"0 rows.*at least 1")

    def test_empty_array(self, fitted_array, frame):
        _raises_and_changes_nothing(fitted_array, frame.to_numpy()[:0], ValueError, r"0 sample\(s\).*minimum of 1")

    @pytest.mark.parametrize("X", [np.empty((0, 4)), np.empty((5, 0)), pd.DataFrame(index=range(3))])
    def test_empty_at_fit(self, model, X):
        with pytest.raises(ValueError, match=r"0 (sample|feature|row|column)"):
            skig.Explainer(model).fit(X)

    def test_one_dimensional_array(self, fitted_array, frame):
        _raises_and_changes_nothing(
            fitted_array, frame.to_numpy()[0], ValueError, r"(?s)Expected 2D array.*reshape\(1, -1\)"
        )

    def test_one_dimensional_array_at_fit(self, model, frame):
        with pytest.raises(ValueError, match=r"Expected 2D array"):
            skig.Explainer(model).fit(frame.to_numpy()[:, 0])

    def test_three_dimensional_array(self, fitted_array, frame):
        with pytest.raises(ValueError, match="dim 3"):
            fitted_array.explain(frame.to_numpy()[None])

    @pytest.mark.parametrize("which", ["frame", "array"])
    def test_series_is_one_row(self, fitted, fitted_array, frame, which):
        explainer = fitted if which == "frame" else fitted_array
        exp = explainer.explain(frame.iloc[2])
        assert exp.values.shape == (1, 4)
        expected = explainer.explain(frame.iloc[[2]])
        np.testing.assert_array_equal(exp.values.to_numpy(), expected.values.to_numpy())
        assert list(exp.values.index) == [frame.index[2]]

    def test_series_in_another_order(self, fitted, frame):
        row = frame.iloc[2]
        np.testing.assert_array_equal(fitted.explain(row[::-1]).values, fitted.explain(row).values)

    def test_list_of_rows(self, fitted_array, frame):
        np.testing.assert_array_equal(
            fitted_array.explain(frame.to_numpy()[:5].tolist()).values,
            fitted_array.explain(frame.to_numpy()[:5]).values,
        )


class TestNotFitted:
    @pytest.mark.parametrize("method", ["explain", "transform", "get_feature_names_out"])
    def test_before_fit(self, model, frame, method):
        explainer = skig.Explainer(model)
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(explainer, method)(*([frame] if method != "get_feature_names_out" else []))


class TestParameters:
    @pytest.mark.parametrize(
        "params, name, value",
        [
            ({"method": "nope"}, "method", "'nope'"),
            ({"n_steps": 0}, "n_steps", "0"),
            ({"n_steps": 2.5}, "n_steps", "2.5"),
            ({"rule": "simpson"}, "rule", "'simpson'"),
            ({"output": "nope"}, "output", "'nope'"),
            ({"batch_size": 0}, "batch_size", "0"),
            ({"batch_size": "big"}, "batch_size", "'big'"),
            ({"baseline": "nope"}, "baseline", "'nope'"),
            ({"features": "both"}, "features", "'both'"),
            ({"device": 3}, "device", "3"),
            ({"progress": "yes"}, "progress", "'yes'"),
        ],
    )
    def test_invalid_parameter(self, model, frame, params, name, value):
        explainer = skig.Explainer(model, **params)
        with pytest.raises(InvalidParameterError, match=rf"'{name}' parameter of Explainer.*Got {re.escape(value)}"):
            explainer.fit(frame)
        assert not hasattr(explainer, "n_features_in_")

    def test_trapezoid_needs_two_steps(self, model, frame):
        with pytest.raises(ValueError, match=r"riemann_trapezoid.*n_steps >= 2"):
            skig.Explainer(model, rule="riemann_trapezoid", n_steps=1).fit(frame)
        skig.Explainer(model, rule="riemann_trapezoid", n_steps=2).fit(frame)

    def test_baseline_of_wrong_width_names_the_baseline(self, model, frame):
        with pytest.raises(ValueError, match=r"baseline.*2 features.*4"):
            skig.Explainer(model, baseline=[1.0, 2.0]).fit(frame)

    def test_baseline_with_missing_column(self, model, frame):
        with pytest.raises(ValueError, match=r"missing columns \['score'\]"):
            skig.Explainer(model, baseline=frame.iloc[:2, :3]).fit(frame)

    @pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
    @pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
    def test_cuda_without_cuda(self, model, frame, device):
        with pytest.raises(ValueError, match=r"device='cuda(:0)?'.*CUDA is not available.*'cpu'"):
            skig.Explainer(model, device=device).fit(frame).explain(frame)

    def test_unknown_device_string(self, model, frame):
        with pytest.raises(ValueError, match="nope"):
            skig.Explainer(model, device="nope").fit(frame).explain(frame)

    @pytest.mark.parametrize("target", [5, -1, "good", 0.5])
    def test_target_out_of_range(self, fitted, frame, target):
        match = rf"target {re.escape(repr(target))} is out of range.*outputs \[0\]"
        _raises_and_changes_nothing(fitted, frame, ValueError, match, target=target)

    def test_target_out_of_range_multi_output(self, frame):
        explainer = skig.Explainer(MLP(n_outputs=3), n_steps=4).fit(frame)
        _raises_and_changes_nothing(explainer, frame, ValueError, r"target 3 is out of range.*\[0, 1, 2\]", target=3)

    def test_an_integer_target_is_a_label_when_the_classes_are_integers(self):
        """Classes [1, 2]: target=1 and 2 are those classes, target=0 is refused (not the class at position 0);
        with string classes a position still picks the class there."""
        from sklearn.linear_model import LogisticRegression

        rng = np.random.RandomState(0)
        X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
        label = (X["a"] + rng.normal(0, 0.5, 80) > 0).astype(int)
        numbered = skig.Explainer(LogisticRegression().fit(X, label + 1), output="raw").fit(X)
        assert numbered.explain(X[:3], target=1).target.tolist() == [1, 1, 1]
        first = numbered.explain(X[:3], target=1).values.to_numpy()
        np.testing.assert_allclose(numbered.explain(X[:3], target=2).values.to_numpy(), -first, rtol=1e-10)
        with pytest.raises(ValueError, match=r"target 0 is out of range.*\[1, 2\].*a class label, not a position"):
            numbered.explain(X[:3], target=0)
        named = skig.Explainer(LogisticRegression().fit(X, label.map({0: "bad", 1: "good"}))).fit(X)
        assert named.explain(X[:3], target=1).target.tolist() == ["good"] * 3

    def test_target_of_wrong_shape(self, fitted, frame):
        _raises_and_changes_nothing(fitted, frame, ValueError, r"shape \(2,\).*\(60,\)", target=[0, 0])


class TestModels:
    @pytest.mark.parametrize(
        "bad", ["model", lambda x: x, np.tanh, 3, None], ids=["str", "lambda", "ufunc", "int", "none"]
    )
    def test_non_model_says_what_is_accepted(self, frame, bad):
        accepted = r"model must be a torch\.nn\.Module, a fitted skorch net.*scikit-learn.*Pipeline"
        with pytest.raises(TypeError, match=rf"{accepted}.*; got {type(bad).__name__}\."):
            skig.Explainer(bad).fit(frame)

    @pytest.mark.parametrize("module", [Detaching(), ThroughNumpy()], ids=["detach", "numpy"])
    def test_non_differentiable_module_points_to_shap(self, frame, module):
        before = copy.deepcopy(module.state_dict())
        with pytest.raises(TypeError, match=rf"{type(module).__name__}.*differentiabl.*shap\."):
            skig.Explainer(module).fit(frame)
        assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
        assert all(param.requires_grad for param in module.parameters())

    def test_naive_numpy_module_points_to_shap(self, frame):
        with pytest.raises(TypeError, match=r"NaiveNumpy.*shap\."):
            skig.Explainer(NaiveNumpy()).fit(frame)

    def test_failing_module_is_reported_at_fit(self, frame):
        module = Stateful()
        module.fail_after = 0
        with pytest.raises(ValueError, match=r"model failed on the reference rows.*boom"):
            skig.Explainer(module).fit(frame)


def _snapshot(module):
    return {
        "training": {name: sub.training for name, sub in module.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in module.named_parameters()},
        "grad": {name: p.grad for name, p in module.named_parameters()},
        "forward_hooks": {name: dict(sub._forward_hooks) for name, sub in module.named_modules()},
        "forward_pre_hooks": {name: dict(sub._forward_pre_hooks) for name, sub in module.named_modules()},
        "backward_hooks": {name: dict(sub._backward_hooks) for name, sub in module.named_modules()},
        "devices": {name: t.device for name, t in [*module.named_parameters(), *module.named_buffers()]},
        "dtypes": {name: t.dtype for name, t in [*module.named_parameters(), *module.named_buffers()]},
        "state": {name: t.detach().clone() for name, t in module.state_dict().items()},
        "parameter_ids": [id(p) for p in module.parameters()],
    }


def _assert_same_module(module, before):
    after = _snapshot(module)
    for key in ("training", "requires_grad", "forward_hooks", "forward_pre_hooks", "backward_hooks", "devices"):
        assert after[key] == before[key], key
    assert after["dtypes"] == before["dtypes"]
    assert after["parameter_ids"] == before["parameter_ids"]
    assert all(grad is None for grad in after["grad"].values()), "explaining must not leave .grad on parameters"
    assert after["state"].keys() == before["state"].keys()
    for name, value in before["state"].items():
        assert torch.equal(after["state"][name], value), name


class TestModelStateRestored:
    @pytest.fixture
    def module(self):
        torch.manual_seed(0)
        module = Stateful().train()
        module.body[0].weight.requires_grad_(False)
        module.body[0].bias.requires_grad_(False)
        module.body[5].eval()  # a submodule whose mode differs from its parent's
        module.seen = {"forward": 0, "backward": 0}

        def on_forward(_module, _inputs, _output):
            module.seen["forward"] += 1

        def on_backward(_module, _grad_in, _grad_out):
            module.seen["backward"] += 1

        module.body[1].register_forward_hook(on_forward)
        module.body[4].register_full_backward_hook(on_backward)
        module.body[2].register_forward_pre_hook(lambda _module, _inputs: None)
        return module

    def test_fit_and_explain_restore_everything(self, module, frame):
        before = _snapshot(module)
        explainer = skig.Explainer(module, n_steps=8, batch_size=32).fit(frame)
        _assert_same_module(module, before)
        exp = explainer.explain(frame.iloc[:10])
        _assert_same_module(module, before)
        assert module.training and module.body[1].training and not module.body[5].training
        assert module.seen["forward"] > 0, "the user's hooks stay active during explaining"
        # Explained in eval mode: BatchNorm used running stats and dropout was off, so completeness is tight.
        assert exp.delta.abs().max() < 1e-3

    def test_explain_is_in_eval_mode_and_deterministic(self, module, frame):
        explainer = skig.Explainer(module, n_steps=8).fit(frame)
        first, second = explainer.explain(frame), explainer.explain(frame)
        pd.testing.assert_frame_equal(first.values, second.values, check_exact=True)
        pd.testing.assert_series_equal(first.predictions, second.predictions, check_exact=True)
        module.eval()
        with torch.no_grad():
            expected = module(torch.tensor(frame.to_numpy(), dtype=torch.float32))[:, 0].double().numpy()
        # One logit: output "auto" is raw for a plain module; class 1 is the logit itself.
        np.testing.assert_allclose(first.predictions.to_numpy(), expected, rtol=1e-6, atol=1e-6)

    @pytest.mark.parametrize("n_threads", [1, 2])
    def test_explain_failing_midway_restores_everything(self, module, frame, n_threads):
        explainer = skig.Explainer(module, n_steps=8, batch_size=16, n_threads=n_threads).fit(frame)
        calls = {"count": 0, "fail_after": None}

        def count(_module, _inputs):
            # A hook, not an attribute: skig runs a private copy of the module, whose hooks are these same functions.
            calls["count"] += 1
            if calls["fail_after"] is not None and calls["count"] > calls["fail_after"]:
                raise RuntimeError("boom: forward failed mid-explain")

        module.register_forward_pre_hook(count)
        before, state = _snapshot(module), _fitted_state(explainer)
        calls["fail_after"] = 3  # the size probe and two passes succeed, the third raises
        with pytest.raises(RuntimeError, match="boom"):
            explainer.explain(frame)
        # One thread stops at the failing pass; on several, passes started before it (at most the two per thread
        # queued ahead, see engine/_threads.py) end, and none starts after it.
        most = calls["fail_after"] + (1 if n_threads == 1 else 2 * n_threads)
        assert calls["fail_after"] + 1 <= calls["count"] <= most
        _assert_same_module(module, before)
        _assert_same_state(explainer, state)
        calls["fail_after"] = None
        explainer.explain(frame.iloc[:3])
        _assert_same_module(module, before)

    def test_target_error_restores_everything(self, module, frame):
        explainer = skig.Explainer(module, n_steps=8).fit(frame)
        before = _snapshot(module)
        with pytest.raises(ValueError, match="out of range"):
            explainer.explain(frame, target=7)
        _assert_same_module(module, before)

    def test_failing_fit_restores_everything(self, module, frame):
        before = _snapshot(module)
        module.fail_after = module.calls
        with pytest.raises(ValueError, match="boom"):
            skig.Explainer(module).fit(frame)
        _assert_same_module(module, before)

    def test_non_differentiable_fit_restores_everything(self, frame):
        module = Detaching().train()
        module.linear.bias.requires_grad_(False)
        before = _snapshot(module)
        with pytest.raises(TypeError):
            skig.Explainer(module).fit(frame)
        _assert_same_module(module, before)

    def test_explicit_cpu_device(self, module, frame):
        before = _snapshot(module)
        skig.Explainer(module, n_steps=4, device="cpu").fit(frame).explain(frame.iloc[:4])
        _assert_same_module(module, before)


class TestRefit:
    def test_determinism(self, fitted, frame):
        first, second = fitted.explain(frame), fitted.explain(frame)
        pd.testing.assert_frame_equal(first.values, second.values, check_exact=True)
        pd.testing.assert_series_equal(first.base_values, second.base_values, check_exact=True)

    def test_refit_is_deterministic(self, model, frame):
        a = skig.Explainer(model, n_steps=8).fit(frame).explain(frame)
        b = skig.Explainer(model, n_steps=8).fit(frame).explain(frame)
        pd.testing.assert_frame_equal(a.values, b.values, check_exact=True)

    def test_explain_does_not_modify_input(self, fitted, frame):
        before = frame.copy()
        fitted.explain(frame)
        pd.testing.assert_frame_equal(frame, before)

    def test_failed_refit_changes_nothing(self, fitted, frame):
        state, reference = _fitted_state(fitted), fitted.explain(frame)
        bad = frame.to_numpy()[:, :3].copy()
        bad[0, 1] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            fitted.fit(bad)
        _assert_same_state(fitted, state)
        pd.testing.assert_frame_equal(fitted.explain(frame).values, reference.values)
