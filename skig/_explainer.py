"""The scikit-learn estimator that explains a differentiable model with the Integrated Gradients family.

``fit`` learns baselines and the feature mapping from reference rows; ``explain`` returns an :class:`Explanation`.
"""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _clone_parametrized, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._explanation import Explanation
from ._fit_checks import check_gradient_flows, check_gradient_rule, check_parameters, resolve_rule
from ._targets import resolve_targets
from ._validation import check_encoded_finite, check_rows, feature_names
from .baselines import BACKGROUND_ESTIMATORS, BASELINE_STATISTICS, fit_baselines
from .engine import (
    GRADIENT_RULES,
    METHODS,
    QUADRATURE_RULES,
    STOCHASTIC_METHODS,
    Integration,
    Problem,
    chunk_points,
    evaluate,
    gradient_rule,
    module_device,
    module_dtype,
    private_copy,
    resolve_device,
    row_keys,
)
from .models import PredictionOnly, adapt_model, model_input_columns
from .models._feature_mapping import NonSeparableTransformerError

OUTPUTS = ("auto", "raw", "logit", "probability")
#: The most steps a path may get: past this, quadrature gains nothing float64 can show, and building the
#: Gauss-Legendre rule alone takes seconds (O(n^2)); piecewise-linear nets get exact integration instead.
MAX_STEPS = 2**13
_PROBE_ROWS = 8


