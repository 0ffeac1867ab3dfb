"""Models and frames skig cannot take as they are: each message names the column, module or operation, and what to
do; half-precision models are explained in float32 (the same weights) and the user's model is left as it was."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skig
from skig.models._forward_checks import several_inputs_message

COLUMNS = ["income", "debt", "age"]


@pytest.fixture(scope="module")
def frame():
    rng = np.random.RandomState(0)
    return pd.DataFrame(rng.normal(size=(40, 3)), columns=COLUMNS, index=pd.Index(rng.permutation(40) + 100))


@pytest.fixture(scope="module")
def labels(frame):
    return (frame["income"] - frame["debt"] > 0).astype(int)


# ------------------------------------------------------------------------------------------------- columns
class TestColumns:
    @pytest.mark.parametrize(
        "when",
        [
            pd.date_range("2020-01-01", periods=40),
            pd.date_range("2020-01-01", periods=40, tz="UTC"),
            pd.to_timedelta(np.arange(40), "D"),
        ],
        ids=["datetime", "tz-aware", "timedelta"],
    )
    def test_date_column_into_a_pipeline_is_named(self, frame, labels, when):
        pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)
        dated = frame.assign(age=when)
        with pytest.raises(ValueError, match=r"preprocessing failed on X's column 'age' \(.*dates or durations\)"):
            skig.Explainer(pipeline).fit(dated)
        explainer = skig.Explainer(pipeline, n_steps=8).fit(frame)
        with pytest.raises(ValueError, match=r"column 'age' .*days since a date"):
            explainer.explain(dated)

    def test_date_column_where_a_category_was_fitted_is_named(self, frame, labels):
        categorical = frame.assign(age=np.where(frame["age"] > 0, "old", "young"))
        pipeline = make_pipeline(
            make_column_transformer((StandardScaler(), ["income", "debt"]), (OneHotEncoder(), ["age"])),
            LogisticRegression(),
        ).fit(categorical, labels)
        explainer = skig.Explainer(pipeline, n_steps=8).fit(categorical)
        with pytest.raises(ValueError, match=r"column 'age' \(datetime64"):
            explainer.explain(categorical.assign(age=pd.date_range("2020", periods=40)))

    def test_text_value_into_a_numeric_pipeline_is_named(self, frame, labels):
        pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)
        explainer = skig.Explainer(pipeline, n_steps=8).fit(frame)
        with pytest.raises(ValueError, match=r"column 'debt', which holds 'lots'"):
            explainer.explain(frame.assign(debt=["lots"] * 40))

    def test_date_column_into_a_module_is_named(self, frame):
        net = torch.nn.Linear(3, 1).double()
        with pytest.raises(ValueError, match=r"column 'age' \(datetime64.*holds Timestamp"):
            skig.Explainer(net).fit(frame.assign(age=pd.date_range("2020", periods=40)))

    @pytest.mark.parametrize("kind", ["module", "pipeline"])
    def test_duplicated_column_names_at_fit_are_named(self, frame, labels, kind):
        model = (
            torch.nn.Linear(4, 1).double()
            if kind == "module"
            else make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels)
        )
        doubled = pd.concat([frame, frame[["debt"]]], axis=1)
        with pytest.raises(ValueError, match=r"duplicated column names \['debt'\].*rename or drop the copies"):
            skig.Explainer(model).fit(doubled)


# -------------------------------------------------------------------------------------------------- modules
class SigmoidScaledInPlace(torch.nn.Module):
    """Doubles a sigmoid's output in place: autograd needs that output for the sigmoid's gradient."""

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(3, 8)
        self.out = torch.nn.Linear(8, 1)

    def forward(self, x):
        h = torch.sigmoid(self.hidden(x))
        h *= 2
        return self.out(h)


class ZeroesItsInput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, x):
        x[:, 0] = 0
        return self.linear(x)


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(2, 1)
        self.b = torch.nn.Linear(1, 1)

    def forward(self, numbers, flags):
        return self.a(numbers) + self.b(flags)


def _in_place_relu_after_sigmoid():
    return torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Sigmoid(), torch.nn.ReLU(inplace=True), torch.nn.Linear(8, 1)
    )


def _state(module):
    return (
        module.training,
        [p.requires_grad for p in module.parameters()],
        {k: v.clone() for k, v in module.state_dict().items()},
    )


def _fit_refuses_and_changes_nothing(module, frame, pattern):
    """``fit`` raises a TypeError matching ``pattern``, and the module keeps its mode, flags and weights."""
    before = _state(module)
    with pytest.raises(TypeError, match=pattern):
        skig.Explainer(module).fit(frame)
    training, requires_grad, weights = _state(module)
    assert (training, requires_grad) == before[:2]
    assert all(torch.equal(weights[name], value) for name, value in before[2].items())


class TestModules:
    @pytest.mark.parametrize(
        "make, operation",
        [
            (SigmoidScaledInPlace, r"Tensor\.mul_ in SigmoidScaledInPlace"),
            (_in_place_relu_after_sigmoid, r"torch\.nn\.functional\.relu \(inplace=True\) in ReLU \(layer '2'\)"),
            (ZeroesItsInput, r"Tensor\.__setitem__ in ZeroesItsInput"),
        ],
        ids=["h*=2", "ReLU(inplace=True)", "x[:, 0]=0"],
    )
    def test_in_place_change_names_the_operation_and_what_to_do(self, frame, make, operation):
        torch.manual_seed(0)
        _fit_refuses_and_changes_nothing(
            make().double(), frame, rf"changes a tensor in place inside forward \({operation}\).*out-of-place"
        )

    def test_an_operation_without_a_derivative_is_named_with_what_to_do(self, frame):
        # torch.heaviside runs forward but has no backward: torch's own RuntimeError named no model and no way out
        class Steps(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = torch.nn.Linear(3, 1)

            def forward(self, x):
                return self.linear(torch.heaviside(x, torch.tensor(0.5, dtype=x.dtype)))

        _fit_refuses_and_changes_nothing(
            Steps().double(), frame, r"Steps uses an operation torch has no gradient for \(.*heaviside.*\)"
        )

    def test_in_place_relu_after_a_linear_layer_is_fine(self, frame):
        # autograd needs no value that ReLU(inplace=True) overwrites here: nothing to refuse
        torch.manual_seed(0)
        module = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(inplace=True), torch.nn.Linear(8, 1))
        exp = skig.Explainer(module.double(), n_steps=16).fit(frame).explain(frame)
        assert np.abs(exp.delta).max() < 1e-10  # exact integration on a ReLU net

    def test_two_input_forward_says_to_wrap_the_module(self, frame):
        with pytest.raises(TypeError, match=r"TwoInputs's forward takes several tensors \(numbers, flags\).*wrap"):
            skig.Explainer(TwoInputs()).fit(frame)
        with pytest.raises(TypeError) as raised:
            skig.models.check_supported(TwoInputs())  # from the type alone, as the command line checks it
        assert str(raised.value) == several_inputs_message("TwoInputs", ["numbers", "flags"])

    def test_wrapped_two_input_module_is_explained(self, frame):
        class OneTensor(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x[:, :2], x[:, 2:])

        torch.manual_seed(0)
        inner = TwoInputs().double()
        exp = skig.Explainer(OneTensor(inner), n_steps=8).fit(frame).explain(frame)
        # linear: IG is w * (x - mean) exactly
        weights = torch.cat([inner.a.weight, inner.b.weight], dim=1).detach().numpy()[0]
        np.testing.assert_allclose(exp.values.to_numpy(), (frame - frame.mean()).to_numpy() * weights, atol=1e-12)

    def test_optional_second_argument_is_fine(self, frame):
        class WithMask(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = torch.nn.Linear(3, 1)

            def forward(self, x, mask=None):
                return self.linear(x if mask is None else x * mask)

        skig.Explainer(WithMask().double(), n_steps=4).fit(frame)


# ------------------------------------------------------------------------------------------ half precision
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_model_is_explained_in_float32(dtype):
    torch.manual_seed(0)
    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.normal(size=(30, 20)) * 3, columns=[f"x{i}" for i in range(20)])
    net = torch.nn.Sequential(
        torch.nn.Linear(20, 128), torch.nn.Tanh(), torch.nn.Linear(128, 128), torch.nn.Tanh(), torch.nn.Linear(128, 1)
    ).to(dtype)
    twin = copy.deepcopy(net).float()  # the same weights, exactly, in float32
    before = {name: value.clone() for name, value in net.state_dict().items()}
    half = skig.Explainer(net, n_steps=32).fit(X).explain(X)
    full = skig.Explainer(twin, n_steps=32).fit(X).explain(X)
    pd.testing.assert_frame_equal(half.values, full.values)
    pd.testing.assert_series_equal(half.predictions, full.predictions)
    assert np.abs(half.delta).max() < 1e-5  # float32 quadrature error, not half-precision rounding (~1e-3)
    # the user's model is still in its own precision, with its own weights
    assert all(value.dtype == dtype for value in net.state_dict().values())
    assert all(torch.equal(net.state_dict()[name], value) for name, value in before.items())
    with torch.no_grad():  # and what it predicts itself is the float32 prediction up to its own rounding
        own = net(torch.tensor(X.to_numpy(), dtype=dtype)).float().numpy()[:, 0]
    np.testing.assert_allclose(own, full.predictions.to_numpy(), atol=0.05 if dtype == torch.bfloat16 else 0.01)


class _NaNGradientOnNegatives(torch.nn.Module):
    """A finite output with a NaN gradient where column ``a`` is negative: ``torch.where`` keeps ``a`` there, but the
    branch it drops, ``sqrt(a)``, is NaN, and autograd multiplies its zero weight by that NaN."""

    def forward(self, x):
        a = x[:, 0]
        return torch.where(a < 0, a, torch.sqrt(a)) + x[:, 1]


def test_rows_whose_path_meets_a_nan_gradient_get_nan_attributions_and_a_warning_naming_them():
    X = pd.DataFrame({"a": [1.0, -2.0, 0.5, -1.0], "b": [0.3, 1.0, -1.0, 2.0]}, index=[10, 3, 7, 1])
    explainer = skig.Explainer(_NaNGradientOnNegatives(), baseline="zero", rule="gausslegendre", n_steps=16)
    explainer.fit(X)
    with pytest.warns(UserWarning, match=r"NaN or infinite somewhere on the path of rows \[3, 1\] \(2 row\(s\)\)"):
        exp = explainer.explain(X)
    assert exp.values.loc[[3, 1]].isna().all().all()
    finite = exp.values.loc[[10, 7]]
    assert np.isfinite(finite.to_numpy()).all()
    np.testing.assert_allclose(finite["b"], [0.3, -1.0])  # linear in b: IG is b - 0 exactly
