"""Checks on the rows handed to the explainer: shape, columns against what ``fit`` saw, finiteness.

Every message names the offending value and what would be accepted.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array


def _listed(values, limit: int = 10) -> str:
    values = [str(value) for value in values]
    shown = values[:limit]
    return repr(shown)[:-1] + (f", ... ({len(values) - limit} more)]" if len(values) > limit else "]")


def _frame_names(X: pd.DataFrame) -> np.ndarray | None:
    """String column names, None for non-string ones (as scikit-learn); mixed kinds are refused."""
    if isinstance(X.columns.dtype, pd.StringDtype):  # pandas' string labels (its default from 3.0): no scan
        return np.asarray(X.columns.tolist(), dtype=object)
    kinds = sorted({type(name).__name__ for name in X.columns})
    if len(kinds) > 1 and "str" in kinds:
        raise TypeError(
            f"X has column names of several types {kinds}: feature names are only supported when all are strings "
            "(as in scikit-learn); convert them with X.columns = X.columns.astype(str)."
        )
    if kinds == ["str"]:
        return np.asarray(list(X.columns), dtype=object)
    return None


def _select_columns(X: pd.DataFrame, wanted, what: str) -> pd.DataFrame:
    """``X``'s columns ``wanted``, matched by label: missing ones refused, extra ones dropped with one warning."""
    present = X.columns.tolist()
    wanted = list(wanted)
    if present == wanted:
        return X
    present_set, wanted_set = set(present), set(wanted)
    missing = [name for name in wanted if name not in present_set]
    extra = [name for name in present if name not in wanted_set]
    if missing:
        instead = f" (X has {_listed(extra)} instead)" if extra else ""
        raise ValueError(
            f"X is missing columns {_listed(missing)}{instead}; the explainer was fitted on {_listed(wanted)}, "
            f"the columns {what} reads."
        )
    if extra:
        warnings.warn(
            f"X has columns {what} does not read: {_listed(extra)}; they are dropped and get no attribution.",
            UserWarning,
            stacklevel=4,
        )
    # Same columns in another order are matched by name, as a pandas user expects.
    return X.loc[:, wanted]


def _check_unique_columns(X: pd.DataFrame) -> None:
    if X.columns.has_duplicates:  # cached by pandas: no scan per call
        duplicated = X.columns[X.columns.duplicated()].unique()
        raise ValueError(
            f"X has duplicated column names {_listed(duplicated)}; each column needs its own name for skig to match "
            "it to what the model reads: rename or drop the copies (e.g. X.loc[:, ~X.columns.duplicated()])."
        )


def _as_frame_or_array(X):
    if isinstance(X, pd.Series):
        return X.to_frame().T.infer_objects()
    if isinstance(X, pd.DataFrame):
        return X
    if hasattr(X, "__dataframe__") or hasattr(X, "to_pandas"):
        return X.to_pandas() if hasattr(X, "to_pandas") else pd.api.interchange.from_dataframe(X)
    return X