class Explainer(TransformerMixin, BaseEstimator):
    """Integrated Gradients and its family for a differentiable tabular model, as a scikit-learn estimator.

    Every method runs on one batched engine: rows x samples x steps go through the model together, in passes
    bounded by ``batch_size``. See ``docs/methods.md`` for when to use which method.

    Parameters
    ----------
    model : torch.nn.Module, skorch net, scikit-learn linear model or MLP, or Pipeline
        The model to explain, already fitted. A ``torch.nn.Module`` must take a float tensor of shape (n, d).
        The explainer never fits or modifies it: every explanation runs on a private copy (eval mode, parameters
        frozen, on ``device``), so other threads may use or train the model meanwhile; an explanation reflects
        the weights at the time of the call. :func:`~sklearn.base.clone` keeps the same model; an explainer
        restored from a pickle holds its own copy of it.
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
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Raw column names seen in ``fit``; only defined when X had string column names.
    baseline_ : DataFrame of shape (n_baselines, `n_features_in_`) or None
        The baseline (or background) rows in raw terms: the applicant(s) the paths start from, in the user's columns
        (NaN for ``baseline="zero"`` through preprocessing, which no raw row encodes to; None with
        ``features="encoded"``). ``Explanation.baseline`` carries it with the weights.
    encoded_baseline_ : DataFrame of shape (n_baselines, n_encoded)
        The same rows in the space the model reads.
    baseline_weights_ : ndarray of shape (n_baselines,)
        Weight of each baseline row, summing to 1.
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
        "n_steps": [Interval(Integral, 1, MAX_STEPS, closed="both"), StrOptions({"auto"})],
        "rule": [StrOptions({*QUADRATURE_RULES, "exact", "auto"})],
        "gradient_rule": [StrOptions(set(GRADIENT_RULES))],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "n_baselines": [Interval(Integral, 1, None, closed="left")],
        "baseline_weights": ["array-like", None],
        "fraction": [Interval(Real, 0, 1, closed="right")],
        "max_dist": [Interval(Real, 0, 1, closed="both")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_steps": [Interval(Integral, 1, MAX_STEPS, closed="both")],
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
        rule="auto",
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
        # scikit-learn's own clone (parameters, set_output configuration, metadata requests), except that the model
        # is prefit and never changed by the explainer: a clone shares it instead of getting an unfitted copy.
        shallow = copy.copy(self)
        shallow.model = _Shared(self.model)
        clone = _clone_parametrized(shallow)
        clone.model = self.model
        return clone

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.requires_fit = True
        tags.non_deterministic = self.method in STOCHASTIC_METHODS and not isinstance(self.random_state, Integral)
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
        state = dict(vars(self))
        try:
            return self._fit(X)
        except BaseException:
            # A failed (re)fit leaves the explainer as it was: fitted as before, or unfitted.
            vars(self).clear()
            vars(self).update(state)
            raise

    def _fit(self, X):
        """Fit, on the understanding that the caller restores the previous state if it raises."""
        params = self.get_params(deep=False)
        check_parameters(params)
        resolve_device(self.device)  # a device torch does not know is bad input: refuse it before any work
        numeric = not _has_preprocessing(self.model)
        rows = check_rows(self, X, reset=True, numeric=numeric, model_columns=model_input_columns(self.model))
        adapter = adapt_model(
            self.model, rows.iloc[:_PROBE_ROWS] if isinstance(rows, pd.DataFrame) else rows[:_PROBE_ROWS]
        )
        raw_names = feature_names(self)
        encoded = adapter.encode(rows)
        encoded_names = self._encoded_names(adapter, raw_names, encoded.shape[1])
        check_encoded_finite(encoded, encoded_names)
        self.encoded_feature_names_ = np.asarray(encoded_names, dtype=object)
        snapshot = private_copy(adapter.module)  # one private copy for every model check of this fit
        check_gradient_rule(adapter, snapshot, encoded[:_PROBE_ROWS], self.gradient_rule)
        if adapter.classes is not None:
            self.classes_ = adapter.classes
        elif hasattr(self, "classes_"):
            del self.classes_
        self.n_outputs_ = adapter.n_outputs
        self.output_ = adapter.output_space(self.output)
        self.adapter_ = adapter
        self.rule_ = resolve_rule(self.rule, self.method, self.gradient_rule, adapter, snapshot, encoded[:_PROBE_ROWS])

        def encode_rows(baseline_rows):
            try:
                baseline_rows = check_rows(self, baseline_rows, reset=False, numeric=adapter.numeric_input)
            except ValueError as error:
                raise ValueError(f"baseline rows do not match X: {error}") from error
            values = adapter.encode(baseline_rows)
            check_encoded_finite(values, self.encoded_feature_names_)
            return baseline_rows, values

        fitted = fit_baselines(
            self.baseline,
            rows,
            encoded,
            encode_rows,
            names=raw_names,
            encoded_is_raw=adapter.numeric_input,
            n_baselines=self.n_baselines,
            baseline_weights=self.baseline_weights,
            random_state=self.random_state,
        )
        self.encoded_baseline_ = pd.DataFrame(fitted.encoded, columns=self.encoded_feature_names_)
        self.baseline_weights_ = fitted.weights
        self.baseline_ = _raw_baseline(fitted.raw, raw_names, len(fitted.encoded), self.features)
        self.noise_scale_ = encoded.std(axis=0)
        check_gradient_flows(adapter, snapshot, self.output_, encoded[:_PROBE_ROWS], fitted.encoded)
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

    # -------------------------------------------------------------- explain
    def explain(self, X, *, target=None) -> Explanation:
        """Attribute the model's output on each row to its raw features.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_rows, n_features)
            Rows to explain, with the columns the model reads (matched by name; columns it does not read are
            dropped with a warning). A Series is one row.
        target : None, label, index or array-like of shape (n_rows,), default=None
            Overrides the ``target`` parameter for this call.

        Returns
        -------
        Explanation
            Attributions, base values, predictions, completeness delta and data, indexed like ``X``.

        Raises
        ------
        ValueError
            If columns are missing, preprocessing leaves NaN, or the model's output is NaN or infinite at a row or
            at the baseline.
        """
        check_is_fitted(self)
        adapter = self.adapter_
        rows = check_rows(self, X, reset=False, numeric=adapter.numeric_input)
        encoded = adapter.encode(rows)
        check_encoded_finite(encoded, self.encoded_feature_names_)
        index = rows.index if isinstance(rows, pd.DataFrame) else pd.RangeIndex(len(rows))
        target = self.target if target is None else target
        method = self._method()

        # A private copy: the user's model is never put in eval mode, frozen or hooked, so other threads may use it.
        module = private_copy(adapter.module, resolve_device(self.device))
        with gradient_rule(module, self.gradient_rule):
            dtype, device = module_dtype(module), module_device(module)
            inputs = torch.as_tensor(encoded, dtype=dtype, device=device)
            max_points = chunk_points(module, inputs[:_PROBE_ROWS], self.batch_size)
            scalar_fn = adapter.scalar_fn(self.output_, module)
            targets, labels = resolve_targets(
                target,
                len(inputs),
                lambda: adapter.predicted_classes(module, inputs, max_points),
                classes=getattr(self, "classes_", None),
                head_kind=adapter.head.kind,
                n_outputs=self.n_outputs_,
            )
            targets = targets.to(device)
            problem = Problem(
                scalar_fn=scalar_fn,
                inputs=inputs,
                targets=targets,
                predictions=evaluate(scalar_fn, inputs, targets, max_points).double(),
                baselines=torch.tensor(self.encoded_baseline_.to_numpy(), dtype=dtype, device=device),
                baseline_weights=torch.as_tensor(self.baseline_weights_, dtype=torch.float64, device=device),
                base_values=torch.empty(0),
                max_points=max_points,
                row_keys=row_keys(index) if method.stochastic else None,  # hashing labels only where draws need it
                progress=self.progress,
                module=PredictionOnly(module),
                head=adapter.head.in_space(self.output_),
            )
            problem.base_values = method.base_values(problem)
            _check_outputs_finite(problem, index)
            attributions, steps = method.attribute(problem)
        attributions = _flag_unfinished_paths(attributions, index)
        return self._explanation(
            rows,
            encoded,
            index,
            attributions.cpu().numpy(),
            problem.predictions,
            problem.base_values,
            labels,
            steps.cpu().numpy(),
            method,
        )

    def _method(self):
        """The attribution method object, with its integration strategy and random draws from ``random_state``."""
        method = METHODS[self.method]
        integration = Integration(self.rule_, self.n_steps, tol=self.tol, max_steps=self.max_steps)
        random_state = check_random_state(self.random_state) if method.stochastic else None
        extra = {"noise_scale": self.noise_scale_} if "noise_level" in method.parameters else {}
        return method(self.get_params(deep=False), integration, random_state, **extra)

    def _explanation(
        self, rows, encoded, index, encoded_attributions, predictions, base_values, labels, steps, method
    ) -> Explanation:
        names_out = self.get_feature_names_out()
        # No copies of the attributions (they are the largest arrays here: 1M rows x 30 columns is 240 MB).
        encoded_values = pd.DataFrame(
            encoded_attributions, index=index, columns=self.encoded_feature_names_, copy=False
        )
        groups = self.encoded_feature_groups_
        one_to_one = len(groups) == len(names_out) and np.array_equal(groups, np.arange(len(groups)))
        if self.features == "encoded":
            values = encoded_values
            data = pd.DataFrame(encoded, index=index, columns=names_out)
        elif one_to_one and _copy_on_write():
            # The model reads the raw columns: the two frames may share one array, since writes copy first.
            values = pd.DataFrame(encoded_attributions, index=index, columns=names_out, copy=False)
            data = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, index=index, columns=names_out)
            data.columns = names_out
        else:
            to_raw = np.zeros((len(groups), len(names_out)))
            to_raw[np.arange(len(groups)), groups] = 1.0
            values = pd.DataFrame(encoded_attributions @ to_raw, index=index, columns=names_out, copy=False)
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
            baseline=None if self.baseline_ is None else self.baseline_.assign(weight=self.baseline_weights_),
            base_value_label=method.base_value_label,
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
        if input_features is None and getattr(self, "_column_labels", None) is not None:
            return feature_names(self)  # non-string column labels, as text: never replaced by x0, x1, ...
        # sklearn's rule: names must equal feature_names_in_ when it exists, else only have the right length.
        return _check_feature_names_in(self, input_features)


class _Shared:
    """Stands for the prefit model while scikit-learn clones the explainer: cloning it gives the same model."""

    def __init__(self, model) -> None:
        self.model = model

    def __sklearn_clone__(self):
        return self


def _copy_on_write() -> bool:
    """Whether pandas copies shared data before writing (the default from pandas 3)."""
    return int(pd.__version__.split(".")[0]) >= 3 or bool(pd.get_option("mode.copy_on_write"))


def _has_preprocessing(model) -> bool:
    from sklearn.pipeline import Pipeline

    return isinstance(model, Pipeline) and len(model.steps) > 1


def _raw_baseline(raw: pd.DataFrame | None, names: np.ndarray, n_rows: int, features: str) -> pd.DataFrame | None:
    """The fitted baseline rows in the user's raw columns (None for ``features="encoded"``)."""
    if features == "encoded":
        return None
    if raw is None:  # "zero" through preprocessing: zeros of the encoded columns are no raw row
        return pd.DataFrame(np.nan, index=range(n_rows), columns=names)
    raw = raw.reset_index(drop=True)
    raw.columns = names
    return raw


