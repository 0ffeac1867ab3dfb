"""A model changed after ``fit``: explanations describe it as it is at ``explain`` (equal to a fresh explainer's), or
refuse with a message naming what changed where what ``fit`` learned no longer holds."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from skorch import NeuralNetBinaryClassifier

import skig
import skig._explainer as skig_explainer
from skig.models import model_state

N_FEATURES = 4


class Net(torch.nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(N_FEATURES, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def forward(self, x):
        return self.body(x.float()).squeeze(-1)


def _data(seed=0, shift=0.0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.normal(shift, 1.0, size=(150, N_FEATURES)), columns=["age", "income", "debt", "other"])
    X.index = rng.permutation(len(X)) + 500  # labels, not positions
    y = (X["age"] - X["debt"] + 0.3 * rng.normal(size=len(X)) > shift).astype(np.float32).to_numpy()
    return X, y


def _net(seed, epochs=5):
    torch.manual_seed(seed)
    return NeuralNetBinaryClassifier(Net, max_epochs=epochs, lr=0.1, train_split=None, verbose=0)


def assert_same_explanation(exp, fresh):
    for name in ("values", "base_values", "predictions", "delta", "target"):
        a, b = getattr(exp, name), getattr(fresh, name)
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        else:
            pd.testing.assert_series_equal(a, b, check_exact=True)


def _explained_like_fresh(model, explainer, X, rows, **params):
    exp = explainer.explain(rows)
    fresh = skig.Explainer(model, **params).fit(X).explain(rows)
    assert_same_explanation(exp, fresh)
    return exp


SETTINGS = [{"rule": "exact"}, {"rule": "gausslegendre", "output": "probability"}]


@pytest.mark.parametrize("params", SETTINGS)
def test_refitted_skorch_net_is_explained_as_it_is_now(params):
    X, y = _data()
    X32 = X.to_numpy(np.float32)
    net = _net(0).fit(X32, y)
    explainer = skig.Explainer(net, **params).fit(X32)
    before = explainer.explain(X32[:10]).predictions
    net.set_params(max_epochs=12).fit(X32, y)  # a new module_
    exp = _explained_like_fresh(net, explainer, X32, X32[:10], **params)
    assert not np.allclose(exp.predictions, before)
    proba = net.predict_proba(X32[:10])[:, 1]
    expected = proba if params.get("output") == "probability" else np.log(proba / (1 - proba))
    np.testing.assert_allclose(exp.predictions, expected, rtol=1e-5, atol=1e-5)


def test_refitted_pipeline_with_the_same_scaler_is_explained_as_it_is_now():
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), _net(0))
    pipe.fit(X, y)
    explainer = skig.Explainer(pipe).fit(X)
    pipe.set_params(neuralnetbinaryclassifier__max_epochs=15).fit(X, y)  # same data: the scaler's values return
    _explained_like_fresh(pipe, explainer, X, X.iloc[:12])
    logits = pipe[:-1].transform(X.iloc[:12])
    np.testing.assert_allclose(
        explainer.explain(X.iloc[:12]).predictions,
        pipe[-1].module_(torch.as_tensor(logits)).detach().numpy(),
        rtol=1e-5,
    )


def test_replaced_pipeline_step_is_explained_as_it_is_now():
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), _net(0)).fit(X, y)
    explainer = skig.Explainer(pipe).fit(X)
    other = _net(3, epochs=9).fit(pipe[:-1].transform(X).astype(np.float32), y)
    pipe.steps[-1] = ("neuralnetbinaryclassifier", other)
    _explained_like_fresh(pipe, explainer, X, X.iloc[:12])


def test_pipeline_refitted_on_other_data_is_refused_naming_the_step():
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), _net(0)).fit(X, y)
    explainer = skig.Explainer(pipe).fit(X)
    X_new, y_new = _data(seed=1, shift=2.0)
    pipe.fit(X_new, y_new)
    with pytest.raises(skig.ModelChangedError, match=r"pipeline step 'standardscaler'.*changed since.*fit again"):
        explainer.explain(X.iloc[:5])
    explainer.fit(X)  # refitting the explainer is the way out
    _explained_like_fresh(pipe, explainer, X, X.iloc[:5])


def test_preprocessing_parameter_set_after_fit_is_refused():
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), _net(0)).fit(X, y)
    explainer = skig.Explainer(pipe).fit(X)
    pipe.set_params(standardscaler__with_mean=False)  # transform changes without a refit
    with pytest.raises(skig.ModelChangedError, match="'standardscaler'"):
        explainer.explain(X.iloc[:5])


@pytest.mark.parametrize("params", SETTINGS)
def test_torch_module_changed_in_place_is_explained_as_it_is_now(params):
    X, _ = _data()
    X32 = X.to_numpy(np.float32)
    torch.manual_seed(0)
    module = Net()
    explainer = skig.Explainer(module, **params).fit(X32)
    before = explainer.explain(X32[:8])
    with torch.no_grad():
        for param in module.parameters():
            param.mul_(1.5).add_(0.1)
    exp = _explained_like_fresh(module, explainer, X32, X32[:8], **params)
    assert not np.allclose(exp.predictions, before.predictions)


def test_torch_submodule_replaced_is_explained_as_it_is_now():
    X, _ = _data()
    X32 = X.to_numpy(np.float32)
    torch.manual_seed(0)
    module = Net()
    explainer = skig.Explainer(module, rule="gausslegendre").fit(X32)
    module.body[1] = torch.nn.Tanh()
    _explained_like_fresh(module, explainer, X32, X32[:8], rule="gausslegendre")


def test_exact_integration_refused_once_the_net_is_no_longer_piecewise_linear():
    X, _ = _data()
    X32 = X.to_numpy(np.float32)
    module = Net()
    explainer = skig.Explainer(module).fit(X32)
    assert explainer.rule_ == "exact"
    module.body[1] = torch.nn.Tanh()
    with pytest.raises(skig.ModelChangedError, match=r"exact integration.*Tanh.*fit again"):
        explainer.explain(X32[:3])


def test_refitted_logistic_regression_is_explained_as_it_is_now():
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    explainer = skig.Explainer(model).fit(X)
    model.fit(X, 1 - y)  # new coefficients, same classes
    exp = _explained_like_fresh(model, explainer, X, X.iloc[:10])
    np.testing.assert_allclose(exp.predictions, model.decision_function(X.iloc[:10]), rtol=1e-12)


def test_a_model_changed_while_it_is_read_is_read_again(monkeypatch):
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    explainer = skig.Explainer(model).fit(X)
    model.fit(X, 1 - y)
    adapt, calls = skig_explainer.adapt_model, []

    def adapt_while_training(model, rows):
        adapter = adapt(model, rows)
        calls.append(adapter)
        if len(calls) == 1:
            model.coef_ = model.coef_ * 2  # another thread's update lands after the rebuild read the coefficients
        return adapter

    monkeypatch.setattr(skig_explainer, "adapt_model", adapt_while_training)
    exp = explainer.explain(X.iloc[:5])
    assert len(calls) == 2
    np.testing.assert_allclose(exp.predictions, model.decision_function(X.iloc[:5]), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_refitted_mlp_in_a_pipeline_is_explained_as_it_is_now():
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=50, random_state=0)).fit(X, y)
    explainer = skig.Explainer(pipe, output="probability").fit(X)
    pipe[-1].partial_fit(pipe[:-1].transform(X), y)  # coefficients updated in place
    exp = _explained_like_fresh(pipe, explainer, X, X.iloc[:10], output="probability")
    np.testing.assert_allclose(exp.predictions, pipe.predict_proba(X.iloc[:10])[:, 1], rtol=1e-12)


def test_changed_classes_are_refused_naming_them():
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    explainer = skig.Explainer(model).fit(X)
    model.fit(X, np.where(y == 1, "good", "bad"))
    with pytest.raises(skig.ModelChangedError, match=r"classes changed.*\[.*0\.0.*\].*'bad'"):
        explainer.explain(X.iloc[:3])


def test_changed_input_width_is_refused():
    X, _ = _data()
    X32 = X.to_numpy(np.float32)
    module = Net()
    explainer = skig.Explainer(module).fit(X32)
    module.body[0] = torch.nn.Linear(N_FEATURES + 2, 16)
    with pytest.raises(skig.ModelChangedError, match="changed since the explainer was fitted.*fit again"):
        explainer.explain(X32[:3])


def test_an_unchanged_model_keeps_its_adapter_also_after_pickling():
    X, y = _data()
    X["state"] = np.where(X["income"] > 0, "CA", "other")
    X.loc[X.index[:5], "debt"] = np.nan
    preprocessing = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income", "debt"]),
        (OneHotEncoder(), ["state"]),
    )
    pipe = Pipeline(
        [
            ("prep", preprocessing),
            ("to32", FunctionTransformer(_to_float32)),  # a function: compared by identity
            ("net", NeuralNetBinaryClassifier(_Wide, max_epochs=2, train_split=None, verbose=0)),
        ]
    )
    pipe.fit(X, y)
    assert model_state(pipe) == model_state(pipe)
    explainer = skig.Explainer(pipe).fit(X)
    adapter = explainer.adapter_
    exp = explainer.explain(X.iloc[:4])
    assert explainer._current[1] is adapter
    # skorch pickles its module apart from the rest: the restored explainer may adapt once, then keeps that adapter.
    restored = pickle.loads(pickle.dumps(explainer))
    assert_same_explanation(restored.explain(X.iloc[:4]), exp)
    kept = restored._current[1]
    assert_same_explanation(restored.explain(X.iloc[:4]), exp)
    assert restored._current[1] is kept


def _to_float32(z):
    return np.asarray(z, dtype=np.float32)


class _Wide(Net):
    """Reads the five encoded columns of the pickling test: three numbers and two one-hot columns."""

    def __init__(self, hidden=8):
        super().__init__(hidden)
        self.body[0] = torch.nn.Linear(5, hidden)


def test_an_explainer_unpickled_onto_read_only_buffers_explains_without_warnings():
    # Spark/Dask workers receive the explainer with read-only arrays (out-of-band pickle buffers): torch warned once per
    # worker ("The given NumPy array is not writable") when a fitted array became a tensor without a copy. torch warns
    # once per process, so the check runs in a fresh one.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import pickle, warnings
        import numpy as np, torch, skig
        X = np.random.RandomState(0).normal(size=(50, 4)).astype(np.float32)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        buffers = []
        data = pickle.dumps(skig.Explainer(net).fit(X), protocol=5, buffer_callback=buffers.append)
        loaded = pickle.loads(data, buffers=[bytes(buffer.raw()) for buffer in buffers])
        with torch.no_grad():
            loaded.model[0].weight.add_(0.01)  # changed since fit: re-adapted and re-checked on read-only arrays
        warnings.simplefilter("error")
        loaded.explain(X[:5])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