def check_rows(estimator, X, *, reset: bool, numeric: bool, model_columns: np.ndarray | None = None):
    """Validate raw rows; on ``reset`` record ``n_features_in_`` and ``feature_names_in_`` on ``estimator``.

    Columns are matched by name: the model's own input columns when it knows them (``model_columns``: a Pipeline's
    ``feature_names_in_``), else those seen in ``fit``. Columns the model does not read are dropped with a warning;
    missing ones are an error. Frames with non-string column names (e.g. integers) are matched by those labels too.

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
    model_columns : ndarray or None, default=None
        The raw columns the model reads, in its order, when it knows them.

    Returns
    -------
    DataFrame or ndarray
        A DataFrame (columns in fitted order) for frame input or for raw-column models, else a float ndarray.
    """
    X = _as_frame_or_array(X)
    is_frame = isinstance(X, pd.DataFrame)
    if not is_frame:
        if numeric and type(X) is np.ndarray and X.ndim == 2 and X.dtype.kind in "biuf" and X.size:
            # A non-empty numeric matrix: what check_array makes of it (itself, or its float64 copy) without its 65 µs
            # of checks. Empty ones get check_array's messages, which scikit-learn's own checks expect.
            X = X.astype(np.float64, copy=False)
        else:
            X = check_array(X, dtype=np.float64 if numeric else None, ensure_all_finite=False, ensure_2d=True)
    if X.shape[0] == 0:
        raise ValueError(f"X has 0 rows (shape={X.shape}); at least 1 row is required.")
    if X.shape[1] == 0:
        raise ValueError(f"X has 0 columns (shape={X.shape}); at least 1 column is required.")
    if is_frame:
        _check_unique_columns(X)
    names = _frame_names(X) if is_frame else None
    if reset:
        labels = None
        if model_columns is not None:
            if is_frame:
                X = _select_columns(X, model_columns, "the model")
            elif X.shape[1] != len(model_columns):
                raise ValueError(
                    f"X has {X.shape[1]} columns but the model reads {len(model_columns)}: "
                    f"{_listed(model_columns)}; pass a DataFrame with those columns."
                )
            names = np.asarray(model_columns, dtype=object)
        elif is_frame and names is None:
            labels = list(X.columns)  # non-string labels: kept to match later frames by label, not by position
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        estimator._column_labels = labels
        estimator.n_features_in_ = X.shape[1]
    else:
        fitted = getattr(estimator, "feature_names_in_", None)
        labels = getattr(estimator, "_column_labels", None)
        if is_frame and fitted is not None and names is not None:
            X = _select_columns(X, fitted, "the model")
        elif is_frame and labels is not None and names is None:
            X = _select_columns(X, labels, "the model")
        elif is_frame and (fitted is not None or labels is not None):
            seen = "string names" if fitted is not None else "non-string labels"
            raise ValueError(
                f"X's column names {_listed(X.columns)} are not of the kind seen in fit ({seen}: "
                f"{_listed(fitted if fitted is not None else labels)}); pass the same columns."
            )
        elif X.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
    fitted = getattr(estimator, "feature_names_in_", None)
    if not is_frame and fitted is not None and not numeric:
        X = pd.DataFrame(X, columns=fitted)
    if numeric:
        if is_frame and all(isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in X.dtypes):
            # Plain numpy numbers: what check_array makes of them, without its 0.27 ms of checks per call.
            values = X.to_numpy(dtype=np.float64)
        elif is_frame:
            _check_numeric_dtypes(X)
            values = check_array(X, dtype=np.float64, ensure_all_finite=False)
        else:
            values = X  # already a float64 array (check_array above)
        _check_finite(
            values,
            feature_names(estimator),
            "X",
            ": impute them, or explain a Pipeline that imputes",
            X.index if is_frame else None,
        )
        return X.astype(np.float64) if is_frame else values
    return X


def _check_numeric_dtypes(X: pd.DataFrame) -> None:
    for name in X.columns:
        column = X[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        values = column.dropna()
        example = next((value for value in values if not is_number(value)), values.iloc[0] if len(values) else None)
        if example is None or (column.dtype == object and all(is_number(value) for value in values)):
            continue  # numbers held as objects: check_array converts them
        raise ValueError(
            f"the model reads X's columns as numbers, but column {name!r} ({column.dtype}) holds {example!r}; "
            "encode it first (e.g. a Pipeline with a OneHotEncoder for categories, numbers for dates)."
        )


def is_number(value) -> bool:
    """Whether ``float(value)`` works."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_finite(values: np.ndarray, names: np.ndarray, what: str, hint: str = "", index=None) -> None:
    """Raise if ``values`` holds NaN or inf, naming the columns and the rows (by ``index`` label where given)."""
    if np.isfinite(values).all():
        return
    parts = []
    for kind, bad in (("NaN", np.isnan(values)), ("inf", np.isinf(values))):
        if bad.any():
            columns, rows = names[bad.any(axis=0)], np.flatnonzero(bad.any(axis=1))
            labels = (rows if index is None else np.asarray(index, dtype=object)[rows]).tolist()
            shown = ", ".join(repr(label) for label in labels[:5]) + (", ..." if len(labels) > 5 else "")
            parts.append(f"{kind} in columns {_listed(columns)} (rows [{shown}], {len(labels)} row(s))")
    raise ValueError(f"{what} contains {' and '.join(parts)}; skig needs finite values there{hint}.")


def check_encoded_finite(values: np.ndarray, encoded_names: np.ndarray, index=None, pipeline: bool = True) -> None:
    """Raise if NaN or inf reach the matrix the model reads: left by the preprocessing of a ``pipeline``, or in the
    columns a model without preprocessing reads as they are. ``index``: the rows' labels, for the message."""
    hint = (
        ": add an imputer to the pipeline for the columns listed"
        if pipeline
        else ": the model reads them as they are, so impute them before explaining (or explain a Pipeline that does)"
    )
    what = "the preprocessed data" if pipeline else "X"
    _check_finite(values, encoded_names, what, hint, index)


def feature_names(estimator) -> np.ndarray:
    """The raw feature names: ``feature_names_in_``, non-string column labels as strings, or ``x0, x1, ...``."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        return np.asarray(fitted, dtype=object)
    labels = getattr(estimator, "_column_labels", None)
    if labels is not None:
        return np.asarray([str(label) for label in labels], dtype=object)
    return np.asarray([f"x{i}" for i in range(estimator.n_features_in_)], dtype=object)
