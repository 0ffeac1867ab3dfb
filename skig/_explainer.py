"""The scikit-learn estimator that explains a differentiable model with the Integrated Gradients family.

``fit`` learns baselines and the feature mapping from reference rows; ``explain`` returns an :class:`Explanation`.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._explanation import Explanation
from ._validation import check_encoded_finite, check_rows, feature_names
from .baselines import BACKGROUND_ESTIMATORS, BASELINE_STATISTICS, fit_baselines
from .engine import (
    GRADIENT_RULES,
    RULES,
    SAMPLE_AGGREGATES,
    aggregate_samples,
    chunk_points,
    evaluate,
    expected_paths,
    frozen,
    functional_relu_calls,
    gradient_rule,
    guided_integrated_gradients,
    integrated_gradients,
    noisy_copies,
    path_gradients,
    refine_steps,
)
from .engine._device import module_device, module_dtype, placed, resolve_device
from .models import adapt_model, settle_head
from .models._feature_mapping import NonSeparableTransformerError

METHODS = ("ig", "smoothgrad", "smoothgrad_sq", "vargrad", "expected", "guided")
#: Methods that draw random numbers when explaining.
STOCHASTIC_METHODS = (*SAMPLE_AGGREGATES, "expected")
OUTPUTS = ("auto", "raw", "logit", "probability")
_PROBE_ROWS = 8
# n_steps="auto" starts here and doubles the rows that miss the tolerance.
_AUTO_START_STEPS = 8
# SmoothGrad holds rows x samples x features attributions at once: rows go in blocks of at most this many values.
_SAMPLE_BLOCK_VALUES = 2**24


def _torch_generator(rng: np.random.RandomState) -> torch.Generator:
    """A CPU torch generator seeded from ``rng``, so torch draws follow ``random_state`` on every device."""
    return torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))


def _first_output(raw):
    # skorch's convention: a module returning a tuple has its prediction first.
    return raw[0] if isinstance(raw, (tuple, list)) else raw


class Explainer(TransformerMixin, BaseEstimator):
    """Integrated Gradients and its family for a differentiable tabular model, as a scikit-learn estimator.

    Every method runs on one batched engine: rows x samples x steps go through the model together, in passes
    bounded by ``batch_size``. See ``docs/methods.md`` for when to use which method.

    Parameters
    ----------
    model : torch.nn.Module, skorch net, scikit-learn linear model or MLP, or Pipeline
        The model to explain, already fitted. A ``torch.nn.Module`` must take a float tensor of shape (n, d).
        The explainer never fits or modifies it; :func:`~sklearn.base.clone` keeps the same model.
    method : {"ig", "smoothgrad", "smoothgrad_sq", "vargrad", "expected", "guided"}, default="ig"
        The attribution method.

        - ``"ig"``: Integrated Gradients, averaged over the (weighted) baselines.
        - ``"smoothgrad"``, ``"smoothgrad_sq"``, ``"vargrad"``: IG of ``n_samples`` noisy copies of each row,
          reduced to their mean, mean of squares, or variance. Only ``"smoothgrad"`` is additive: its ``delta``
          is the quadrature error plus the smoothing offset ``mean f(x + noise) - f(x)``; the other two are not
          complete by construction and their ``delta`` is only ``values.sum + base_values - predictions``.
        - ``"expected"``: Expected IG (expected gradients): IG averaged over a background distribution
          (``baseline="sample"``, ``"kmeans"`` or reference rows) with ``n_samples`` (background row, alpha)
          pairs per row: exact stratification over the background when ``n_samples`` is at least twice its
          size, scrambled Sobol pairs otherwise, never independent draws. ``base_values`` is the weighted mean
          output over the background; ``delta`` is the sampling (or quadrature) error.
        - ``"guided"``: Guided IG (Kapishnikov et al., 2021): an adaptive path that moves the features with the
          smallest absolute gradient first; ``n_steps`` sequential steps, each batched over all rows.
    baseline : {"zero", "mean", "median", "sample", "kmeans"}, array-like, Series or DataFrame, default="mean"
        Where paths start, in the space the model reads. ``"zero"``, ``"mean"`` and ``"median"`` are one row, a
        statistic of the (preprocessed) reference rows; ``"sample"`` is ``n_baselines`` reference rows drawn with
        ``random_state``; ``"kmeans"`` is ``n_baselines`` k-means centroids weighted by cluster size. Raw row(s)
        are preprocessed like ``X``. Several rows average the attributions over those baselines.
        ``method="expected"`` needs a background: ``"sample"``, ``"kmeans"`` or rows.
    n_steps : int or "auto", default=64
        Model evaluations per path (quadrature points; Guided IG's steps). ``"auto"`` starts at 8 and doubles the
        steps of the rows whose ``|delta|`` exceeds ``tol * |prediction - base value|``, up to ``max_steps``;
        ``Explanation.n_steps`` tells what each row used. Not used by ``method="expected"``, whose budget is
        ``n_samples``.
    rule : {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"}, \
            default="gausslegendre"
        Quadrature rule, defined as in Captum. ``method="expected"`` uses it when ``n_samples`` gives every
        background row at least 2 points; ``method="guided"`` integrates each of its steps by the trapezoid rule.
    target : None, class label, output index or array-like of shape (n_rows,), default=None
        The output explained. None: the single output of a regressor, the positive class of a binary classifier,
        the predicted class of each row for a multi-class model. A label (or, failing that, an index) explains that
        class for every row; an array gives one per row.
    output : {"auto", "raw", "logit", "probability"}, default="auto"
        Output space explained. ``"raw"`` is what the module returns, ``"logit"`` the log-odds of the target class,
        ``"probability"`` the probability as ``predict_proba`` gives it. ``"auto"`` is ``"logit"`` for classifiers and
        ``"raw"`` for regressors and plain torch modules.
    gradient_rule : {"standard", "deconv", "guided_backprop"}, default="standard"
        How gradients pass back through every ``torch.nn.ReLU`` module: the true gradient, deconvolution (only
        positive gradients, ignoring the forward mask) or guided backpropagation (the forward mask and positive
        gradients). Combines with every method. A model calling ReLU as a function (``torch.relu``, ``F.relu``,
        ``Tensor.relu``) is refused for the non-standard rules, since those calls would keep true gradients.
        The modified rules are not gradients of the model, so completeness does not hold: ``delta`` says how far.
    n_samples : int, default=32
        Noisy copies per row (SmoothGrad family), or (background row, alpha) pairs per row (Expected IG).
    noise_level : float, default=0.1
        SmoothGrad noise standard deviation, as a multiple of each encoded column's standard deviation in the
        reference rows (``noise_scale_``).
    n_baselines : int, default=64
        Background rows for ``baseline="sample"`` or ``"kmeans"``.
    baseline_weights : array-like of shape (n_baseline_rows,) or None, default=None
        Weights of reference rows given as ``baseline`` (normalised to sum to 1); None weighs them equally.
    fraction : float in (0, 1], default=0.25
        Guided IG: share of the features (those with the smallest absolute gradient) moved at each pass.
    max_dist : float in [0, 1], default=0.02
        Guided IG: how far (in alpha) a feature may stray from the straight path; 0 is left-Riemann IG, 1 is
        unbounded Guided IG. The default is the reference implementation's.
    tol : float, default=0.01
        With ``n_steps="auto"``: the completeness tolerance, relative to ``|prediction - base value|``.
    max_steps : int, default=1024
        With ``n_steps="auto"``: the most steps any row gets.
    batch_size : "auto" or int, default="auto"
        Most path points per forward/backward pass. ``"auto"`` sizes passes from the memory free on the device.
    device : "auto", str or torch.device, default="auto"
        Where the model runs: ``"auto"`` is CUDA when available. A model living elsewhere is copied there; the
        user's model never moves.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice: SmoothGrad noise, the background sample or k-means, Expected IG's
        scrambled Sobol points. An int gives the same result at every call.
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
        Baseline rows in the space the model reads (also ``background_``).
    baseline_weights_ : ndarray of shape (n_baselines,)
        Weight of each baseline row (also ``background_weights_``).
    noise_scale_ : ndarray of shape (n_encoded,)
        Standard deviation of each encoded column in the reference rows; SmoothGrad's noise is
        ``noise_level * noise_scale_``.
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
        "baseline": [StrOptions(set(BASELINE_STATISTICS + BACKGROUND_ESTIMATORS)), "array-like"],
        "n_steps": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "rule": [StrOptions(set(RULES))],
        "gradient_rule": [StrOptions(set(GRADIENT_RULES))],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "n_baselines": [Interval(Integral, 1, None, closed="left")],
        "baseline_weights": ["array-like", None],
        "fraction": [Interval(Real, 0, 1, closed="right")],
        "max_dist": [Interval(Real, 0, 1, closed="both")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_steps": [Interval(Integral, 1, None, closed="left")],
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
        gradient_rule="standard",
        n_samples=32,
        noise_level=0.1,
        n_baselines=64,
        baseline_weights=None,
        fraction=0.25,
        max_dist=0.02,
        tol=0.01,
        max_steps=1024,
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
        self.gradient_rule = gradient_rule
        self.n_samples = n_samples
        self.noise_level = noise_level
        self.n_baselines = n_baselines
        self.baseline_weights = baseline_weights
        self.fraction = fraction
        self.max_dist = max_dist
        self.tol = tol
        self.max_steps = max_steps
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
        tags.non_deterministic = self.method in STOCHASTIC_METHODS and not isinstance(self.random_state, Integral)
        return tags

    @property
    def background_(self) -> pd.DataFrame:
        """The baseline rows, named for Expected IG: the background distribution's support, in encoded columns."""
        return self.baseline_

    @property
    def background_weights_(self) -> np.ndarray:
        """The weight of each row of ``background_``."""
        return self.baseline_weights_

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
        self._check_interactions()
        resolve_device(self.device)  # a device torch does not know is bad input: refuse it before any work
        adapter = adapt_model(self.model)
        X = check_rows(self, X, reset=True, numeric=adapter.numeric_input)
        raw_names = feature_names(self)
        encoded = adapter.encode(X)
        encoded_names = self._encoded_names(adapter, raw_names, encoded.shape[1])
        check_encoded_finite(encoded, encoded_names)
        self.encoded_feature_names_ = np.asarray(encoded_names, dtype=object)
        self.n_outputs_, adapter.model = self._probe(adapter, encoded[:_PROBE_ROWS])
        self._check_gradient_rule(adapter, encoded[:_PROBE_ROWS])
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

        baselines, weights = fit_baselines(
            self.baseline,
            encoded,
            encode_rows,
            n_baselines=self.n_baselines,
            baseline_weights=self.baseline_weights,
            random_state=self.random_state,
        )
        self.baseline_ = pd.DataFrame(baselines, columns=self.encoded_feature_names_)
        self.baseline_weights_ = weights
        self.noise_scale_ = encoded.std(axis=0)
        return self

    def _encoded_names(self, adapter, raw_names: np.ndarray, n_encoded: int) -> np.ndarray:
        """Encoded column names; sets ``encoded_feature_groups_`` (the raw column of each encoded one)."""
        try:
            groups, encoded_names = adapter.feature_groups(raw_names)
        except NonSeparableTransformerError:
            if self.features != "encoded":
                raise
            # Attributions stay on the encoded columns: only their names are needed, not a map to raw columns.
            try:
                encoded_names = adapter.preprocessor.get_feature_names_out(raw_names)
            except (AttributeError, ValueError):
                encoded_names = [f"encoded{i}" for i in range(n_encoded)]
            groups = None
        self.encoded_feature_groups_ = (
            np.arange(len(encoded_names)) if self.features == "encoded" else np.asarray(groups)
        )
        return encoded_names

    def _check_interactions(self) -> None:
        """Refuse parameter combinations that have no meaning, saying what would be accepted."""
        if self.method == "expected":
            if isinstance(self.baseline, str) and self.baseline in BASELINE_STATISTICS:
                raise ValueError(
                    f"method='expected' averages over a background distribution, but baseline={self.baseline!r} is "
                    "a single row; use baseline='sample' (n_baselines rows drawn from X), 'kmeans' (n_baselines "
                    "weighted centroids) or reference rows (with optional baseline_weights)."
                )
            if isinstance(self.n_steps, str):
                raise ValueError(
                    "n_steps='auto' does not apply to method='expected', whose budget is n_samples path points per "
                    "row; give n_samples instead, or use method='ig' with a background for exact quadrature."
                )
        steps = self.max_steps if isinstance(self.n_steps, str) else self.n_steps
        if self.rule == "riemann_trapezoid" and self.method != "guided" and steps < 2:
            what = f"max_steps={self.max_steps}" if isinstance(self.n_steps, str) else f"n_steps={self.n_steps}"
            raise ValueError(f"rule='riemann_trapezoid' needs n_steps >= 2 (and max_steps >= 2); got {what}.")

    def _check_gradient_rule(self, adapter, encoded: np.ndarray) -> None:
        """A non-standard rule must reach every ReLU: refuse models that call ReLU as a function."""
        if self.gradient_rule == "standard":
            return
        module = adapter.module
        with frozen(module):
            probe = torch.as_tensor(encoded, dtype=module_dtype(module), device=module_device(module))
            calls = functional_relu_calls(module, probe)
        if calls:
            raise ValueError(
                f"gradient_rule={self.gradient_rule!r} overrides the backward pass of torch.nn.ReLU modules, but "
                f"{adapter.model.description} also calls ReLU as a function ({calls} call(s) of torch.relu, "
                "F.relu or Tensor.relu per forward pass), whose gradient would silently stay standard. Use "
                "torch.nn.ReLU modules in the model, or gradient_rule='standard'."
            )

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
        with (
            placed(module, resolve_device(self.device)) as module,
            frozen(module),
            gradient_rule(module, self.gradient_rule),
        ):
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
            predictions = evaluate(scalar_fn, inputs, targets, max_points).double()
            base_values = self._base_values(scalar_fn, baselines, weights, targets, max_points)
            attributions, steps = self._attribute(
                scalar_fn, inputs, baselines, weights, targets, predictions, base_values, max_points
            )
        return self._explanation(
            rows, index, attributions.cpu().numpy(), predictions, base_values, labels, steps.cpu().numpy()
        )

    def _attribute(self, scalar_fn, inputs, baselines, weights, targets, predictions, base_values, max_points):
        """Encoded attributions (n, d) of the chosen method, and the steps each row used (n,)."""
        n_rows, device = len(inputs), inputs.device
        rows = torch.arange(n_rows, device=device)
        eps = torch.finfo(inputs.dtype).eps
        rng = check_random_state(self.random_state) if self.method in STOCHASTIC_METHODS else None

        def ig(ends, ends_targets):
            def attribute(groups, n_steps):
                return integrated_gradients(
                    scalar_fn,
                    ends[groups],
                    baselines,
                    weights,
                    ends_targets[groups],
                    rule=self.rule,
                    n_steps=n_steps,
                    max_points=max_points,
                    progress=self.progress,
                )

            return attribute

        if self.method == "ig":
            return self._with_steps(ig(inputs, targets), lambda: predictions, base_values, rows, n_rows, eps)
        if self.method == "expected":
            paths = expected_paths(
                inputs,
                baselines,
                weights,
                targets,
                n_samples=self.n_samples,
                rule=self.rule,
                seed=int(rng.randint(np.iinfo(np.int32).max)),
                generator=_torch_generator(rng),
            )
            attributions = path_gradients(scalar_fn, paths, max_points, self.progress)
            return attributions, torch.full((n_rows,), self.n_samples, dtype=torch.long)
        if self.method == "guided":
            return self._guided(scalar_fn, inputs, baselines, weights, targets, predictions, max_points)
        # SmoothGrad family: groups are rows x noisy copies, reduced per row; rows go in memory-bounded blocks.
        generator = _torch_generator(rng)
        noise_std = torch.as_tensor(self.noise_level * self.noise_scale_, dtype=torch.float64)
        n_samples, n_features = self.n_samples, inputs.shape[1]
        block = max(1, _SAMPLE_BLOCK_VALUES // (n_samples * n_features))
        parts, steps = [], []
        for lo in range(0, n_rows, block):
            hi = min(lo + block, n_rows)
            ends = noisy_copies(inputs[lo:hi], noise_std, n_samples, generator)
            ends_targets = targets[lo:hi].repeat_interleave(n_samples)

            def end_values(ends=ends, ends_targets=ends_targets):
                return evaluate(scalar_fn, ends, ends_targets, max_points).double()

            values, block_steps = self._with_steps(
                ig(ends, ends_targets),
                end_values,
                base_values[lo:hi].repeat_interleave(n_samples),
                rows[: hi - lo].repeat_interleave(n_samples),
                hi - lo,
                eps,
            )
            parts.append(aggregate_samples(values, n_samples, self.method))
            steps.append(block_steps)
        return torch.cat(parts), torch.cat(steps)

    def _guided(self, scalar_fn, inputs, baselines, weights, targets, predictions, max_points):
        """Guided IG from every baseline (groups are rows x baselines), weighted over the baselines."""
        n_rows, n_baselines = len(inputs), len(baselines)
        ends = inputs.repeat_interleave(n_baselines, 0)
        starts = baselines.repeat(n_rows, 1)
        group_targets = targets.repeat_interleave(n_baselines)
        start_values = evaluate(scalar_fn, starts, group_targets, max_points).double()

        def attribute(groups, n_steps):
            return guided_integrated_gradients(
                scalar_fn,
                ends[groups],
                starts[groups],
                group_targets[groups],
                n_steps=n_steps,
                fraction=self.fraction,
                max_dist=self.max_dist,
                max_points=max_points,
                progress=self.progress,
            )

        values, steps = self._with_steps(
            attribute,
            lambda: predictions.repeat_interleave(n_baselines),
            start_values,
            torch.arange(n_rows, device=inputs.device).repeat_interleave(n_baselines),
            n_rows,
            torch.finfo(inputs.dtype).eps,
        )
        per_baseline = values.reshape(n_rows, n_baselines, -1)
        return (per_baseline * weights.to(per_baseline.dtype).view(1, -1, 1)).sum(1), steps

    def _with_steps(self, attribute, end_values, start_values, group_rows, n_rows, eps):
        """``attribute`` at the fixed ``n_steps``, or adaptively refined when ``n_steps="auto"``."""
        if not isinstance(self.n_steps, str):
            groups = torch.arange(len(group_rows), device=group_rows.device)
            return attribute(groups, self.n_steps), torch.full((n_rows,), self.n_steps, dtype=torch.long)
        return refine_steps(
            attribute,
            end_values(),
            start_values,
            group_rows,
            n_rows,
            tol=self.tol,
            start_steps=_AUTO_START_STEPS,
            max_steps=self.max_steps,
            eps=eps,
        )

    def _base_values(self, scalar_fn, baselines, weights, targets, max_points) -> torch.Tensor:
        """Weighted mean model output over the baselines, for each row's target."""
        out = torch.empty(len(targets), dtype=torch.float64, device=targets.device)
        for value in torch.unique(targets).tolist():
            at_baselines = evaluate(
                scalar_fn, baselines, torch.full_like(targets[:1], value).expand(len(baselines)), max_points
            )
            out[targets == value] = (at_baselines.double() * weights).sum()
        return out

    def _explanation(self, rows, index, encoded_attributions, predictions, base_values, labels, steps) -> Explanation:
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
            n_steps=pd.Series(steps, index=index),
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