def _rows_named(index: pd.Index, mask: np.ndarray) -> str:
    labels = index[mask]
    shown = ", ".join(repr(label) for label in labels[:10])
    return f"[{shown}{', ...' if len(labels) > 10 else ''}] ({len(labels)} row(s))"


def _check_outputs_finite(problem: Problem, index: pd.Index) -> None:
    """Refuse NaN or infinite model outputs at the rows or at the baseline: no attribution could mean anything."""
    bad_rows = ~torch.isfinite(problem.predictions).cpu().numpy()
    if bad_rows.any():
        raise ValueError(
            f"the model's output is NaN or infinite at rows {_rows_named(index, bad_rows)}; check those rows' values "
            "and the model (e.g. a log of a negative number) before explaining them."
        )
    if not bool(torch.isfinite(problem.base_values).all()):
        raise ValueError(
            "the model's output is NaN or infinite at the baseline; choose another baseline (e.g. baseline='median' "
            "or rows of the training data)."
        )


def _flag_unfinished_paths(attributions: torch.Tensor, index: pd.Index) -> torch.Tensor:
    """Rows whose path met NaN or inf get NaN attributions and a warning, never finite numbers that rank."""
    bad = ~torch.isfinite(attributions).all(dim=1)
    if bool(bad.any()):
        warnings.warn(
            f"the model's gradient is NaN or infinite somewhere on the path of rows "
            f"{_rows_named(index, bad.cpu().numpy())}; their attributions are NaN.",
            UserWarning,
            stacklevel=3,
        )
        attributions = attributions.clone()
        attributions[bad] = float("nan")
    return attributions
