"""Tests for tracing encoded columns of fitted scikit-learn preprocessors back to the raw columns they come from.

Every configuration is fitted on a small mixed DataFrame and checked both structurally and by perturbing raw columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_regression
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
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

from skig.models._feature_mapping import NonSeparableTransformerError, encoded_feature_groups

#: KBinsDiscretizer's quantile rule, named since scikit-learn 1.7 (which warns when it is left out); earlier
#: releases have one rule and no parameter.
_QUANTILE = {"quantile_method": "averaged_inverted_cdf"} if "quantile_method" in KBinsDiscretizer().get_params() else {}

N = 120
NUM = ["Income", "Age", "Home_rent"]
CAT = ["Home", "Color"]


def _frame(seed: int = 0) -> pd.DataFrame:
    # "Home" and "Home_rent" make names like "cat__Home_rent" ambiguous: the mapping must not parse names.
    rng = np.random.RandomState(seed)
    income = rng.lognormal(3.0, 0.5, N)
    income[rng.rand(N) < 0.1] = np.nan
    home = rng.choice(["rent", "owner", "mortgage"], N).astype(object)
    home[:3] = "other"  # rare: exercises infrequent categories
    home[rng.rand(N) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "Income": income,
            "Age": rng.randint(18, 80, N).astype(float),
            "Home": pd.Series(home, dtype=object),
            "Home_rent": rng.normal(size=N),
            "Color": pd.Categorical(rng.choice(["red", "green", "blue"], N)),
        }
    )


def _target(X: pd.DataFrame, kind: str = "continuous") -> np.ndarray:
    score = np.nan_to_num(X["Income"].to_numpy()) / 20 + X["Home_rent"].to_numpy() + (X["Home"] == "rent").to_numpy()
    if kind == "continuous":
        return score
    edges = [np.median(score)] if kind == "binary" else np.quantile(score, [1 / 3, 2 / 3])
    return np.digitize(score, edges)


def _dense(Z) -> np.ndarray:
    Z = Z.toarray() if hasattr(Z, "toarray") else Z
    return np.asarray(Z, dtype=float)


def _perturbed(X: pd.DataFrame, column: str) -> pd.DataFrame:
    # Shifting rows (and rescaling numbers) changes every value, missingness pattern and category membership.
    X2 = X.copy()
    moved = X[column].iloc[np.roll(np.arange(len(X)), 7)].reset_index(drop=True)
    X2[column] = moved * 1.37 + 0.5 if column in NUM else moved
    return X2


def _check(transformer, X: pd.DataFrame, y=None, exact_names: bool = True):
    """Fit, map, and check the mapping against the transformed output; returns ``(groups, names)``."""
    transformer.fit(X, y)
    groups, names = encoded_feature_groups(transformer, np.asarray(X.columns))
    Z = _dense(transformer.transform(X))
    assert groups.dtype.kind == "i" and names.dtype == object
    assert len(groups) == len(names) == Z.shape[1]
    if exact_names:
        np.testing.assert_array_equal(names, transformer.get_feature_names_out())
    # Behaviour: perturbing raw column i changes only encoded columns traced to i, and all of those that vary (a
    # column constant on X, e.g. the indicator of a never-missing column, may legitimately stay constant).
    varies = ~np.all((Z == Z[:1]) | np.isnan(Z), axis=0)
    for i, column in enumerate(X.columns):
        Z2 = _dense(transformer.transform(_perturbed(X, column)))
        changed = ~((Z == Z2) | (np.isnan(Z) & np.isnan(Z2))).all(axis=0)
        message = f"perturbing {column!r}: {names}"
        assert not np.any(changed & (groups != i)), f"{message} changed {names[changed & (groups != i)]}"
        assert not np.any(varies & ~changed & (groups == i)), (
            f"{message} left {names[varies & ~changed & (groups == i)]}"
        )
    return groups, names


def _ct(*transformers, **kwargs) -> ColumnTransformer:
    return ColumnTransformer(list(transformers), **kwargs)


def _num_pipe(*steps):
    return make_pipeline(SimpleImputer(), *steps)


def _cat_pipe(*steps):
    return make_pipeline(SimpleImputer(strategy="most_frequent"), *steps)


CONFIGS = {
    "names_lists_remainder_passthrough": lambda: _ct(
        ("num", _num_pipe(StandardScaler()), ["Income", "Age"]),
        ("cat", _cat_pipe(OneHotEncoder(drop="first")), CAT),
        remainder="passthrough",
    ),
    "int_positions_and_slice": lambda: _ct(
        ("scaled", _num_pipe(MinMaxScaler()), [0, 3]),
        ("onehot", OneHotEncoder(handle_unknown="ignore"), slice(2, 3)),
        ("ordinal", OrdinalEncoder(), [4]),
    ),
    "bool_mask_callable_selector": lambda: _ct(
        ("robust", _num_pipe(RobustScaler()), [True, False, False, True, False]),
        ("maxabs", MaxAbsScaler(), lambda X: ["Age", "Home_rent"]),
        ("cats", OneHotEncoder(drop="if_binary", sparse_output=False), make_column_selector(dtype_exclude="number")),
    ),
    "drop_and_passthrough_parts_unprefixed_sparse": lambda: _ct(
        ("gone", "drop", ["Age"]),
        ("empty", StandardScaler(), []),
        ("onehot", OneHotEncoder(), ["Color"]),  # one-hot of Home would clash with "Home_rent" once unprefixed
        ("ordinal", OrdinalEncoder(), ["Home"]),
        remainder=_num_pipe(PowerTransformer()),
        verbose_feature_names_out=False,
        sparse_threshold=1.0,
    ),
    "imputer_indicators": lambda: _ct(
        ("num", SimpleImputer(add_indicator=True), ["Income", "Age", "Home_rent"]),
        ("ind", MissingIndicator(), ["Age", "Income", "Home"]),
        ("ind_all", MissingIndicator(features="all"), ["Home", "Age"]),
        ("ord", _cat_pipe(OrdinalEncoder()), CAT),
    ),
    "one_hot_infrequent_and_drop": lambda: _ct(
        ("minfreq", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5), CAT),
        ("maxcat", OneHotEncoder(max_categories=2, drop="first"), CAT),
        ("droparr", OneHotEncoder(drop=["owner", "red"]), CAT),
        ("income", _num_pipe(), ["Income", "Age"]),
    ),
    "binning_quantiles_splines": lambda: _ct(
        ("onehot_bins", _num_pipe(KBinsDiscretizer(n_bins=[3, 4], **_QUANTILE)), [0, 1]),
        ("ordinal_bins", KBinsDiscretizer(n_bins=3, encode="ordinal", **_QUANTILE), [1, 3]),
        ("quantile", _num_pipe(QuantileTransformer(n_quantiles=50)), ["Income", "Age"]),
        ("spline", make_pipeline(SimpleImputer(), SplineTransformer(n_knots=4, include_bias=False)), [0, 3]),
        ("binary", Binarizer(threshold=0.0), ["Home_rent", "Age"]),
    ),
    "function_transformers": lambda: _ct(
        ("log", _num_pipe(FunctionTransformer(np.log1p, feature_names_out="one-to-one")), ["Income", "Age"]),
        ("identity", FunctionTransformer(feature_names_out="one-to-one"), ["Home_rent", "Age"]),
        ("cats", OneHotEncoder(), ["Color"]),
    ),
    "pipeline_then_selectors": lambda: Pipeline(
        [
            ("ct", _ct(("num", _num_pipe(), NUM), ("cat", OneHotEncoder(sparse_output=False), CAT))),
            ("skip", "passthrough"),
            ("variance", VarianceThreshold(0.1)),
            ("kbest", SelectKBest(f_regression, k=5)),
            ("scale", StandardScaler()),
        ]
    ),
    "feature_union_in_ct": lambda: _ct(
        (
            "union",
            make_pipeline(
                SimpleImputer(),
                FeatureUnion(
                    [
                        ("best", SelectKBest(f_regression, k=1)),
                        ("std", StandardScaler()),
                        ("gone", "drop"),
                        ("raw", "passthrough"),
                    ]
                ),
            ),
            ["Income", "Age", "Home_rent"],
        ),
        ("cat", OneHotEncoder(), ["Home"]),
    ),
    "single_column_parts_are_trivially_separable": lambda: _ct(
        ("pca1", _num_pipe(PolynomialFeatures(3), PCA(2)), ["Income"]),
        ("words", CountVectorizer(), "Home_text"),
        ("age", StandardScaler(), ["Age"]),
    ),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_groups_match_output_and_behaviour(name):
    """Every configuration: right width, names, and perturbing a raw column moves exactly its encoded columns."""
    X = _frame()
    if name == "single_column_parts_are_trivially_separable":
        X["Home_text"] = X["Home"].fillna("none").astype(str) + " home " + X["Color"].astype(str)
    _check(CONFIGS[name](), X, _target(X))


def test_expected_groups_with_ambiguous_names():
    X = _frame()
    groups, names = _check(CONFIGS["names_lists_remainder_passthrough"](), X)
    col = {c: i for i, c in enumerate(X.columns)}
    home = sorted(X["Home"].dropna().unique())[1:]  # drop="first" after most-frequent imputation
    expected = ["Income", "Age"] + ["Home"] * len(home) + ["Color"] * 2 + ["Home_rent"]
    np.testing.assert_array_equal(groups, [col[c] for c in expected])
    # "cat__Home_rent" is a one-hot column of Home; "remainder__Home_rent" is the numeric column.
    assert groups[list(names).index("cat__Home_rent")] == col["Home"]
    assert groups[list(names).index("remainder__Home_rent")] == col["Home_rent"]


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_imputer_drops_empty_columns_and_appends_indicators():
    X = _frame().assign(Empty=np.nan)
    imputer = SimpleImputer(add_indicator=True)
    groups, names = _check(_ct(("imp", imputer, ["Income", "Age", "Empty"]), verbose_feature_names_out=False), X)
    # Empty is dropped from the imputed block but still gets its indicator; Age never misses so has none.
    assert list(names) == ["Income", "Age", "missingindicator_Income", "missingindicator_Empty"]
    np.testing.assert_array_equal(groups, [0, 1, 0, 5])
    kept, _ = _check(SimpleImputer(keep_empty_features=True), X[["Income", "Empty"]])
    np.testing.assert_array_equal(kept, [0, 1])


@pytest.mark.parametrize("kind, per_feature", [("continuous", 1), ("binary", 1), ("multiclass", 3)])
def test_target_encoder(kind, per_feature):
    X = _frame()
    groups, _ = _check(_ct(("te", TargetEncoder(), CAT), ("age", "passthrough", ["Age"])), X, _target(X, kind))
    np.testing.assert_array_equal(groups, [2] * per_feature + [4] * per_feature + [1])


def test_standalone_transformer_and_positional_names():
    X = _frame()[["Income", "Age"]]
    groups, names = _check(_num_pipe(SplineTransformer(n_knots=3)), X)
    np.testing.assert_array_equal(groups, np.repeat([0, 1], 5))  # n_knots + degree - 1 splines each
    # Fitted on a bare array: names come from the given raw names.
    groups, names = encoded_feature_groups(OneHotEncoder().fit(np.array([["a"], ["b"], ["a"]])), ["Letter"])
    np.testing.assert_array_equal(groups, [0, 0])
    assert list(names) == ["Letter_a", "Letter_b"]


def test_unnamed_function_transformer_falls_back_to_raw_names():
    X = _frame()
    ct = _ct(("sq", _num_pipe(FunctionTransformer(np.square)), ["Income", "Age"]), ("cat", OneHotEncoder(), ["Color"]))
    groups, names = _check(ct, X, exact_names=False)
    assert list(names) == ["Income", "Age", "Color_0", "Color_1", "Color_2"]
    np.testing.assert_array_equal(groups, [0, 1, 4, 4, 4])


def _error(transformer, X) -> str:
    transformer.fit(X, _target(_frame()))
    with pytest.raises(NonSeparableTransformerError) as info:
        encoded_feature_groups(transformer, np.asarray(X.columns))
    message = str(info.value)
    assert "features='encoded'" in message
    return message


@pytest.mark.parametrize(
    "transformer, step, cls",
    [
        (Pipeline([("ct", _ct(("num", _num_pipe(), NUM))), ("pca", PCA(2))]), "'pca'", "PCA"),
        (
            _ct(("poly", _num_pipe(PolynomialFeatures(2)), ["Income", "Age"])),
            "'poly/polynomialfeatures'",
            "PolynomialFeatures",
        ),
        (_ct(("norm", Normalizer(), ["Age", "Home_rent"])), "'norm'", "Normalizer"),
        (make_pipeline(_ct(("num", _num_pipe(), NUM)), TruncatedSVD(2)), "'truncatedsvd'", "TruncatedSVD"),
        (
            _ct(("fu", make_pipeline(SimpleImputer(), FeatureUnion([("ok", StandardScaler()), ("mix", PCA(1))])), NUM)),
            "'fu/featureunion/mix'",
            "PCA",
        ),
    ],
)
def test_mixing_steps_raise(transformer, step, cls):
    message = _error(transformer, _frame())
    assert step in message and f"({cls})" in message and "mix several raw columns" in message


def test_standalone_mixing_transformer_is_named_by_class():
    message = _error(PCA(1), _frame()[["Age", "Home_rent"]])
    assert "'pca' (PCA)" in message


class _Opaque(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float)


def test_unknown_and_width_changing_transformers_raise():
    X = _frame()
    message = _error(_ct(("mine", _Opaque(), ["Age", "Home_rent"])), X)
    assert "'mine' (_Opaque)" in message and "unknown" in message
    widen = FunctionTransformer(lambda Z: np.hstack([Z, Z]), feature_names_out=lambda self, names: [*names, *names])
    message = _error(_ct(("wide", widen, ["Age", "Home_rent"])), X)
    assert "'wide' (FunctionTransformer)" in message


def test_opaque_function_changing_width_is_caught_by_the_width_checks():
    X = _frame()
    double = FunctionTransformer(lambda Z: np.hstack([Z, Z]))  # no feature_names_out: its width is only seen later
    message = _error(_ct(("twice", double, ["Age", "Home_rent"])), X)
    assert "'twice' (FunctionTransformer) produces 4 columns but 2" in message
    message = _error(make_pipeline(_ct(("num", _num_pipe(), NUM)), double, StandardScaler()), X)
    assert "'functiontransformer' (FunctionTransformer) produces 6 columns but 3" in message


def test_preprocessing_slice_of_a_full_pipeline_with_pandas_output():
    X = _frame()
    ct = _ct(("num", _num_pipe(StandardScaler()), NUM), ("cat", OneHotEncoder(sparse_output=False), CAT))
    pipe = make_pipeline(ct.set_output(transform="pandas"), Ridge()).fit(X, _target(X))
    groups, names = encoded_feature_groups(pipe[:-1], np.asarray(X.columns))
    assert len(groups) == pipe[:-1].transform(X).shape[1] == pipe[-1].n_features_in_
    np.testing.assert_array_equal(names, pipe[:-1].get_feature_names_out())
    np.testing.assert_array_equal(groups[:3], [0, 1, 3])
    assert set(groups[3:]) == {2, 4}
