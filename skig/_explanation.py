"""The result of explaining rows: attributions on raw columns with their base values, predictions and data.

Parallel pandas objects share the input's index; the object slices like an array and converts to SHAP's Explanation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ._labels import distinct_label
from .plots import PlotAccessor, cohorts
from .plots._cohorts import MAX_COHORTS


class Explanation:
    """Attributions of a set of rows, with what is needed to read them.

    Completeness ties the parts together: ``values.sum(axis=1) + base_values == predictions + delta``.

    Parameters
    ----------
    values : DataFrame of shape (n_rows, n_features)
        Attribution of each raw feature, indexed like the explained rows.
    base_values : Series of shape (n_rows,)
        Model output at the baseline (the weighted mean over baselines) for each row's target.
    predictions : Series of shape (n_rows,)
        Model output at each row for its target.
    data : DataFrame of shape (n_rows, n_features)
        The explained rows' raw values.
    encoded_values : DataFrame of shape (n_rows, n_encoded), default=None
        Attributions on the columns the model reads (after preprocessing); ``values`` when None.
    target : Series of shape (n_rows,), default=None
        The class label (or output index) explained for each row.
    output : str, default="raw"
        The output space explained: ``"raw"``, ``"logit"`` or ``"probability"``.
    method : str, default="ig"
        The attribution method.
    n_steps : Series of shape (n_rows,), default=None
        Model evaluations per path used for each row (linear segments crossed, for exact integration).
    baseline : DataFrame or None, default=None
        The baseline (or background) rows in raw terms, one row per baseline, with their weight as the last column
        (named ``weight``, or ``baseline_weight`` where a feature is already named ``weight``: see
        :func:`with_weights`); None when the baseline has no raw form (``features="encoded"``).
    base_value_label : str, default="f(baseline)"
        What ``base_values`` is: ``"f(baseline)"`` for one baseline row, ``"E[f(background)]"`` for a weighted
        background. Plots and reports use it as the base value's label.
    outcome : str or None, default=None
        What the explained output means in words (``"probability of default"``); plots, reason codes and reports
        name it so. None: the output space and class name it.

    Attributes
    ----------
    delta : Series of shape (n_rows,)
        Completeness error ``values.sum(axis=1) + base_values - predictions``, with ``base_values`` and
        ``predictions`` matched to ``values`` by label; NaN for a row with a NaN attribution.
    interactions : DataFrame of shape (n_rows * n_features, n_features) or None
        Pairwise interactions (``explain(X, interactions=True)``): rows are (row label, feature), columns features;
        ``interactions.loc[label]`` is that row's symmetric matrix, whose rows sum to its attributions.
    interaction_delta : DataFrame of shape (n_rows, 2) or None
        Completeness of the interactions per row: ``rows`` is the largest ``|sum_j G_ij - values_i|``, ``total`` is
        ``sum_ij G_ij + base_values - predictions``.
    feature_names : list of str
        Raw feature names, in column order.

    Examples
    --------
    >>> import pandas as pd
    >>> exp = Explanation(
    ...     values=pd.DataFrame({"a": [1.0, -0.5], "b": [0.25, 0.0]}),
    ...     base_values=pd.Series([0.5, 0.5]),
    ...     predictions=pd.Series([1.75, 0.0]),
    ...     data=pd.DataFrame({"a": [3.0, 1.0], "b": [2.0, 2.0]}),
    ... )
    >>> float(exp.delta.abs().max())
    0.0
    >>> len(exp.iloc[0:1]), exp.iloc[1].predictions.item(), exp.loc[1].predictions.item()
    (1, 0.0, 0.0)

    Rows are selected as in pandas: ``exp.loc[label]`` by index label, ``exp.iloc[position]`` by position (both
    also take slices, lists and boolean masks); ``exp[mask]`` takes a boolean mask only, so a bare ``exp[i]``
    never means a label in one place and a position in another.
    """

    def __init__(
        self,
        values: pd.DataFrame,
        base_values: pd.Series,
        predictions: pd.Series,
        data: pd.DataFrame,
        *,
        encoded_values: pd.DataFrame | None = None,
        target: pd.Series | None = None,
        output: str = "raw",
        method: str = "ig",
        n_steps: pd.Series | None = None,
        baseline: pd.DataFrame | None = None,
        base_value_label: str = "f(baseline)",
        outcome: str | None = None,
        is_row: bool = False,
    ) -> None:
        self._fill(
            values,
            base_values.rename("base_value"),
            predictions.rename("prediction"),
            data,
            encoded_values=encoded_values,
            target=target.rename("target") if target is not None else None,
            output=output,
            method=method,
            n_steps=n_steps.rename("n_steps") if n_steps is not None else None,
            baseline=baseline,
            base_value_label=base_value_label,
            outcome=outcome,
            is_row=is_row,
        )

    @classmethod
    def _of_named(cls, *parts, **named) -> Explanation:
        """An explanation of parts that are skig's own, their Series already named ``base_value``, ``prediction``,
        ``target`` and ``n_steps`` and shared with no caller: held as they are, without the renamed copies
        ``__init__`` makes of a caller's Series (four renames cost about 0.15 ms of a call). Every part is given,
        as to :meth:`_fill`; ``is_row`` defaults to False."""
        explanation = cls.__new__(cls)
        explanation._fill(*parts, **named)
        return explanation

    def _fill(
        self,
        values,
        base_values,
        predictions,
        data,
        *,
        encoded_values,
        target,
        output,
        method,
        n_steps,
        baseline,
        base_value_label,
        outcome,
        is_row=False,
    ) -> None:
        """Hold the parts (``__init__``'s parameters, its Series named)."""
        self.values = values
        self.base_values = base_values
        self.predictions = predictions
        self.data = data
        self.encoded_values = values if encoded_values is None else encoded_values
        self.target = target
        self.output = output
        self.method = method
        self.n_steps = n_steps
        self.baseline = baseline
        self.base_value_label = base_value_label
        self.outcome = outcome
        self.is_row = is_row
        # Summed in numpy on values' labels: a NaN attribution (a row whose path met a NaN gradient) leaves its row's
        # delta NaN, where pandas' sum skipped it and showed base_value - prediction as the error; and one row's
        # delta costs 50 µs instead of 190.
        index = values.index
        self.delta = pd.Series(
            values.to_numpy(dtype=np.float64).sum(axis=1) + _on(self.base_values, index) - _on(self.predictions, index),
            index=index,
            name="delta",
        )
        self._interactions: np.ndarray | None = None

    # --- interactions (Integrated / Expected Hessians; skig/_interactions.py computes them)
    def set_interactions(self, matrices: np.ndarray) -> None:
        """Attach per-row interaction matrices of shape (n_rows, n_features, n_features)."""
        matrices = np.asarray(matrices, dtype=np.float64)
        if matrices.shape != (len(self), self.values.shape[1], self.values.shape[1]):
            raise ValueError(f"interaction matrices must have shape {(len(self), *self.values.shape[1:] * 2)}.")
        self._interactions = matrices

    @property
    def interactions(self) -> pd.DataFrame | None:
        if self._interactions is None:
            return None
        columns = self.values.columns
        index = pd.MultiIndex.from_product(
            [self.values.index, columns], names=[self.values.index.name or "row", "feature"]
        )
        return pd.DataFrame(self._interactions.reshape(-1, len(columns)), index=index, columns=columns)

    @property
    def interaction_delta(self) -> pd.DataFrame | None:
        if self._interactions is None:
            return None
        row_error = np.abs(self._interactions.sum(axis=2) - self.values.to_numpy(dtype=np.float64)).max(axis=1)
        total = self._interactions.sum(axis=(1, 2)) + (self.base_values - self.predictions).to_numpy()
        return pd.DataFrame({"rows": row_error, "total": total}, index=self.values.index)

    def interaction_importance(self) -> pd.Series:
        """Mean absolute interaction of each pair of distinct features, largest first.

        Returns
        -------
        Series
            Indexed by (feature, other feature), each unordered pair once; ``interactions`` holds the signed
            per-row values, ``skig.plots.interaction_heatmap`` draws the whole matrix.
        """
        if self._interactions is None:
            raise ValueError("this explanation has no interactions: explain the rows with interactions=True.")
        columns = self.values.columns
        mean_abs = np.abs(self._interactions).mean(axis=0)
        first, second = np.triu_indices(len(columns), k=1)
        index = pd.MultiIndex.from_arrays([columns[first], columns[second]], names=["feature", "other"])
        pairs = pd.Series(mean_abs[first, second], index=index, name="mean_abs_interaction")
        return pairs.sort_values(ascending=False, kind="stable")

    # --- end interactions

    @property
    def feature_names(self) -> list[str]:
        return [str(name) for name in self.values.columns]

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        n_rows, n_features = self.values.shape
        return (
            f"Explanation(method={self.method!r}, output={self.output!r}, rows={n_rows}, features={n_features}, "
            f"max |delta|={self.delta.abs().max():.3g})"
        )

    def _take(self, positions: np.ndarray, is_row: bool = False) -> Explanation:
        def rows(frame):
            return None if frame is None else frame.iloc[positions]

        taken = Explanation._of_named(
            rows(self.values),
            rows(self.base_values),
            rows(self.predictions),
            rows(self.data),
            encoded_values=rows(self.encoded_values),
            target=rows(self.target),
            output=self.output,
            method=self.method,
            n_steps=rows(self.n_steps),
            baseline=self.baseline,
            base_value_label=self.base_value_label,
            outcome=self.outcome,
            is_row=is_row,
        )
        if self._interactions is not None:
            taken.set_interactions(self._interactions[positions])
        return taken

    @property
    def loc(self) -> _RowIndexer:
        """Rows by index label, as ``DataFrame.loc``: a label gives one row; a list, slice or mask gives several."""
        return _RowIndexer(self, "loc")

    @property
    def iloc(self) -> _RowIndexer:
        """Rows by position, as ``DataFrame.iloc``: an int gives one row; a list, slice or mask gives several."""
        return _RowIndexer(self, "iloc")

    def __getitem__(self, key) -> Explanation:
        """Rows selected by a boolean mask (array, or Series aligned on the index). Use ``.loc`` or ``.iloc`` else."""
        if isinstance(key, pd.Series) and pd.api.types.is_bool_dtype(key):
            return self.loc[key]  # aligned on the index, as pandas does
        array = np.asarray(key) if isinstance(key, (list, np.ndarray)) else None
        if array is not None and array.dtype == bool:
            return self.iloc[array]
        raise TypeError(
            f"exp[{key!r}] is ambiguous: select rows with exp.loc[label] (index labels, e.g. an applicant id) or "
            "exp.iloc[position] (0 is the first row); exp[...] takes only a boolean mask."
        )

    @property
    def plot(self) -> PlotAccessor:
        """Plots of this explanation: ``exp.plot.beeswarm()``, ``exp.plot.waterfall(row=label)``, ... (skig.plots)."""
        return PlotAccessor(self)

    def cohorts(self, column: str, bins=None, max_cohorts: int = MAX_COHORTS) -> dict[str, Explanation]:
        """Rows split by the values of ``column`` of ``data``: a dict of name to Explanation (see plots.cohorts)."""
        return cohorts(self, column, bins, max_cohorts)

    def importance(self) -> pd.Series:
        """Global importance: mean absolute attribution per feature, largest first."""
        return self.values.abs().mean(axis=0).sort_values(ascending=False).rename("mean_abs_attribution")

    def to_frame(self) -> pd.DataFrame:
        """Tidy form: one line per (row, feature) with the feature's value and its attribution.

        The rows' column takes the index's name (``row`` without one); an index named like one of the other columns
        (``feature``, ``feature_value``, ``attribution``) gets a qualified name, ``"feature (row)"``.
        """
        tidy = ("feature", "feature_value", "attribution")
        index_name = "row" if self.values.index.name is None else self.values.index.name
        if index_name in tidy:
            index_name = distinct_label(str(index_name), tidy, "row")
        values = self.values.rename_axis(index=index_name, columns="feature").stack(future_stack=True)
        data = self.data.astype(object).rename_axis(index=index_name, columns="feature").stack(future_stack=True)
        return pd.DataFrame({"feature_value": data, "attribution": values}).reset_index()

    def to_shap(self, interactions: bool = False):
        """This explanation as a ``shap.Explanation`` (values, base_values, data, feature_names), drawing the same
        f(x) in SHAP's plots as in skig's.

        With ``interactions=True`` (an explanation computed with interactions) the values are the per-row interaction
        matrices, shape (n_rows, n_features, n_features), as SHAP's tree interaction values: ``shap.Explanation`` has
        no separate slot for them, and SHAP's plots that read interaction values take that array,
        ``shap.summary_plot(e.values, e.data, feature_names=e.feature_names)`` and
        ``shap.dependence_plot((a, b), e.values, e.data, feature_names=e.feature_names)``. The matrices sum to the
        same ``values`` over their last axis, so the base values are the same.

        SHAP draws a row's output as ``base_values + values.sum()``: where its waterfall ends, the bold number of its
        force plot, the end of a decision path. skig's attributions add up to the prediction only within the
        completeness error, ``values.sum(axis=1) + base_values == predictions + delta``. So the delta is folded into
        the base value: SHAP's ``base_values`` are ``predictions - values.sum(axis=1)`` (``exp.base_values -
        exp.delta``), and SHAP's plots end at skig's prediction f(x). The base value takes the delta, not the
        attributions, because the attributions are what is read feature by feature (SHAP's beeswarm, bar and
        scatter show exactly ``exp.values``) and a made-up "completeness gap" feature would be ranked among the
        real ones; the base value moves by ``|delta|`` only (0 for an exact integration), and ``exp.base_values``
        keeps the model's output at the baseline itself.

        Categorical columns are coded as numbers in ``data`` (so SHAP can colour by them) and kept as they are in
        ``display_data``. A one-row explanation (``exp.loc[label]``, ``exp.iloc[i]``) becomes a one-dimensional
        SHAP explanation, as ``shap.plots.waterfall`` expects.
        """
        import shap

        numeric, display = _numeric_data(self.data)
        values = self.values.to_numpy(dtype=np.float64)
        base_values = self.predictions.to_numpy(dtype=np.float64) - values.sum(axis=1)
        if interactions:
            if self._interactions is None:
                raise ValueError("this explanation has no interactions: explain the rows with interactions=True.")
            values = self._interactions
        if self.is_row:
            values, base_values, numeric, display = values[0], base_values[0], numeric[0], display[0]
        return shap.Explanation(
            values=values,
            base_values=base_values,
            data=numeric,
            display_data=display,
            feature_names=self.feature_names,
        )


def _numeric_data(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numbers for every column (category codes for non-numeric ones, NaN kept) and the raw values for display."""
    columns = []
    for name in data.columns:
        column = data[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            columns.append(pd.to_numeric(column, errors="coerce").astype(np.float64).to_numpy())
        else:
            codes = pd.Categorical(column).codes.astype(np.float64)
            codes[codes < 0] = np.nan
            columns.append(codes)
    numeric = np.column_stack(columns) if columns else np.empty((len(data), 0))
    return numeric, data.to_numpy(dtype=object)


class _RowIndexer:
    """``exp.loc`` and ``exp.iloc``: pandas' own label and position rules, applied to every part at once."""

    def __init__(self, exp: Explanation, how: str) -> None:
        self._exp = exp
        self._how = how

    def __getitem__(self, key) -> Explanation:
        positions = pd.Series(np.arange(len(self._exp)), index=self._exp.values.index)
        if isinstance(key, tuple):
            raise IndexError(f"{self._how}[...] selects rows only; select columns from exp.values afterwards.")
        try:
            picked = positions.loc[key] if self._how == "loc" else positions.iloc[key]
        except KeyError as error:
            raise KeyError(
                f"{key!r} is not an index label of this explanation (labels: {_preview(positions.index)}); "
                "use exp.iloc[...] to select by position."
            ) from error
        if isinstance(picked, pd.Series):
            return self._exp._take(picked.to_numpy())
        return self._exp._take(np.array([int(picked)]), is_row=True)


def _preview(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(repr(label) for label in index[:limit])
    return f"[{shown}{', ...' if len(index) > limit else ''}]"


def _on(series: pd.Series, index: pd.Index) -> np.ndarray:
    """``series``'s values for the labels ``index``, as float64 (matched by label where its own index differs)."""
    return (series if series.index.equals(index) else series.reindex(index)).to_numpy(dtype=np.float64)


def with_weights(rows: pd.DataFrame, weights) -> pd.DataFrame:
    """``rows`` with their ``weights`` as a last column named ``weight``, or, where a column of ``rows`` already has
    that name (a feature called ``weight``), ``baseline_weight`` (then ``baseline_weight_2``, ...): the weights never
    replace a column of the user's."""
    names = itertools.chain(("weight", "baseline_weight"), (f"baseline_weight_{k}" for k in itertools.count(2)))
    return rows.assign(**{next(name for name in names if name not in rows.columns): weights})
