"""Attribution-based feature selection as a scikit-learn transformer.

Fits a clone of a differentiable model, ranks the raw columns by IG global importance and keeps the top ones.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone, is_classifier
from sklearn.feature_selection import SelectorMixin
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt
from sklearn.utils.validation import check_is_fitted

from ._explainer import Explainer
from ._validation import check_rows, feature_names


def _threshold_value(threshold, importances: np.ndarray) -> float:
    """A number, or "mean" / "median" with an optional scale ("1.5*mean"), as in ``SelectFromModel``."""
    if threshold is None:
        return -np.inf
    if isinstance(threshold, str):
        scale, _, reference = threshold.rpartition("*")
        statistics = {"mean": np.mean, "median": np.median}
        if reference.strip() not in statistics:
            raise ValueError(f"threshold {threshold!r} must be a number, 'mean', 'median' or e.g. '1.5*mean'.")
        try:
            factor = float(scale) if scale else 1.0
        except ValueError:
            raise ValueError(f"threshold {threshold!r}: the scale {scale!r} is not a number.") from None
        return factor * statistics[reference.strip()](importances)
    return float(threshold)


class FeatureSelector(SelectorMixin, MetaEstimatorMixin, BaseEstimator):
    """Keep the raw features with the largest Integrated Gradients importance.

    The importance of a feature is its mean absolute attribution (on the raw column, through any preprocessing of a
    pipeline) over the rows explained: all of ``X`` after fitting on it, or each validation fold with ``cv``.

    Parameters
    ----------
    estimator : estimator
        A differentiable model skig can explain (a skorch net, a scikit-learn linear model or MLP, or a Pipeline
        ending in one). A clone is fitted; ``estimator`` itself is untouched.
    n_features_to_select : int, float or None, default=None
        Keep this many features (a float in (0, 1]: that fraction of them). With ``threshold`` too, at most this many
        of those passing it.
    threshold : float, str or None, default=None
        Keep features whose importance is at least this: a number, ``"mean"``, ``"median"`` or a scaled one
        (``"1.5*mean"``). With neither parameter set, ``"mean"`` is used, as in ``SelectFromModel``.
    explainer_params : dict or None, default=None
        Parameters of the :class:`Explainer` that computes the importances (``method``, ``n_steps``, ``output``...).
    cv : int, cross-validation generator, iterable or None, default=None
        None: fit on ``X`` and explain ``X``. Otherwise importances are averaged over the validation folds of
        ``estimator`` clones fitted on the training folds (out-of-sample importance).

    Attributes
    ----------
    estimator_ : estimator
        The clone fitted on all of ``X``.
    importances_ : ndarray of shape (`n_features_in_`,)
        Mean absolute attribution per raw feature.
    threshold_ : float
        The importance threshold applied (-inf when only ``n_features_to_select`` is set).
    n_features_in_ : int
        Number of raw features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the raw features seen in ``fit`` (string column names only).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skig import FeatureSelector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = (X[:, 0] + 2 * X[:, 3] > 0).astype(int)
    >>> selector = FeatureSelector(LogisticRegression(), n_features_to_select=2).fit(X, y)
    >>> selector.get_feature_names_out().tolist()
    ['x0', 'x3']
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "n_features_to_select": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "threshold": [None, Interval(Real, None, None, closed="neither"), str],
        "explainer_params": [None, dict],
        "cv": ["cv_object"],
    }

    def __init__(self, estimator, *, n_features_to_select=None, threshold=None, explainer_params=None, cv=None):
        self.estimator = estimator
        self.n_features_to_select = n_features_to_select
        self.threshold = threshold
        self.explainer_params = explainer_params
        self.cv = cv

    def _importance(self, model, X_fit, X_explain) -> np.ndarray:
        explainer = Explainer(model, **(self.explainer_params or {}))
        return explainer.fit(X_fit).explain(X_explain).values.abs().mean(axis=0).to_numpy()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of the estimator and rank the raw features by IG importance.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Training rows in the estimator's raw input format.
        y : array-like of shape (n_samples,), default=None
            Targets.
        **fit_params : dict
            Passed to the estimator's ``fit``.

        Returns
        -------
        self : FeatureSelector
        """
        if self.explainer_params is not None:
            Explainer(self.estimator, **self.explainer_params)._validate_params()
        X = check_rows(self, X, reset=True, numeric=False)
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        if self.cv is None:
            self.importances_ = self._importance(self.estimator_, X, X)
        else:
            cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
            y_array = None if y is None else np.asarray(y)
            folds = []
            for train, test in cv.split(X, y_array):
                X_train, X_test = _rows(X, train), _rows(X, test)
                fold_model = clone(self.estimator).fit(X_train, None if y is None else _rows(y, train), **fit_params)
                folds.append(self._importance(fold_model, X_train, X_test))
            self.importances_ = np.mean(folds, axis=0)
        self.threshold_ = _threshold_value(
            "mean" if self.threshold is None and self.n_features_to_select is None else self.threshold,
            self.importances_,
        )
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self)
        mask = self.importances_ >= self.threshold_
        if self.n_features_to_select is not None:
            n_keep = self.n_features_to_select
            if isinstance(n_keep, float):
                n_keep = max(1, int(round(n_keep * self.n_features_in_)))
            ranked = np.argsort(-np.where(mask, self.importances_, -np.inf), kind="stable")[:n_keep]
            mask = np.zeros_like(mask)
            mask[ranked] = self.importances_[ranked] >= self.threshold_
        return mask

    def transform(self, X):
        """Keep the selected raw columns; a DataFrame keeps its dtypes (categorical columns stay categorical).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame or ndarray of shape (n_samples, n_selected)
        """
        check_is_fitted(self)
        X = check_rows(self, X, reset=False, numeric=False)
        if isinstance(X, pd.DataFrame):
            return X.loc[:, feature_names(self)[self.get_support()]]
        return np.asarray(X)[:, self.get_support()]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Raw columns may hold NaN and strings: the estimator's own preprocessing deals with them.
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


def _rows(data, positions):
    return data.iloc[positions] if isinstance(data, (pd.DataFrame, pd.Series)) else np.asarray(data)[positions]
