"""skorch nets: every classifier/regressor flavour, every output space, against what the net itself computes."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor

import skig

N_ROWS, N_FEATURES, N_EXPLAINED = 200, 4, 40
CLASS_NAMES = np.array(["bad", "good", "ok"])
OUTPUTS = ("raw", "logit", "probability", "auto")
PRED_ATOL = 1e-5  # float32 module against float32 predict_proba
COMPLETENESS_ATOL = 1e-3  # n_steps=256 Gauss-Legendre on a float32 module


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - some libraries draw from the global state


class Logits(torch.nn.Module):
    """A tiny MLP returning ``n_outputs`` logits (or regression outputs)."""

    def __init__(self, n_outputs=3, hidden=12):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(N_FEATURES, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, n_outputs)
        )

    def forward(self, x):
        return self.body(x)


class Probabilities(Logits):
    """Ends in a softmax: what skorch's default NLLLoss expects."""

    def forward(self, x):
        return torch.softmax(self.body(x), dim=-1)


class BinaryLogit(Logits):
    """One positive-class logit, of shape (n,) or (n, 1)."""

    def __init__(self, squeeze=True):
        super().__init__(n_outputs=1)
        self.squeeze = squeeze

    def forward(self, x):
        z = self.body(x)
        return z.squeeze(1) if self.squeeze else z


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    scores = X @ rng.normal(size=(N_FEATURES, 3)) + 0.5 * rng.normal(size=(N_ROWS, 3))
    y3 = scores.argmax(1).astype(np.int64)
    y2 = (scores[:, 0] > scores[:, 1]).astype(np.int64)
    y_reg = (X @ rng.normal(size=(N_FEATURES, 2)) + np.sin(X[:, :2])).astype(np.float32)
    return X, y2, y3, y_reg


def _fit(net_cls, module, X, y, **kwargs):
    torch.manual_seed(0)
    return net_cls(module, max_epochs=10, lr=0.2, train_split=None, verbose=0, **kwargs).fit(X, y)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def nets(data):
    X, y2, y3, y_reg = data
    return {
        # CrossEntropyLoss: the module returns logits, predict_proba is their softmax. String labels via ``classes``.
        "ce_multi": _fit(
            NeuralNetClassifier, Logits(3), X, y3, criterion=torch.nn.CrossEntropyLoss, classes=list(CLASS_NAMES)
        ),
        "ce_binary": _fit(NeuralNetClassifier, Logits(2), X, y2, criterion=torch.nn.CrossEntropyLoss),
        # Default NLLLoss: the module returns probabilities.
        "nll_multi": _fit(NeuralNetClassifier, Probabilities(3), X, y3),
        "nll_binary": _fit(NeuralNetClassifier, Probabilities(2), X, y2),
        # BCEWithLogitsLoss: one logit, (n,) or (n, 1).
        "bin_1d": _fit(NeuralNetBinaryClassifier, BinaryLogit(squeeze=True), X, y2.astype(np.float32)),
        "bin_2d": _fit(NeuralNetBinaryClassifier, BinaryLogit(squeeze=False), X, y2.astype(np.float32)),
        "reg": _fit(NeuralNetRegressor, Logits(1), X, y_reg[:, :1]),
        "reg2": _fit(NeuralNetRegressor, Logits(2), X, y_reg),
    }


CLASSIFIERS = ("ce_multi", "ce_binary", "nll_multi", "nll_binary", "bin_1d", "bin_2d")
MULTI = ("ce_multi", "nll_multi")


def _rows(data):
    return data[0][:N_EXPLAINED]


def _proba(net, X):
    return net.predict_proba(X).astype(np.float64)


def _expected(net, X, index, output):
    """What the net computes for class ``index`` of each row, in ``output`` space."""
    p = _proba(net, X)[np.arange(len(X)), index]
    if output == "probability":
        return p
    if output == "logit":
        return np.log(p) - np.log1p(-p)
    raw = net.forward(X, training=False).detach().numpy().astype(np.float64).reshape(len(X), -1)
    if raw.shape[1] == 1:  # one positive-class logit z: class 1 is z, class 0 is -z
        return np.where(index == 1, raw[:, 0], -raw[:, 0])
    return raw[np.arange(len(X)), index]


def _default_index(name, net, X):
    if name in MULTI:
        return _proba(net, X).argmax(1)
    return np.ones(len(X), dtype=np.int64)


