"""The scikit-learn estimator that explains a differentiable model with Integrated Gradients.

``fit`` learns baselines and the feature mapping from reference rows; ``explain`` returns an :class:`Explanation`.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._explanation import Explanation
from ._validation import check_encoded_finite, check_rows, feature_names
from .baselines import BASELINE_STATISTICS, fit_baselines
from .engine import RULES, chunk_points, evaluate, frozen, integrated_gradients
from .engine._device import module_device, module_dtype, placed, resolve_device
from .models import adapt_model, settle_head

METHODS = ("ig",)
OUTPUTS = ("auto", "raw", "logit", "probability")
_PROBE_ROWS = 8


def _first_output(raw):
    # skorch's convention: a module returning a tuple has its prediction first.
    return raw[0] if isinstance(raw, (tuple, list)) else raw


class Explainer(TransformerMixin, BaseEstimator):
    """Integrated Gradients for a differentiable tabular model, as a scikit-learn estimator.

    Parameters
    ----------
    model : torch.nn.Module, skorch net, scikit-learn linear model or MLP, or Pipeline
        The model to explain, already fitted. A ``torch.nn.Module`` must take a float tensor of shape (n, d).
        The explainer never fits or modifies it; :func:`~sklearn.base.clone` keeps the same model.
    method : {"ig"}, default="ig"
        The attribution method.
    baseline : {"zero", "mean", "median"}, array-like, Series or DataFrame, default="mean"
        Where paths start. A statistic is learned in ``fit`` from the (preprocessed) reference rows; raw row(s)
        are preprocessed like ``X``. Several rows average IG over those baselines.
    n_steps : int, default=64
        Model evaluations per path (quadrature points).
    rule : {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"}, \
            default="gausslegendre"
        Quadrature rule, defined as in Captum.
    target : None, class label, output index or array-like of shape (n_rows,), default=None
        The output explained. None: the single output of a regressor, the positive class of a binary classifier,
        the predicted class of each row for a multi-class model. A label (or, failing that, an index) explains that
        class for every row; an array gives one per row.
    output : {"auto", "raw", "logit", "probability"}, default="auto"
        Output space explained. ``"raw"`` is what the module returns, ``"logit"`` the log-odds of the target class,
        ``"probability"`` the probability as ``predict_proba`` gives it. ``"auto"`` is ``"logit"`` for classifiers and
        ``"raw"`` for regressors and plain torch modules.
    batch_size : "auto" or int, default="auto"
        Most path points per forward/backward pass. ``"auto"`` sizes passes from the memory free on the device.
    device : "auto", str or torch.device, default="auto"
        Where the model runs: ``"auto"`` is CUDA when available. A model living elsewhere is copied there; the
        user's model never moves.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice (noise, background samples).
    progress : bool, default=False
        Show a progress bar over passes.
    features : {"raw", "encoded"}, default="raw"
        Report attributions on the user's raw columns (encoded columns summed back to the column they come from) or
        on the preprocessed columns the model reads (needed when preprocessing mixes columns, e.g. PCA).

    Attributes
    ----------
    n_features_in_ : int
        Number of raw columns seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Raw column names seen in ``fit``; only defined when X had string column names.
    baseline_ : DataFrame of shape (n_baselines, n_encoded)
        Baseline rows in the space the model reads.
    baseline_weights_ : ndarray of shape (n_baselines,)
        Weight of each baseline row.
    encoded_feature_names_ : ndarray of shape (n_encoded,)
        Names of the columns the model reads.
    encoded_feature_groups_ : ndarray of shape (n_encoded,)
        For each encoded column, the index of the raw column it comes from.
    classes_ : ndarray
        Class labels of a classifier, in output order.
    n_outputs_ : int
        Number of explainable outputs (classes for a classifier).
    output_ : str
        The output space explained, ``"auto"`` resolved.

    See Also
    --------
    Explanation : The result of :meth:`explain`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> import skig
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> exp = skig.Explainer(model).fit(X).explain(X[:5])
    >>> exp.values.shape
    (5, 3)
    >>> bool(exp.delta.abs().max() < 1e-4)
    True
    """

    _parameter_constraints: dict = {
        "model": "no_validation",
        "method": [StrOptions(set(METHODS))],
        "baseline": [StrOptions(set(BASELINE_STATISTICS)), "array-like"],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "rule": [StrOptions(set(RULES))],
        "target": "no_validation",
        "output": [StrOptions(set(OUTPUTS))],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "progress": ["boolean"],
        "features": [StrOptions({"raw", "encoded"})],
    }

    def __init__(
        self,
        model,
        *,
        method="ig",
        baseline="mean",
        n_steps=64,
        rule="gausslegendre",
        target=None,
        output="auto",
        batch_size="auto",
        device="auto",
        random_state=None,
        progress=False,
        features="raw",
    ):
        self.model = model
        self.method = method
        self.baseline = baseline
        self.n_steps = n_steps
        self.rule = rule
        self.target = target
        self.output = output
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.features = features

    def __sklearn_clone__(self):
        # The model is prefit and never changed by the explainer: a clone shares it instead of an unfitted copy.
        params = self.get_params(deep=False)
        model = params.pop("model")
        return type(self)(model, **{name: clone(value, safe=False) for name, value in params.items()})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn baselines and the feature mapping from reference rows, and check the model.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Reference rows in the model's raw input format (e.g. training data).
        y : None
            Ignored.

        Returns
        -------
        self : Explainer
            The fitted explainer.

        Raises
        ------
        TypeError
            If the model cannot be differentiated.
        sklearn.exceptions.NotFittedError
            If the model is not fitted.
        """
        fitted = {key: value for key, value in vars(self).items() if key.endswith("_") and not key.startswith("_")}
        try:
            return self._fit(X)
        except BaseException:
            # A failed (re)fit leaves the explainer as it was: fitted as before, or unfitted.
            for key in [key for key in vars(self) if key.endswith("_") and not key.startswith("_")]:
                delattr(self, key)
            vars(self).update(fitted)
            raise

    def _fit(self, X):
        """Fit, on the understanding that the caller restores the previous state if it raises."""
        if self.rule == "riemann_trapezoid" and self.n_steps < 2:
            raise ValueError("rule='riemann_trapezoid' needs n_steps >= 2.")
        resolve_device(self.device)  # a device torch does not know is bad input: refuse it before any work
        adapter = adapt_model(self.model)
        X = check_rows(self, X, reset=True, numeric=adapter.numeric_input)
        raw_names = feature_names(self)
        groups, encoded_names = adapter.feature_groups(raw_names)
        encoded = adapter.encode(X)
        check_encoded_finite(encoded, encoded_names)
        self.encoded_feature_names_ = np.asarray(encoded_names, dtype=object)
        self.encoded_feature_groups_ = (
            np.arange(len(encoded_names)) if self.features == "encoded" else np.asarray(groups)
        )
        self.n_outputs_, adapter.model = self._probe(adapter, encoded[:_PROBE_ROWS])
        if adapter.classes is not None:
            self.classes_ = adapter.classes
        elif hasattr(self, "classes_"):
            del self.classes_
        self.output_ = self._resolve_output(adapter)
        self.adapter_ = adapter

        def encode_rows(rows):
            try:
                rows = check_rows(self, rows, reset=False, numeric=adapter.numeric_input)
            except ValueError as error:
                raise ValueError(f"baseline rows do not match X: {error}") from error
            values = adapter.encode(rows)
            check_encoded_finite(values, self.encoded_feature_names_)
            return values

        baselines, weights = fit_baselines(self.baseline, encoded, encode_rows)
        self.baseline_ = pd.DataFrame(baselines, columns=self.encoded_feature_names_)
        self.baseline_weights_ = weights
        return self

    def _probe(self, adapter, encoded: np.ndarray):
        """Run a few rows through the model with gradients: learn the output count, prove differentiability."""
        module = adapter.module
        with frozen(module):
            inputs = torch.as_tensor(encoded, dtype=module_dtype(module), device=module_device(module))
            inputs.requires_grad_(True)
            with torch.enable_grad():
                try:
                    raw = _first_output(module(inputs))
                except Exception as error:
                    if "requires grad" in str(error):  # e.g. ``x.numpy()`` inside forward
                        raise TypeError(
                            f"{adapter.model.description} fails when its input requires a gradient ({error}); skig "
                            "needs a differentiable torch model. For tree ensembles use shap.TreeExplainer, for other "
                            "models shap.KernelExplainer."
                        ) from error
                    raise ValueError(
                        f"the model failed on the reference rows ({encoded.shape[1]} encoded columns): {error}"
                    ) from error
                if not isinstance(raw, torch.Tensor) or not raw.requires_grad:
                    raise TypeError(
                        f"{adapter.model.description} returned an output that does not depend differentiably on its "
                        "input (no gradient flows back); skig needs a differentiable torch model. For tree ensembles "
                        "use shap.TreeExplainer, for other models shap.KernelExplainer."
                    )
        width = raw.reshape(raw.shape[0], -1).shape[1]
        model = settle_head(adapter.model, width)
        return model.head.n_outputs(raw.detach()), model

    def _resolve_output(self, adapter) -> str:
        head = adapter.head
        if self.output == "auto":
            return "logit" if adapter.classes is not None and "logit" in head.spaces else "raw"
        if self.output not in head.spaces:
            raise ValueError(
                f"output={self.output!r} is not available for {adapter.model.description}, which has no class "
                f"probabilities; use one of {list(head.spaces)}."
            )
        return self.output

    # -------------------------------------------------------------- targets
    def _output_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """User-facing labels of the explainable outputs, and the head's index for each."""
        if hasattr(self, "classes_"):
            return np.asarray(self.classes_), np.arange(len(self.classes_))
        if self.adapter_.head.kind == "sigmoid":
            # A plain module with one output: output 0 is its positive-class logit.
            return np.array([0]), np.array([1])
        return np.arange(self.n_outputs_), np.arange(self.n_outputs_)

    def _label_index(self, value, labels: np.ndarray, index: np.ndarray) -> int:
        matches = np.flatnonzero(labels == value) if np.ndim(value) == 0 else []
        if len(matches):
            return int(index[matches[0]])
        if isinstance(value, (Integral, np.integer)) and not isinstance(value, bool) and 0 <= value < len(labels):
            return int(index[value])
        kind = "classes" if hasattr(self, "classes_") else "outputs"
        raise ValueError(f"target {value!r} is out of range: the model has {kind} {labels.tolist()}.")

    def _targets(self, target, n_rows: int, predicted) -> tuple[torch.Tensor, np.ndarray]:
        """Head indices (tensor) and user labels (array) of the explained output of every row."""
        labels, index = self._output_labels()
        if target is None:
            if self.adapter_.head.kind == "identity":
                if self.n_outputs_ != 1:
                    raise ValueError(
                        f"the model has {self.n_outputs_} outputs; pass target= one of {labels.tolist()} to choose."
                    )
                chosen = np.zeros(n_rows, dtype=np.int64)
            elif len(labels) <= 2:
                chosen = np.full(n_rows, index[-1], dtype=np.int64)
            else:
                chosen = predicted().cpu().numpy().astype(np.int64)
        elif np.ndim(target) == 0:
            chosen = np.full(n_rows, self._label_index(target, labels, index), dtype=np.int64)
        else:
            target = np.asarray(target)
            if target.shape != (n_rows,):
                raise ValueError(f"target has shape {target.shape}; one target per row needs shape ({n_rows},).")
            chosen = np.array([self._label_index(value, labels, index) for value in target], dtype=np.int64)
        back = dict(zip(index.tolist(), labels.tolist(), strict=True))
        return torch.as_tensor(chosen), np.array([back[i] for i in chosen.tolist()])

    # -------------------------------------------------------------- explain
    def explain(self, X, *, target=None) -> Explanation:
        """Attribute the model's output on each row to its raw features.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_rows, n_features)
            Rows to explain, with the columns seen in ``fit`` (a Series is one row).
        target : None, label, index or array-like of shape (n_rows,), default=None
            Overrides the ``target`` parameter for this call.

        Returns
        -------
        Explanation
            Attributions, base values, predictions, completeness delta and data, indexed like ``X``.
        """
        check_is_fitted(self)
        adapter = self.adapter_
        rows = check_rows(self, X, reset=False, numeric=adapter.numeric_input)
        encoded = adapter.encode(rows)
        check_encoded_finite(encoded, self.encoded_feature_names_)
        index = rows.index if isinstance(rows, pd.DataFrame) else pd.RangeIndex(len(rows))
        target = self.target if target is None else target

        module = adapter.module
        with placed(module, resolve_device(self.device)) as module, frozen(module):
            dtype, device = module_dtype(module), module_device(module)
            inputs = torch.as_tensor(encoded, dtype=dtype, device=device)
            max_points = chunk_points(module, inputs[:_PROBE_ROWS], self.batch_size)

            def raw_fn(points):
                return _first_output(module(points))

            def scalar_fn(points, targets):
                return adapter.head(raw_fn(points), targets, self.output_)

            def predicted():
                with torch.no_grad():
                    return torch.cat(
                        [
                            adapter.head.predicted(raw_fn(inputs[lo : lo + max_points]))
                            for lo in range(0, len(inputs), max_points)
                        ]
                    )

            targets, labels = self._targets(target, len(inputs), predicted)
            targets = targets.to(device)
            baselines = torch.tensor(self.baseline_.to_numpy(), dtype=dtype, device=device)
            weights = torch.as_tensor(self.baseline_weights_, dtype=torch.float64, device=device)
            attributions = integrated_gradients(
                scalar_fn,
                inputs,
                baselines,
                weights,
                targets,
                rule=self.rule,
                n_steps=self.n_steps,
                max_points=max_points,
                progress=self.progress,
            )
            predictions = evaluate(scalar_fn, inputs, targets, max_points).double()
            base_values = self._base_values(scalar_fn, baselines, weights, targets, max_points)
        return self._explanation(rows, index, attributions.cpu().numpy(), predictions, base_values, labels)

    def _base_values(self, scalar_fn, baselines, weights, targets, max_points) -> torch.Tensor:
        """Weighted mean model output over the baselines, for each row's target."""
        out = torch.empty(len(targets), dtype=torch.float64, device=targets.device)
        for value in torch.unique(targets).tolist():
            at_baselines = evaluate(
                scalar_fn, baselines, torch.full_like(targets[:1], value).expand(len(baselines)), max_points
            )
            out[targets == value] = (at_baselines.double() * weights).sum()
        return out

    def _explanation(self, rows, index, encoded_attributions, predictions, base_values, labels) -> Explanation:
        names_out = self.get_feature_names_out()
        encoded_values = pd.DataFrame(encoded_attributions, index=index, columns=self.encoded_feature_names_)
        if self.features == "encoded":
            values = encoded_values
            data = pd.DataFrame(self.adapter_.encode(rows), index=index, columns=names_out)
        else:
            to_raw = np.zeros((len(self.encoded_feature_groups_), len(names_out)))
            to_raw[np.arange(len(self.encoded_feature_groups_)), self.encoded_feature_groups_] = 1.0
            values = pd.DataFrame(encoded_attributions @ to_raw, index=index, columns=names_out)
            data = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, index=index, columns=names_out)
            data.columns = names_out
        return Explanation(
            values,
            pd.Series(base_values.cpu().numpy(), index=index),
            pd.Series(predictions.cpu().numpy(), index=index),
            data,
            encoded_values=encoded_values,
            target=pd.Series(labels, index=index),
            output=self.output_,
            method=self.method,
            n_steps=pd.Series(np.full(len(index), self.n_steps), index=index),
        )

    # ----------------------------------------------------- transformer API
    def transform(self, X):
        """Attribution values of each row on the raw features, as an array (see :meth:`explain`).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_rows, n_features)
            Rows to explain.

        Returns
        -------
        ndarray of shape (n_rows, n_features_out)
            Attributions; ``set_output(transform="pandas")`` gives a DataFrame.
        """
        return self.explain(X).values.to_numpy(dtype=np.float64)

    def get_feature_names_out(self, input_features=None):
        """Names of the attribution columns: the raw feature names (encoded ones with ``features="encoded"``).

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Must match ``feature_names_in_`` when given.

        Returns
        -------
        ndarray of str objects
        """
        check_is_fitted(self)
        if self.features == "encoded":
            return np.asarray(self.encoded_feature_names_, dtype=object)
        # sklearn's rule: names must equal feature_names_in_ when it exists, else only have the right length.
        return _check_feature_names_in(self, input_features)
