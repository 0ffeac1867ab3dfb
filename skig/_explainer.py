"""The scikit-learn estimator that explains a differentiable model with the Integrated Gradients family.

``fit`` learns baselines and the feature mapping from reference rows; ``explain`` returns an :class:`Explanation`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _clone_parametrized, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._explanation import Explanation, with_weights
from ._fit_checks import check_gradient_rule, check_parameters
from ._gradient_guard import check_columns_differentiable, check_completeness
from ._gradient_guard import rows_named as _rows_named
from ._interactions import check_interactions, interaction_lines, interaction_values
from ._plan import make_plan
from ._targets import resolve_targets
from ._validation import check_encoded_finite, check_rows, feature_names
from .baselines import BACKGROUND_ESTIMATORS, BASELINE_STATISTICS, fit_baselines
from .engine import (
    GRADIENT_RULES,
    METHODS,
    QUADRATURE_RULES,
    STOCHASTIC_METHODS,
    FixedSteps,
    Problem,
    gradient_rule,
    module_placement,
    piecewise_linear_violations,
    private_copy,
    resolve_device,
    row_keys,
)
from .engine._device import COPY_ATTEMPTS
from .engine._gradients import check_rows_fit, one_memory_reading
from .engine._inputs import InputSpace, spread_rows, trace_lookups
from .engine._threads import torch_threads
from .models import (
    ModelChangedError,
    PredictionOnly,
    adapt_model,
    check_arguments,
    input_columns,
    model_input_columns,
    model_state,
)
from .models._feature_mapping import NonSeparableTransformerError
from .models._input_space import categorical_baselines, check_codes
from .reporting._fingerprint import fit_fingerprint

OUTPUTS = ("auto", "raw", "logit", "probability")
#: The most steps a path may get: past this, quadrature gains nothing float64 can show, and building the
#: Gauss-Legendre rule alone takes seconds (O(n^2)); piecewise-linear nets get exact integration instead.
MAX_STEPS = 2**13
_PROBE_ROWS = 8
#: Reference rows whose paths the zero-gradient guard probes at ``fit``.
_GUARD_ROWS = 64
#: Reference rows an embedding net looks up at ``fit`` for the noise scale of its vector coordinates.
_NOISE_ROWS = 10_000


class Explainer(TransformerMixin, BaseEstimator):
    """Integrated Gradients and its family for a differentiable tabular model, as a scikit-learn estimator.

    Every method runs on one batched engine: rows x samples x steps go through the model together, in passes
    bounded by ``batch_size``. See ``docs/methods.md`` for when to use which method.

    Parameters
    ----------
    model : torch.nn.Module, skorch net, pytorch-tabnet estimator, scikit-learn linear model or MLP, or Pipeline
        The model to explain, already fitted. A ``torch.nn.Module`` takes a float tensor of shape (n, d), or the
        tensors ``inputs`` names; columns it looks up in embedding tables are integrated in embedding space
        (``docs/tabular_nets.md``).
        The explainer never fits or modifies it: every explanation runs on a private copy (eval mode, parameters
        frozen, on ``device``) of the parameters and buffers as they were at one instant, so other threads may use
        or train the model meanwhile. An explanation describes the model as it is when :meth:`explain` is called:
        a net refitted since ``fit`` (skorch builds a new ``module_``), a refitted scikit-learn model, a replaced
        module or pipeline step is adapted again; where what ``fit`` learned no longer holds (the preprocessing,
        the classes or the outputs changed), :meth:`explain` raises :class:`~skig.ModelChangedError`.
        :func:`~sklearn.base.clone` keeps the same model; an explainer restored from a pickle holds its own copy
        of it.
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
        ``Explanation.n_steps`` tells what each row used. By the trapezoid rule on straight paths the steps are
        placed interval by interval instead: each row starts at 5 points (9 below ``tol=0.05``), the intervals where
        its integrand jumps are bisected until, for every reported column, the error bound of its intervals is
        within ``tol`` of the row's attributions' absolute sum, beside completeness; no point is taken twice. Not used
        by ``method="expected"``, whose budget is ``n_samples``.
    rule : {"auto", "exact", "gausslegendre", "riemann_left", "riemann_right", "riemann_middle", \
            "riemann_trapezoid"}, default="auto"
        How the path integral is taken. ``"exact"`` integrates exactly through piecewise-linear networks (ReLU,
        LeakyReLU, PReLU, ReLU6/Hardtanh, clamp between affine layers): no step count applies, and
        ``Explanation.n_steps`` counts the linear segments each row's paths crossed. The others are quadrature rules,
        defined as in Captum. ``"auto"`` is ``"exact"`` where it applies (a piecewise-linear network, straight paths,
        ``gradient_rule="standard"``, a device with float64), ``"gausslegendre"`` otherwise, except that with
        ``n_steps="auto"`` a network with ReLU-type units that is not piecewise-linear (a transformer's ReGLU) gets
        ``"riemann_trapezoid"`` placed interval by interval: its gradient jumps at those units, so Gauss-Legendre
        gains nothing there, and the trapezoid rule puts its points where the jumps are. ``rule_`` says which.
        ``method="expected"`` uses a quadrature rule when ``n_samples`` gives every background row at least 2
        points; ``method="guided"`` integrates each of its steps by the trapezoid rule.
    target : None, class label, output index or array-like of shape (n_rows,), default=None
        The output explained. None: the single output of a regressor, the positive class of a binary classifier,
        the predicted class of each row for a multi-class model. A label (or, failing that, an index) explains that
        class for every row; an array gives one per row. With integer class labels an integer is a label only (with
        classes ``[1, 2]``, ``target=0`` is an error, not the first class).
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
        With ``n_steps="auto"``: the completeness tolerance, relative to ``|prediction - base value|`` (and, by the
        trapezoid rule, each column's error bound, relative to the absolute sum of the row's attributions).
    max_steps : int, default=1024
        With ``n_steps="auto"``: the most steps any row gets (by the trapezoid rule, the most points of any of its
        paths).
    batch_size : "auto" or int, default="auto"
        Most path points per forward/backward pass. ``"auto"`` sizes passes from the memory free on the device.
    n_threads : int or None, default=None
        CPU threads an explanation uses. The passes run whole on skig's own threads, one torch thread each, so that
        a busy machine does not stall them (see ``docs/scaling.md``); ``None`` takes torch's thread count when
        :meth:`explain` is called (``torch.set_num_threads``, ``OMP_NUM_THREADS``, or a Spark or Dask task's share).
        Torch's count is put back afterwards. The numbers do not depend on it. A model whose ``forward`` is not safe
        to call from several threads at once (it keeps per-call state on the module) needs ``n_threads=1``.
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
    inputs : dict or None, default=None
        For a torch module or skorch net whose ``forward`` takes several arguments (``forward(x_num, x_cat)``):
        ``{argument name: [column, ...]}``, the DataFrame columns each argument reads, in order. An argument whose
        columns are all categorical gets integer codes (``torch.long``): pandas ``Categorical`` columns pass their
        codes, integer columns pass as they are, and ``{argument: {column: [categories...]}}`` maps strings to their
        position in the list. None: the module takes one float matrix.
    zero_gradient : {"raise", "warn"}, default="raise"
        What happens when a column reaches the output only through steps without a gradient (an integer cast,
        rounding, argmax, an embedding lookup skig could not trace), so that IG would give it 0 while it changes
        the output: ``fit`` raises a TypeError naming the columns and the likely cause, or warns with
        ``"warn"``. Whatever this says, ``explain`` (IG) warns about rows whose completeness error is large (over
        5% of their output change; with ``n_steps="auto"``, over ``tol`` where that is larger; under exact
        integration, over 0.1%): re-integrated by Gauss-Legendre at four times their steps, then at four times
        that (at least 64), rows whose error is no longer large are named as quadrature error (at fixed steps,
        with the advice to raise ``n_steps``), and those whose error does not shrink, or stays large under exact
        integration on piecewise-linear nets, as jumps through a step without gradient.
    outcome : str or None, default=None
        What the explained output means, as its reader says it: ``"probability of default"`` (with
        ``output="probability"``), ``"log-odds of default"`` (with ``"logit"``). Reports, reason codes and plot axes
        name it so; None names the output space and class ("the probability of class 1"). Never changes a number.

    Attributes
    ----------
    n_features_in_ : int
        Number of raw columns seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Raw column names seen in ``fit``; only defined when X had string column names.
    baseline_ : DataFrame of shape (n_baselines, `n_features_in_`) or None
        The baseline (or background) rows in raw terms: the applicant(s) the paths start from, in the user's columns
        (NaN for ``baseline="zero"`` through preprocessing, which no raw row encodes to; None with
        ``features="encoded"``). ``Explanation.baseline`` carries it with the weights as its last column.
    encoded_baseline_ : DataFrame of shape (n_baselines, n_encoded)
        The same rows in the space the model reads.
    baseline_weights_ : ndarray of shape (n_baselines,)
        Weight of each baseline row, summing to 1.
    noise_scale_ : ndarray of shape (n_points,)
        Standard deviation of each coordinate of the input space in the reference rows: the encoded columns (0 for
        code columns), then for embedding nets each looked-up vector coordinate (over at most 10,000 evenly spaced
        rows); SmoothGrad's noise is ``noise_level * noise_scale_``.
    input_space_ : InputSpace
        Where paths run: the encoded columns, and for a net that looks input columns up in embedding tables the
        lookups traced at ``fit`` (see ``docs/tabular_nets.md``).
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
    rule_ : str
        The integration rule used, ``"auto"`` resolved: ``"exact"`` or a quadrature rule.
    plan_ : Plan
        Every setting resolved once at ``fit``: the method (``plan_.method``, from the registry), how path integrals
        are taken (``plan_.integrator``: fixed steps, adaptive steps, or exact with its engine) and the memory
        budget (``plan_.budget``). Parameters that only size the work (``n_steps``, ``n_samples``, ``tol``, ...,
        ``batch_size``) may change after ``fit``; ``method``, ``rule`` and ``gradient_rule`` need ``fit`` again.
    fingerprint_ : dict
        What identifies this fit: SHA-256 digests of the model (every parameter and buffer; a Pipeline's fitted
        steps), of the reference rows and of the settings that change the numbers, with ``random_state``, the
        package ``versions`` and the time ``created`` (UTC). Same model, same digest in any process.

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
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "progress": ["boolean"],
        "features": [StrOptions({"raw", "encoded"})],
        "zero_gradient": [StrOptions({"raise", "warn"})],
        "inputs": [dict, None],
        "outcome": [str, None],
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
        n_threads=None,
        device="auto",
        random_state=None,
        progress=False,
        features="raw",
        zero_gradient="raise",
        inputs=None,
        outcome=None,
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
        self.n_threads = n_threads
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.features = features
        self.zero_gradient = zero_gradient
        self.inputs = inputs
        self.outcome = outcome

    def __sklearn_clone__(self):
        # scikit-learn's own clone (parameters, set_output configuration, metadata requests), except that the model
        # is prefit and never changed by the explainer: a clone shares it instead of getting an unfitted copy.
        shallow = copy.copy(self)
        shallow.model = _Shared(self.model)
        clone = _clone_parametrized(shallow)
        clone.model = self.model
        return clone

    @classmethod
    @functools.cache
    def _get_param_names(cls):
        # scikit-learn reads __init__'s signature on every get_params (45 µs, once per explain); it never changes.
        return super()._get_param_names()

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
        device = resolve_device(self.device)  # a device torch does not know is bad input: refuse it before any work
        check_arguments(self.model, self.inputs)
        numeric = not _has_preprocessing(self.model) and self.inputs is None
        model_columns = model_input_columns(self.model) if self.inputs is None else input_columns(self.inputs, X)
        rows = check_rows(self, X, reset=True, numeric=numeric, model_columns=model_columns)
        # Read before the adapter is built: a change during fit then shows at the next explanation, not never.
        state = model_state(self.model)
        adapter = adapt_model(
            self.model,
            rows.iloc[:_PROBE_ROWS] if isinstance(rows, pd.DataFrame) else rows[:_PROBE_ROWS],
            inputs=self.inputs,
            fit_rows=rows,
        )
        raw_names = feature_names(self)
        encoded = adapter.encode(rows)
        encoded_names = self._encoded_names(adapter, raw_names, encoded.shape[1])
        check_encoded_finite(encoded, encoded_names, _row_labels(rows), _has_preprocessing(self.model))
        self.encoded_feature_names_ = np.asarray(encoded_names, dtype=object)
        # One private copy, on the device explanations run on, for every model check and reading of this fit.
        snapshot = private_copy(adapter.module, device)
        check_gradient_rule(adapter, snapshot, encoded[:_PROBE_ROWS], self.gradient_rule)
        # Where paths run: the encoded matrix, joined by the vectors of the lookups that read input columns.
        space = InputSpace(encoded.shape[1], tuple(trace_lookups(snapshot, encoded, encoded_names)))
        self._check_codes(space, encoded, rows)
        self.input_space_ = space
        if adapter.classes is not None:
            self.classes_ = adapter.classes
        elif hasattr(self, "classes_"):
            del self.classes_
        self.n_outputs_ = adapter.n_outputs
        self.output_ = adapter.output_space(self.output)
        self.adapter_ = adapter

        def encode_rows(baseline_rows):
            try:
                baseline_rows = check_rows(self, baseline_rows, reset=False, numeric=adapter.numeric_input)
            except ValueError as error:
                raise ValueError(f"baseline rows do not match X: {error}") from error
            values = adapter.encode(baseline_rows)
            try:
                check_encoded_finite(
                    values, self.encoded_feature_names_, _row_labels(baseline_rows), _has_preprocessing(self.model)
                )
                if not isinstance(self.baseline, str):  # given rows; a statistic's codes become categories later
                    self._check_codes(space, values, baseline_rows)
            except ValueError as error:
                raise ValueError(f"baseline rows: {error}") from error
            return baseline_rows, values

        fitted = fit_baselines(
            self.baseline,
            rows,
            encoded,
            encode_rows,
            names=raw_names,
            encoded_is_raw=adapter.numeric_input,
            one_to_one=self.inputs is not None and self.features == "raw",
            n_baselines=self.n_baselines,
            baseline_weights=self.baseline_weights,
            random_state=self.random_state,
        )
        categorical_baselines(space, fitted, self.baseline, encoded, rows, self.encoded_feature_groups_)
        self.encoded_baseline_ = pd.DataFrame(fitted.encoded, columns=self.encoded_feature_names_)
        self.baseline_weights_ = fitted.weights
        self.baseline_ = _raw_baseline(fitted.raw, raw_names, len(fitted.encoded), self.features)
        self._baseline_frame = (
            None
            if self.baseline_ is None
            else (self.baseline_, self.baseline_weights_, with_weights(self.baseline_, fitted.weights))
        )
        # An embedding net's vectors come from forward passes: at most _NOISE_ROWS evenly spaced reference rows.
        sampled = encoded if not space.lookups else encoded[:: max(1, len(encoded) // _NOISE_ROWS)]
        points = self._points(snapshot, sampled, n_rows=len(sampled))
        # SmoothGrad perturbs float inputs and embedding vectors, never codes (a lookup reads its vector instead).
        self.noise_scale_ = np.concatenate([encoded.std(axis=0), points[:, encoded.shape[1] :].std(axis=0)])
        self.noise_scale_[space.code_columns] = 0.0
        probed = points[spread_rows(len(points), _GUARD_ROWS)]  # across the reference rows, sorted as they may be
        self._check_gradients(snapshot, probed, self._points(snapshot, fitted.encoded[:1], baseline=True))
        dtype, on = module_placement(snapshot)
        baseline_points = self._points(snapshot, fitted.encoded, n_rows=len(fitted.encoded), baseline=True)
        self.plan_ = make_plan(
            params,
            adapter,
            space.module(snapshot),
            torch.as_tensor(self._points(snapshot, encoded), dtype=dtype, device=on),
            torch.as_tensor(baseline_points, dtype=dtype, device=on),
        )
        self.rule_ = self.plan_.integrator.rule
        self._fitted_model_state = state  # what the baselines, feature mapping and noise scale were learned through
        self._current = (state, adapter)  # the adapter of the model as it was last seen, and its state
        self.fingerprint_ = fit_fingerprint(self, rows)
        return self

    def _points(self, snapshot, encoded: np.ndarray, n_rows: int = _PROBE_ROWS, baseline: bool = False) -> np.ndarray:
        """The first ``n_rows`` encoded rows (baseline rows with ``baseline``) as points of the input space."""
        if not self.input_space_.lookups:
            return np.asarray(encoded[:n_rows], dtype=np.float64)
        rows = np.array(encoded[:n_rows], dtype=np.float64)  # a writable copy (pandas hands out read-only arrays)
        dtype, device = module_placement(snapshot)
        tensor = torch.as_tensor(rows, dtype=dtype, device=device)
        zero = baseline and self._zero_vectors
        return self.input_space_.points(snapshot, tensor, 4096, zero_vectors=zero).cpu().numpy().astype(np.float64)

    @property
    def _zero_vectors(self) -> bool:
        """Whether the baseline's embedding vectors are the zero vector (``baseline="zero"``), not looked up."""
        return isinstance(self.baseline, str) and self.baseline == "zero"

    def _check_codes(self, space: InputSpace, encoded: np.ndarray, rows) -> None:
        """Refuse codes that no embedding table row stands for, naming the raw column, values and rows."""
        index = rows.index if isinstance(rows, pd.DataFrame) else pd.RangeIndex(len(rows))
        if self.features == "raw":
            check_codes(space, encoded, rows, index, self.encoded_feature_groups_, self._names_out)
        else:
            check_codes(
                space, encoded, encoded, index, np.arange(encoded.shape[1]), lambda: self.encoded_feature_names_
            )

    def _check_gradients(self, snapshot, points: np.ndarray, baseline: np.ndarray, adapter=None) -> None:
        """The zero-gradient guard on the paths from the first baseline to a few reference rows, in the input space
        (for ``adapter``, by default the fitted one)."""
        adapter = self.adapter_ if adapter is None else adapter
        space = self.input_space_
        snapshot = space.module(snapshot)
        dtype, device = module_placement(snapshot)
        scalar = adapter.scalar_fn(self.output_, snapshot)
        target = 0 if adapter.head.kind == "identity" else adapter.n_outputs - 1
        check_columns_differentiable(
            lambda points: scalar(points, torch.full((len(points),), target, device=device)),
            torch.tensor(points, dtype=dtype, device=device),
            torch.tensor(baseline, dtype=dtype, device=device),
            self._reported_columns(),
            self.get_feature_names_out() if self.features == "raw" else self.encoded_feature_names_,
            adapter.description,
            when=self.zero_gradient,
        )

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
    def explain(self, X, *, target=None, interactions=False) -> Explanation:
        """Attribute the model's output on each row to its raw features.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_rows, n_features)
            Rows to explain, with the columns the model reads (matched by name; columns it does not read are
            dropped with a warning). A Series is one row.
        target : None, label, index or array-like of shape (n_rows,), default=None
            Overrides the ``target`` parameter for this call.
        interactions : bool, default=False
            Also compute each row's pairwise interactions (``Explanation.interactions``): Integrated Hessians for
            ``method="ig"``, Expected Hessians for ``method="expected"``, exact on piecewise-linear networks. See
            ``docs/interactions.md``. Other methods and gradient rules are refused (``ValueError``), as is a quadrature
            ``rule`` on a piecewise-linear network, whose Hessian is zero almost everywhere.

        Returns
        -------
        Explanation
            Attributions, base values, predictions, completeness delta and data, indexed like ``X``.

        Raises
        ------
        ValueError
            If columns are missing, preprocessing leaves NaN, a code column holds a code its embedding table has no
            row for (a category the model never saw), or the model's output is NaN or infinite at a row or at the
            baseline.
        ModelChangedError
            If the model changed since ``fit`` so that what ``fit`` learned no longer holds (a refitted or
            re-parametrised preprocessing step, other classes or outputs, a net no longer piecewise-linear under
            exact integration): the message names what changed; call ``fit`` again.
        """
        check_is_fitted(self)
        params = self.get_params(deep=False)
        if self.plan_.changed(params):
            self._validate_params()  # set after fit: held to the constraints fit held them to
        plan = self.plan_.updated(params)
        with torch_threads(plan.n_threads), one_memory_reading():
            return self._explain(X, target, interactions, plan)

    def _explain(self, X, target, interactions, plan) -> Explanation:
        # Before the rows are converted: under a tight limit even their float64 copy may not fit.
        n_rows = getattr(X, "shape", (None,))[0] if hasattr(X, "shape") else None
        if isinstance(n_rows, Integral):
            n_encoded = len(self.encoded_feature_names_)
            check_rows_fit(
                n_rows, self.n_features_in_, n_encoded, interactions=interactions, batch_size=self.batch_size
            )
        rows = check_rows(self, X, reset=False, numeric=self.adapter_.numeric_input)
        adapter = self._adapter_now(rows)
        encoded = adapter.encode(rows)
        check_encoded_finite(encoded, self.encoded_feature_names_, _row_labels(rows), _has_preprocessing(self.model))
        space = self.input_space_
        self._check_codes(space, encoded, rows)
        index = rows.index if isinstance(rows, pd.DataFrame) else pd.RangeIndex(len(rows))
        target = self.target if target is None else target
        if interactions:  # --- interactions (skig/_interactions.py)
            check_interactions(self)

        # A private copy: the user's model is never put in eval mode, frozen or hooked, so other threads may use it.
        module = private_copy(adapter.module, resolve_device(self.device))
        with gradient_rule(module, self.gradient_rule):
            dtype, device = module_placement(module)
            looked_up, module = module, space.module(module)  # the module reading points of the input space
            encoded_rows = torch.as_tensor(encoded, dtype=dtype, device=device)
            max_points = plan.budget.max_points(device)
            inputs = space.points(looked_up, encoded_rows, max_points)
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
            baselines = space.points(
                looked_up,
                torch.tensor(self.encoded_baseline_.to_numpy(), dtype=dtype, device=device),
                max_points,
                zero_vectors=self._zero_vectors,
            )
            explained = PredictionOnly(module)
            # The module as fit read it, unless its weights changed since (then read once, for this call).
            if interactions:
                plan = plan.with_interactions(explained, baselines, inputs[:_PROBE_ROWS])
            method = plan.bound(explained, baselines, inputs[:_PROBE_ROWS]).attribution_method(
                check_random_state(self.random_state) if plan.method.stochastic else None, self.noise_scale_
            )
            problem = Problem(
                scalar_fn=scalar_fn,
                inputs=inputs,
                targets=targets,
                predictions=torch.empty(0),
                baselines=baselines,
                baseline_weights=torch.tensor(self.baseline_weights_, dtype=torch.float64, device=device),
                base_values=torch.empty(0),
                max_points=max_points,
                row_keys=row_keys(index) if method.stochastic else None,  # hashing labels only where draws need it
                progress=self.progress,
                module=explained,
                head=adapter.head.in_space(self.output_),
                columns=torch.as_tensor(self._reported_columns(), device=device),
            )
            problem.predictions, problem.base_values = method.outputs(problem)
            _check_outputs_finite(problem, index)
            lines = interaction_lines(self, problem, method) if interactions else None
            attributions, steps = method.attribute(problem)
            if self.gradient_rule == "standard":  # the other rules are not the model's gradient: no completeness
                check_completeness(
                    method,
                    problem,
                    attributions,
                    steps,
                    index,
                    lambda n_steps: self._refit_method(plan, n_steps),
                    lambda: self._method_of(plan.exactly(explained, baselines, inputs[:_PROBE_ROWS])),
                )
            hessians = None if lines is None else interaction_values(self, problem, lines, method)
            attributions = space.fold(attributions)  # each vector's coordinates summed onto its code column
        attributions = _flag_unfinished_paths(attributions, index)
        explanation = self._explanation(
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
        if hessians is not None:
            explanation.set_interactions(hessians)
        return explanation

    def _reported_columns(self) -> np.ndarray:
        """The column each coordinate of the input space is reported on: its raw column, or its encoded one with
        ``features="encoded"``."""
        encoded = self.input_space_.encoded_column()
        return encoded if self.features == "encoded" else self.encoded_feature_groups_[encoded]

    def _adapter_now(self, rows):
        """The adapter of the model as it is now: the fitted one while the model is unchanged, else a new one.

        A refitted skorch net (a new ``module_``), a refitted scikit-learn model, a replaced module or pipeline
        step: the explanation describes the model as it is, rebuilt and checked as ``fit`` would. Where what
        ``fit`` learned can no longer hold (the preprocessing, the classes or the output changed), it refuses.
        """
        state = model_state(self.model)
        seen, adapter = self._current
        if state == seen:
            return adapter
        probe = rows.iloc[:_PROBE_ROWS] if isinstance(rows, pd.DataFrame) else rows[:_PROBE_ROWS]
        # Read until two consecutive states agree, so that a model trained meanwhile is not rebuilt torn.
        for _ in range(COPY_ATTEMPTS):
            adapter = self._adapt_changed(state, probe)
            read, state = state, model_state(self.model)
            if state == read:
                break
        else:
            raise ModelChangedError(
                f"the model changed while skig read it, {COPY_ATTEMPTS} times in a row; explain between updates."
            )
        self._check_same_outputs(adapter)
        encoded = adapter.encode(probe)
        snapshot = private_copy(adapter.module)
        check_gradient_rule(adapter, snapshot, encoded, self.gradient_rule)
        points = self._points(snapshot, encoded)  # in the input space fit traced
        if self.plan_.integrator.exact:
            dtype, device = module_placement(snapshot)
            violations = piecewise_linear_violations(
                PredictionOnly(self.input_space_.module(snapshot)),
                torch.as_tensor(points, dtype=dtype, device=device),
            )
            if violations:
                raise ModelChangedError(
                    f"the model changed since the explainer was fitted: fit chose exact integration for a "
                    f"piecewise-linear network, but {adapter.description} now computes {violations[:5]}. Call fit "
                    "again."
                )
        baseline = self._points(snapshot, self.encoded_baseline_.to_numpy()[:1], baseline=True)
        self._check_gradients(snapshot, points, baseline, adapter)
        self._current = (state, adapter)
        return adapter

    def _adapt_changed(self, state, probe):
        """A new adapter for the model in ``state``, refused if its preprocessing is not the one fit learned through."""
        changed = state.preprocessing_changes(self._fitted_model_state)
        if changed:
            raise ModelChangedError(
                f"{' and '.join(changed)} of the model changed since the explainer was fitted (refitted, replaced or "
                "given other parameters): the baselines, noise scale and feature mapping it learned in fit were "
                "computed through the preprocessing as it was then. Call fit again."
            )
        try:
            if self.inputs is None:
                return adapt_model(self.model, probe)
            adapter = adapt_model(self.model, probe, inputs=self.inputs, fit_rows=probe)
            adapter.preprocessor = self.adapter_.preprocessor  # the categories fit learned, not the probe's
            return adapter
        except (TypeError, ValueError) as error:
            raise ModelChangedError(
                f"the model changed since the explainer was fitted, and no longer fits what fit learned: {error} "
                "Call fit again."
            ) from error

    def _check_same_outputs(self, adapter) -> None:
        """Refuse a changed model whose outputs no longer mean what they meant at fit (classes, output kind)."""
        fitted = self.adapter_
        classes, before = adapter.classes, getattr(self, "classes_", None)
        if (classes is None) != (before is None) or (
            classes is not None and (len(classes) != len(before) or not np.array_equal(classes, before))
        ):
            raise ModelChangedError(
                f"the model's classes changed since the explainer was fitted ({_listed(before)} then, "
                f"{_listed(classes)} now); targets and output spaces were resolved for the old ones. Call fit again."
            )
        if adapter.n_outputs != self.n_outputs_ or adapter.head.kind != fitted.head.kind:
            raise ModelChangedError(
                f"the model's outputs changed since the explainer was fitted ({self.n_outputs_} {fitted.head.kind} "
                f"output(s) then, {adapter.n_outputs} {adapter.head.kind} now). Call fit again."
            )

    def _refit_method(self, plan, n_steps: int):
        """``plan``'s attribution method by Gauss-Legendre at fixed ``n_steps`` (capped at ``MAX_STEPS``), for
        re-integrating a few rows."""
        return self._method_of(
            dataclasses.replace(plan, integrator=FixedSteps("gausslegendre", min(int(n_steps), MAX_STEPS)))
        )

    def _method_of(self, plan):
        """``plan``'s attribution method, or None without a plan."""
        if plan is None:
            return None
        return plan.attribution_method(
            check_random_state(self.random_state) if plan.method.stochastic else None, self.noise_scale_
        )

    def _explanation(
        self, rows, encoded, index, encoded_attributions, predictions, base_values, labels, steps, method
    ) -> Explanation:
        # Column labels as Index objects, made once per set of names: each frame built from a plain array would infer
        # their dtype again (with pandas 3 a string Index costs more than the frames built on it).
        names_out = _label_index(tuple(self._names_out()))
        # No copies of the attributions (they are the largest arrays here: 1M rows x 30 columns is 240 MB).
        encoded_values = pd.DataFrame(
            encoded_attributions, index=index, columns=_label_index(tuple(self.encoded_feature_names_)), copy=False
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
        return Explanation._of_named(
            values,
            pd.Series(base_values.cpu().numpy(), index=index, name="base_value"),
            pd.Series(predictions.cpu().numpy(), index=index, name="prediction"),
            data,
            encoded_values=encoded_values,
            target=pd.Series(labels, index=index, name="target"),
            output=self.output_,
            method=self.method,
            n_steps=pd.Series(steps, index=index, name="n_steps"),
            baseline=self._baseline_shown(),
            base_value_label=method.base_value_label,
            outcome=self.outcome,
        )

    def _baseline_shown(self) -> pd.DataFrame | None:
        """``baseline_`` with its weight column (:func:`with_weights`), as each explanation shows it: the frame ``fit``
        made, where pandas copies shared data before writing (a frame an explanation's user changes is then copied,
        not shared)."""
        if self.baseline_ is None:
            return None
        made = getattr(self, "_baseline_frame", None)
        if _copy_on_write() and made is not None and made[0] is self.baseline_ and made[1] is self.baseline_weights_:
            return made[2]
        return with_weights(self.baseline_, self.baseline_weights_)

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
        return self._names_out(input_features)

    def _names_out(self, input_features=None) -> np.ndarray:
        """:meth:`get_feature_names_out` of a fitted explainer (``explain`` checked it once already)."""
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


@functools.lru_cache(maxsize=64)
def _label_index(names: tuple) -> pd.Index:
    """``pd.Index(names)`` for column labels, made once per set of names (an Index cannot be changed, so explanations
    share it)."""
    return pd.Index(names)


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


def _listed(classes) -> str:
    return "none" if classes is None else str(list(classes)[:10])


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
    # In numpy: torch's reduction cost 0.17 ms a call on 1000 x 30 on a CPU, numpy's a few us; the attributions go to
    # the CPU for the result right after anyway.
    bad = ~np.isfinite(attributions.detach().cpu().numpy()).all(axis=1)
    if bool(bad.any()):
        warnings.warn(
            f"the model's gradient is NaN or infinite somewhere on the path of rows "
            f"{_rows_named(index, bad)}; their attributions are NaN.",
            UserWarning,
            stacklevel=3,
        )
        attributions = attributions.clone()
        attributions[torch.from_numpy(bad).to(attributions.device)] = float("nan")
    return attributions


def _row_labels(rows):
    """The rows' labels for messages: a DataFrame's index, else None (positions)."""
    return rows.index if isinstance(rows, pd.DataFrame) else None