class TestClassifierOutputs:
    @pytest.mark.parametrize("output", OUTPUTS)
    @pytest.mark.parametrize("name", CLASSIFIERS)
    def test_predictions_match_the_net(self, nets, data, name, output):
        net, X = nets[name], _rows(data)
        explainer = skig.Explainer(net, output=output, n_steps=16).fit(data[0])
        exp = explainer.explain(X)
        space = "logit" if output == "auto" else output
        assert explainer.output_ == space
        assert exp.output == space
        index = _default_index(name, net, X)
        np.testing.assert_allclose(exp.predictions, _expected(net, X, index, space), rtol=1e-5, atol=PRED_ATOL)
        np.testing.assert_array_equal(exp.target, np.asarray(net.classes_)[index])

    @pytest.mark.parametrize("name", CLASSIFIERS)
    def test_probability_attributions_reconstruct_predict_proba(self, nets, data, name):
        net, X = nets[name], _rows(data)
        explainer = skig.Explainer(net, output="probability", n_steps=256).fit(data[0])
        exp = explainer.explain(X)
        c = _default_index(name, net, X)
        proba = _proba(net, X)[np.arange(len(X)), c]
        reconstructed = exp.values.to_numpy().sum(1) + exp.base_values.to_numpy()
        assert np.abs(reconstructed - proba).max() <= COMPLETENESS_ATOL
        np.testing.assert_array_equal(exp.delta, exp.values.sum(axis=1) + exp.base_values - exp.predictions)
        assert exp.delta.abs().max() <= COMPLETENESS_ATOL
        # The base value is predict_proba at the (mean) baseline row.
        at_baseline = _proba(net, data[0].mean(0, keepdims=True))[0]
        np.testing.assert_allclose(exp.base_values, at_baseline[c], atol=PRED_ATOL)

    @pytest.mark.parametrize("output", ("raw", "logit"))
    @pytest.mark.parametrize("name", CLASSIFIERS)
    def test_completeness_in_other_spaces(self, nets, data, name, output):
        exp = skig.Explainer(nets[name], output=output, n_steps=256).fit(data[0]).explain(_rows(data))
        assert exp.delta.abs().max() <= 10 * COMPLETENESS_ATOL

    @pytest.mark.parametrize("name", CLASSIFIERS)
    def test_explaining_leaves_the_net_unchanged(self, nets, data, name):
        net, X = nets[name], _rows(data)
        before = net.predict_proba(X)
        skig.Explainer(net, n_steps=8).fit(data[0]).explain(X)
        np.testing.assert_array_equal(net.predict_proba(X), before)
        assert all(param.requires_grad for param in net.module_.parameters())


