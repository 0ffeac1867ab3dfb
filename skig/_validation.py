"""Checks on the rows handed to the explainer: shape, columns against what ``fit`` saw, finiteness.

Every message names the offending value and what would be accepted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array


def _listed(values, limit: int = 10) -> str:
    values = [str(value) for value in values]
    shown = values[:limit]
    return repr(shown)[:-1] + (f", ... ({len(values) - limit} more)]" if len(values) > limit else "]")


def _frame_names(X: pd.DataFrame) -> np.ndarray | None:
    names = list(X.columns)
    if all(isinstance(name, str) for name in names):
        return np.asarray(names, dtype=object)
    return None


def _align_columns(X: pd.DataFrame, fitted: np.ndarray) -> pd.DataFrame:
    columns = [str(name) for name in X.columns]
    missing = [name for name in fitted if name not in set(columns)]
    extra = [name for name in columns if name not in set(fitted)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"is missing columns {_listed(missing)}")
        if extra:
            parts.append(f"has columns the explainer was not fitted on {_listed(extra)}")
        raise ValueError(f"X {' and '.join(parts)}; the explainer was fitted on {_listed(fitted)}.")
    if len(set(columns)) != len(columns):
        raise ValueError(f"X has duplicated column names {_listed(pd.Index(columns)[pd.Index(columns).duplicated()])}.")
    # Same columns in another order are matched by name, as a pandas user expects.
    return X if columns == list(fitted) else X.loc[:, list(fitted)]


def _as_frame_or_array(X):
    if isinstance(X, pd.Series):
        return X.to_frame().T.infer_objects()
    if isinstance(X, pd.DataFrame):
        return X
    if hasattr(X, "__dataframe__") or hasattr(X, "to_pandas"):
        return X.to_pandas() if hasattr(X, "to_pandas") else pd.api.interchange.from_dataframe(X)
    return X


def check_rows(estimator, X, *, reset: bool, numeric: bool):
    """Validate raw rows; on ``reset`` record ``n_features_in_`` and ``feature_names_in_`` on ``estimator``.

    Parameters
    ----------
    estimator : Explainer
        Holds (or receives) the fitted column layout.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Raw rows. A Series is taken as one row.
    reset : bool
        True in ``fit``: record the layout. False later: check X against it.
    numeric : bool
        True when the model reads X directly: X must then be finite numbers.

    Returns
    -------
    DataFrame or ndarray
        A DataFrame (columns in fitted order) for frame input or for raw-column models, else a float ndarray.
    """
    X = _as_frame_or_array(X)
    is_frame = isinstance(X, pd.DataFrame)
    if not is_frame:
        X = check_array(X, dtype=np.float64 if numeric else None, ensure_all_finite=False, ensure_2d=True)
    if X.shape[0] == 0:
        raise ValueError(f"X has 0 rows (shape={X.shape}); at least 1 row is required.")
    if X.shape[1] == 0:
        raise ValueError(f"X has 0 columns (shape={X.shape}); at least 1 column is required.")
    if reset:
        names = _frame_names(X) if is_frame else None
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator.n_features_in_ = X.shape[1]
    else:
        fitted = getattr(estimator, "feature_names_in_", None)
        if is_frame and fitted is not None:
            X = _align_columns(X, fitted)
        elif X.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        if not is_frame and fitted is not None and not numeric:
            X = pd.DataFrame(X, columns=fitted)
    if numeric:
        values = check_array(X, dtype=np.float64, ensure_all_finite=False)
        _check_finite(values, feature_names(estimator), "X", ": impute them, or explain a Pipeline that imputes")
        return X.astype(np.float64) if is_frame else values
    return X


def _check_finite(values: np.ndarray, names: np.ndarray, what: str, hint: str = "") -> None:
    if np.isfinite(values).all():
        return
    parts = []
    for kind, bad in (("NaN", np.isnan(values)), ("inf", np.isinf(values))):
        if bad.any():
            columns, rows = names[bad.any(axis=0)], np.flatnonzero(bad.any(axis=1))
            parts.append(f"{kind} in columns {_listed(columns)} (rows {_listed(rows, 5)})")
    raise ValueError(f"{what} contains {' and '.join(parts)}; skig needs finite values there{hint}.")


def check_encoded_finite(values: np.ndarray, encoded_names: np.ndarray) -> None:
    """Raise if preprocessing left NaN or inf in the matrix the model reads."""
    _check_finite(
        values, encoded_names, "the preprocessed data", ": add an imputer to the pipeline for the columns listed"
    )


def feature_names(estimator) -> np.ndarray:
    """The raw feature names: ``feature_names_in_`` or ``x0, x1, ...``."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        return np.asarray(fitted, dtype=object)
    return np.asarray([f"x{i}" for i in range(estimator.n_features_in_)], dtype=object)
