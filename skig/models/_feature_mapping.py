"""Which raw column each encoded column of a fitted scikit-learn preprocessor comes from, read from its structure.

Attributions on encoded columns are summed per raw column, which is only meaningful when each depends on one column.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectorMixin
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer
from sklearn.kernel_approximation import Nystroem
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
    TargetEncoder,
)

__all__ = ["NonSeparableTransformerError", "encoded_feature_groups"]

_HINT = "pass features='encoded' to skig.Explainer to attribute to the encoded features instead"


class NonSeparableTransformerError(ValueError):
    """A preprocessing step whose encoded columns cannot each be traced back to a single raw column."""


def _identity(est, n_in: int) -> np.ndarray:
    return np.arange(n_in)


def _per_feature(counts) -> np.ndarray:
    # Every per-feature encoder in scikit-learn writes each input's outputs contiguously, in input order.
    return np.repeat(np.arange(len(counts)), np.asarray(counts, dtype=np.intp))


def _one_hot(est: OneHotEncoder, n_in: int) -> np.ndarray:
    # Public attributes only: infrequent categories share one column, and a dropped category removes one column.
    # The ``infrequent_categories_`` property raises AttributeError when infrequent grouping is off.
    infrequent = getattr(est, "infrequent_categories_", None) or [None] * n_in
    drop = est.drop_idx_ if est.drop_idx_ is not None else [None] * n_in
    return _per_feature(
        [
            len(cats) - (0 if rare is None else len(rare) - 1) - (dropped is not None)
            for cats, rare, dropped in zip(est.categories_, infrequent, drop, strict=True)
        ]
    )


def _kbins(est: KBinsDiscretizer, n_in: int) -> np.ndarray:
    return np.arange(n_in) if est.encode == "ordinal" else _per_feature(est.n_bins_)


def _target_encoder(est: TargetEncoder, n_in: int) -> np.ndarray:
    # Multiclass targets get one column per (feature, class), feature-major; otherwise one column per feature.
    return _per_feature([len(est.classes_)] * n_in) if est.target_type_ == "multiclass" else np.arange(n_in)


def _spline(est: SplineTransformer, n_in: int) -> np.ndarray:
    # Every input gets the same number of basis functions (same knots count, degree and bias setting).
    return _per_feature([est.n_features_out_ // max(n_in, 1)] * n_in)


def _simple_imputer(est: SimpleImputer, n_in: int) -> np.ndarray:
    # Mirrors SimpleImputer.get_feature_names_out: columns with a NaN statistic (all missing at fit) are dropped.
    kept = np.flatnonzero([not (isinstance(v, float) and np.isnan(v)) for v in est.statistics_.tolist()])
    indicator = est.indicator_.features_ if getattr(est, "indicator_", None) is not None else []
    return np.concatenate([kept, np.asarray(indicator, dtype=np.intp)])


def _function(est: FunctionTransformer, n_in: int) -> np.ndarray | None:
    # ``func`` is opaque: it is taken to act elementwise when it keeps the width; a declared width change means
    # columns were combined or split, so refuse. Without ``feature_names_out`` the width is only known to the caller,
    # which checks it against the next pipeline step or the ColumnTransformer's output slice.
    if est.func is None or est.feature_names_out is None:
        return np.arange(n_in)
    return np.arange(n_in) if len(est.get_feature_names_out()) == n_in else None


def _mixing(est, n_in: int) -> None:
    return None


# Class -> rule giving, for each output column, the index of the one input column it depends on (None: it mixes).
# Looked up along the class's MRO, so subclasses inherit their parent's rule; add an entry to support a new class.
PER_FEATURE_RULES: dict[type, Callable[..., np.ndarray | None]] = {
    StandardScaler: _identity,
    MinMaxScaler: _identity,
    MaxAbsScaler: _identity,
    RobustScaler: _identity,
    PowerTransformer: _identity,
    QuantileTransformer: _identity,
    Binarizer: _identity,
    OrdinalEncoder: _identity,
    OneHotEncoder: _one_hot,
    KBinsDiscretizer: _kbins,
    TargetEncoder: _target_encoder,
    SplineTransformer: _spline,
    SimpleImputer: _simple_imputer,
    MissingIndicator: lambda est, n_in: np.asarray(est.features_, dtype=np.intp),
    SelectorMixin: lambda est, n_in: est.get_support(indices=True),
    FunctionTransformer: _function,
    # Known to combine columns. Components named "<class>0", "<class>1", ... (PCA, TruncatedSVD, NMF, random
    # projections, kernel approximations, ...) are new axes built from all inputs.
    ClassNamePrefixFeaturesOutMixin: _mixing,
    PolynomialFeatures: _mixing,
    Normalizer: _mixing,
    Nystroem: _mixing,
    KNNImputer: _mixing,
}


def _step_error(est, path: str, reason: str) -> NonSeparableTransformerError:
    return NonSeparableTransformerError(f"Step {path!r} ({type(est).__name__}) {reason}; {_HINT}.")


def _check_width(est, path: str, n_inferred: int, n_actual: int) -> None:
    if n_inferred != n_actual:
        raise _step_error(
            est,
            path,
            f"produces {n_actual} columns but {n_inferred} were traced back to raw columns, so it does not "
            "act column by column as assumed",
        )


def _pipeline(est: Pipeline, n_in: int, path: str) -> np.ndarray:
    # Compose step by step: groups[j] indexes the pipeline's inputs, each step re-indexes the previous outputs.
    groups = np.arange(n_in)
    steps = [(name, step) for name, step in est.steps if step is not None and not isinstance(step, str)]
    for k, (name, step) in enumerate(steps):
        groups = groups[_input_map(step, len(groups), _join(path, name))]
        if k + 1 < len(steps) and hasattr(steps[k + 1][1], "n_features_in_"):
            _check_width(step, _join(path, name), len(groups), steps[k + 1][1].n_features_in_)
    return groups


def _column_transformer(est: ColumnTransformer, n_in: int, path: str) -> np.ndarray:
    # ``output_indices_`` (public) says where each part's outputs land; ``_transformer_to_input_indices`` holds the
    # resolved input positions of every column specification (names, ints, slices, masks, callables, remainder).
    groups = np.full(max((s.stop for s in est.output_indices_.values()), default=0), -1, dtype=np.intp)
    for name, trans, _ in est.transformers_:
        out = est.output_indices_[name]
        if (isinstance(trans, str) and trans == "drop") or out.stop == out.start:
            continue
        columns = np.asarray(est._transformer_to_input_indices[name], dtype=np.intp)
        # A part that sees one raw column (a text vectorizer, an encoder, even a PCA) can only depend on that column.
        local = (
            np.zeros(out.stop - out.start, np.intp)
            if len(columns) == 1
            else _input_map(trans, len(columns), _join(path, name))
        )
        _check_width(trans, _join(path, name), len(local), out.stop - out.start)
        groups[out] = columns[local]
    return groups


def _feature_union(est: FeatureUnion, n_in: int, path: str) -> np.ndarray:
    # Every part sees all inputs; outputs are stacked in list order.
    parts = [
        _input_map(trans, n_in, _join(path, name))
        for name, trans in est.transformer_list
        if not (isinstance(trans, str) and trans == "drop")
    ]
    return np.concatenate(parts).astype(np.intp) if parts else np.arange(0)


_COMPOSITES = {Pipeline: _pipeline, ColumnTransformer: _column_transformer, FeatureUnion: _feature_union}


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _input_map(est, n_in: int, path: str) -> np.ndarray:
    """Index, among ``est``'s ``n_in`` input columns, of the single input each output column depends on.

    Raises
    ------
    NonSeparableTransformerError
        If some output depends on several inputs, or the class's structure is unknown.
    """
    if est is None or isinstance(est, str):  # "passthrough" (a "drop" never reaches here)
        return np.arange(n_in)
    for cls, rule in _COMPOSITES.items():
        if isinstance(est, cls):
            return rule(est, n_in, path)
    rule = next((PER_FEATURE_RULES[cls] for cls in type(est).__mro__ if cls in PER_FEATURE_RULES), None)
    if rule is None:
        # Guessing from names or widths could silently mis-sum attributions, so unknown classes are refused.
        raise _step_error(
            est,
            path,
            "is a transformer whose mapping from raw to encoded columns is unknown to skig, so its "
            "attributions cannot be summed back to raw columns (add its class to PER_FEATURE_RULES if it acts "
            "column by column)",
        )
    groups = rule(est, n_in)
    if groups is None:
        raise _step_error(
            est,
            path,
            "has outputs that mix several raw columns, so attributions cannot be summed back to one raw column",
        )
    return np.asarray(groups, dtype=np.intp)


def _names_out(transformer, feature_names_in: np.ndarray, groups: np.ndarray) -> np.ndarray:
    try:
        # Without arguments when fitted on a DataFrame: it then validates against its own ``feature_names_in_``.
        names = transformer.get_feature_names_out(
            None if hasattr(transformer, "feature_names_in_") else feature_names_in
        )
        return np.asarray(names, dtype=object)
    except AttributeError:
        # Some step (e.g. a FunctionTransformer without ``feature_names_out``) cannot name its outputs: use the raw
        # name, numbered within its group when a raw column has several encoded columns.
        counts, seen = np.bincount(groups, minlength=len(feature_names_in)), np.zeros(len(feature_names_in), int)
        names = []
        for g in groups:
            names.append(str(feature_names_in[g]) + (f"_{seen[g]}" if counts[g] > 1 else ""))
            seen[g] += 1
        return np.array(names, dtype=object)


def encoded_feature_groups(transformer, feature_names_in) -> tuple[np.ndarray, np.ndarray]:
    """Map every encoded column of a fitted preprocessor to the raw column it is computed from.

    The mapping is read from the fitted transformers' structure (resolved column selections, fitted categories,
    selected features, ...), never parsed from feature names, which are ambiguous when raw names contain "_".

    Parameters
    ----------
    transformer : estimator or Pipeline or ColumnTransformer or FeatureUnion or "passthrough"
        The fitted preprocessing part of a pipeline (``pipeline[:-1]``), nested arbitrarily.
    feature_names_in : array-like of str of shape (n_raw,)
        The raw column names ``transformer`` was fitted on, in order.

    Returns
    -------
    groups : ndarray of int of shape (n_encoded,)
        ``groups[j]`` is the position in ``feature_names_in`` of the raw column encoded column ``j`` depends on.
    encoded_names : ndarray of object of shape (n_encoded,)
        The encoded column names, as ``transformer.get_feature_names_out()`` gives them (raw names, numbered within
        their group, when some step cannot name its outputs).

    Raises
    ------
    NonSeparableTransformerError
        If a step mixes raw columns (PCA, PolynomialFeatures, Normalizer, ...), changes the width through an opaque
        function, or is of a class whose column mapping is unknown. The message names the step and its class.

    Notes
    -----
    A ``FunctionTransformer`` that keeps the width is assumed to act elementwise; its ``func`` cannot be inspected.
    """
    feature_names_in = np.asarray(feature_names_in, dtype=object)
    # Parts of a top-level composite are named by their own names; a lone transformer by its class, as make_pipeline.
    composite = isinstance(transformer, (str, *_COMPOSITES))
    groups = _input_map(transformer, len(feature_names_in), "" if composite else type(transformer).__name__.lower())
    names = _names_out(transformer, feature_names_in, groups)
    if len(names) != len(groups):
        # A disagreement means an assumption above does not hold for this fitted object: refuse rather than mis-sum.
        raise _step_error(
            transformer,
            "preprocessor",
            f"names {len(names)} encoded columns but {len(groups)} were traced back to raw columns",
        )
    return groups, names