class TestTargets:
    @pytest.mark.parametrize("name", ("ce_binary", "nll_binary", "bin_1d", "bin_2d"))
    def test_binary_default_is_positive_class(self, nets, data, name):
        net, X = nets[name], _rows(data)
        exp = skig.Explainer(net, output="probability", n_steps=8).fit(data[0]).explain(X)
        assert (exp.target == net.classes_[1]).all()
        np.testing.assert_allclose(exp.predictions, _proba(net, X)[:, 1], atol=PRED_ATOL)

    @pytest.mark.parametrize("name", ("ce_binary", "nll_binary", "bin_1d", "bin_2d"))
    @pytest.mark.parametrize("output", ("raw", "logit", "probability"))
    def test_binary_negative_class(self, nets, data, name, output):
        net, X = nets[name], _rows(data)
        exp = skig.Explainer(net, output=output, n_steps=8).fit(data[0]).explain(X, target=0)
        assert (exp.target == 0).all()
        expected = _expected(net, X, np.zeros(len(X), dtype=np.int64), output)
        np.testing.assert_allclose(exp.predictions, expected, rtol=1e-5, atol=PRED_ATOL)

    @pytest.mark.parametrize("name", MULTI)
    def test_multiclass_default_is_predicted_class(self, nets, data, name):
        net, X = nets[name], _rows(data)
        exp = skig.Explainer(net, output="probability", n_steps=8).fit(data[0]).explain(X)
        predicted = _proba(net, X).argmax(1)
        assert len(np.unique(predicted)) > 1, "the fixture should predict several classes"
        np.testing.assert_array_equal(exp.target, np.asarray(net.classes_)[predicted])
        np.testing.assert_allclose(exp.predictions, _proba(net, X).max(1), atol=PRED_ATOL)

    @pytest.mark.parametrize("how", ("param", "explain"))
    def test_string_label_target(self, nets, data, how):
        net, X = nets["ce_multi"], _rows(data)
        np.testing.assert_array_equal(net.classes_, CLASS_NAMES)
        explainer = skig.Explainer(net, output="probability", n_steps=8, target="good" if how == "param" else None)
        explainer.fit(data[0])
        exp = explainer.explain(X) if how == "param" else explainer.explain(X, target="good")
        assert exp.target.tolist() == ["good"] * len(X)
        np.testing.assert_allclose(exp.predictions, _proba(net, X)[:, 1], atol=PRED_ATOL)

    def test_integer_index_with_string_labels(self, nets, data):
        net, X = nets["ce_multi"], _rows(data)
        exp = skig.Explainer(net, output="probability", n_steps=8).fit(data[0]).explain(X, target=2)
        assert exp.target.tolist() == ["ok"] * len(X)
        np.testing.assert_allclose(exp.predictions, _proba(net, X)[:, 2], atol=PRED_ATOL)

    @pytest.mark.parametrize("name", ("ce_multi", "nll_multi"))
    def test_per_row_targets(self, nets, data, name):
        net, X = nets[name], _rows(data)
        index = np.random.RandomState(3).randint(0, 3, len(X))
        labels = np.asarray(net.classes_)[index]
        exp = skig.Explainer(net, output="probability", n_steps=8).fit(data[0]).explain(X, target=labels)
        np.testing.assert_array_equal(exp.target, labels)
        np.testing.assert_allclose(exp.predictions, _proba(net, X)[np.arange(len(X)), index], atol=PRED_ATOL)
        raw = skig.Explainer(net, output="raw", n_steps=8).fit(data[0]).explain(X, target=list(labels))
        np.testing.assert_allclose(raw.predictions, _expected(net, X, index, "raw"), rtol=1e-5, atol=PRED_ATOL)

    @pytest.mark.parametrize("target", ("meh", 3, -1, ["bad", "nope"] * (N_EXPLAINED // 2)))
    def test_out_of_range_target_names_the_classes(self, nets, data, target):
        explainer = skig.Explainer(nets["ce_multi"], n_steps=8).fit(data[0])
        with pytest.raises(ValueError, match=re.escape("['bad', 'good', 'ok']")):
            explainer.explain(_rows(data), target=target)

    @pytest.mark.parametrize("name", ("bin_1d", "nll_binary"))
    def test_out_of_range_binary_target(self, nets, data, name):
        explainer = skig.Explainer(nets[name], n_steps=8).fit(data[0])
        with pytest.raises(ValueError, match=r"target 2 is out of range.*\[0, 1\]"):
            explainer.explain(_rows(data), target=2)

    def test_target_of_wrong_length(self, nets, data):
        explainer = skig.Explainer(nets["ce_multi"], n_steps=8).fit(data[0])
        with pytest.raises(ValueError, match=rf"shape \(3,\).*\({N_EXPLAINED},\)"):
            explainer.explain(_rows(data), target=["bad", "good", "ok"])


class TestRegressor:
    @pytest.mark.parametrize("output", ("raw", "auto"))
    def test_raw_predictions_match_predict(self, nets, data, output):
        net, X = nets["reg"], _rows(data)
        explainer = skig.Explainer(net, output=output, n_steps=64).fit(data[0])
        assert explainer.output_ == "raw"
        assert not hasattr(explainer, "classes_")
        exp = explainer.explain(X)
        np.testing.assert_allclose(exp.predictions, net.predict(X).ravel(), rtol=1e-5, atol=PRED_ATOL)
        assert (exp.target == 0).all()
        assert exp.delta.abs().max() <= COMPLETENESS_ATOL

    @pytest.mark.parametrize("output", ("probability", "logit"))
    @pytest.mark.parametrize("name", ("reg", "reg2"))
    def test_class_spaces_are_refused(self, nets, data, name, output):
        with pytest.raises(ValueError, match=rf"output='{output}' is not available.*\['raw'\]"):
            skig.Explainer(nets[name], output=output).fit(data[0])

    def test_two_outputs_need_a_target(self, nets, data):
        explainer = skig.Explainer(nets["reg2"], n_steps=8).fit(data[0])
        assert explainer.n_outputs_ == 2
        with pytest.raises(ValueError, match=r"2 outputs; pass target= one of \[0, 1\]"):
            explainer.explain(_rows(data))

    @pytest.mark.parametrize("target", (0, 1))
    def test_two_outputs_with_target(self, nets, data, target):
        net, X = nets["reg2"], _rows(data)
        exp = skig.Explainer(net, n_steps=64).fit(data[0]).explain(X, target=target)
        np.testing.assert_allclose(exp.predictions, net.predict(X)[:, target], rtol=1e-5, atol=PRED_ATOL)
        assert (exp.target == target).all()
        assert exp.delta.abs().max() <= COMPLETENESS_ATOL

    def test_two_outputs_target_out_of_range(self, nets, data):
        explainer = skig.Explainer(nets["reg2"], n_steps=8).fit(data[0])
        with pytest.raises(ValueError, match=r"target 2 is out of range.*outputs \[0, 1\]"):
            explainer.explain(_rows(data), target=2)


class TestUnfitted:
    @pytest.mark.parametrize(
        "net",
        [
            NeuralNetClassifier(Logits, criterion=torch.nn.CrossEntropyLoss),
            NeuralNetBinaryClassifier(BinaryLogit),
            NeuralNetRegressor(Logits, module__n_outputs=1),
        ],
        ids=["classifier", "binary", "regressor"],
    )
    def test_unfitted_net_raises_not_fitted(self, net, data):
        with pytest.raises(NotFittedError, match=type(net).__name__):
            skig.Explainer(net).fit(data[0])
