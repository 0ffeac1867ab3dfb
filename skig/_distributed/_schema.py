"""The flat output frame of a distributed explanation: its columns, their dtypes, the row key, the checks on them.

What every engine shares before a row is explained; pandas only, no engine imported.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..engine import STOCHASTIC_METHODS
from ..reporting._reason_codes import check_reason_arguments

#: The columns that follow the attributions, in this order.
RESULT_COLUMNS = ("prediction", "base_value", "delta", "n_steps")
DIRECTIONS = ("increase", "decrease")


def as_columns(columns, what: str) -> tuple[str, ...]:
    if columns is None:
        return ()
    if isinstance(columns, str):
        return (columns,)
    columns = tuple(columns)
    if not all(isinstance(column, str) for column in columns):
        raise TypeError(f"{what} must be a column name or a list of column names, got {list(columns)!r}.")
    return columns


@dataclass(frozen=True)
class OutputLayout:
    """The columns of a distributed explanation, and which input columns feed them.

    Output: ``key`` columns, ``keep`` columns (both as in the input), one float64 attribution column per raw
    feature (``prefix`` + the explainer's ``get_feature_names_out()``), ``prediction``, ``base_value``, ``delta``
    (float64), ``n_steps`` (int64), then, when ``reasons`` is given, ``reason_{k}_feature``,
    ``reason_{k}_contribution`` and ``reason_{k}`` for ranks ``k = 1..n_reasons``.

    Parameters
    ----------
    key : tuple of str
        Columns that identify a row: the row key of random draws, set as the index of each batch before explaining.
    keep : tuple of str
        Other input columns carried to the output unchanged (partition or group columns).
    features : tuple of str
        Input columns the explainer reads, in its order.
    attributions : tuple of str
        Output names of the attribution columns, one per explained feature.
    reasons : mapping, callable or None
        Reason texts, as :func:`skig.reason_codes` takes them; None: no reason columns.
    n_reasons : int
        Reasons per row.
    direction : {"increase", "decrease"}
        The adverse direction of the explained output.
    min_contribution : float
        Smallest adverse contribution listed as a reason (as :func:`skig.reason_codes` takes it).
    """

    key: tuple[str, ...]
    keep: tuple[str, ...]
    features: tuple[str, ...]
    attributions: tuple[str, ...]
    reasons: Mapping[str, str] | Callable[[str, object], str] | None = None
    n_reasons: int = 4
    direction: str = "increase"
    min_contribution: float = 0.0

    @classmethod
    def build(
        cls,
        explainer,
        input_columns: Sequence[str],
        *,
        key=None,
        keep=None,
        reasons=None,
        n_reasons: int = 4,
        direction: str = "increase",
        prefix: str = "",
        min_contribution: float = 0.0,
    ) -> OutputLayout:
        """The layout of ``explainer`` on a frame with ``input_columns``; checks every name against them.

        Raises
        ------
        ValueError
            If a named column is missing, two output columns share a name, or a reason option is invalid.
        """
        check_is_fitted(explainer)
        key, keep = as_columns(key, "key"), as_columns(keep, "keep")
        input_columns = [str(column) for column in input_columns]
        fitted = getattr(explainer, "feature_names_in_", None)
        if fitted is not None:
            features = tuple(str(name) for name in fitted)
        else:
            # Fitted without column names: the features are the other input columns, in their order.
            features = tuple(column for column in input_columns if column not in set(key) | set(keep))
            if len(features) != explainer.n_features_in_:
                raise ValueError(
                    f"the explainer was fitted on {explainer.n_features_in_} unnamed columns, but the data has "
                    f"{len(features)} columns besides key and keep: {features}; fit the explainer on a DataFrame."
                )
        missing = [column for column in (*key, *keep, *features) if column not in set(input_columns)]
        if missing:
            raise ValueError(
                f"the data is missing columns {missing}; it has {input_columns} (key={list(key)}, keep={list(keep)}, "
                f"the explainer reads {list(features)})."
            )
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}.")
        if reasons is not None and not (callable(reasons) or isinstance(reasons, Mapping)):
            raise TypeError(f"reasons must be a mapping or a callable, got {type(reasons).__name__}.")
        if not isinstance(n_reasons, (int, np.integer)) or isinstance(n_reasons, bool) or n_reasons < 1:
            raise ValueError(f"n_reasons must be a positive integer, got {n_reasons!r}.")
        check_reason_arguments(n_reasons, direction, reasons, min_contribution)
        attributions = tuple(f"{prefix}{name}" for name in explainer.get_feature_names_out())
        layout = cls(key, keep, features, attributions, reasons, int(n_reasons), direction, float(min_contribution))
        columns = layout.columns
        duplicated = sorted({column for column in columns if columns.count(column) > 1})
        if duplicated:
            raise ValueError(
                f"output columns {duplicated} would appear twice (key, keep, attributions and {list(RESULT_COLUMNS)} "
                "share one namespace); pass prefix='attribution_' or rename the input columns."
            )
        return layout

    @property
    def carried(self) -> tuple[str, ...]:
        """Input columns copied to the output: key, then keep (each once)."""
        return tuple(dict.fromkeys((*self.key, *self.keep)))

    @property
    def reason_columns(self) -> tuple[str, ...]:
        if self.reasons is None:
            return ()
        return tuple(
            name
            for rank in range(1, self.n_reasons + 1)
            for name in (f"reason_{rank}_feature", f"reason_{rank}_contribution", f"reason_{rank}")
        )

    @property
    def columns(self) -> list[str]:
        """Every output column, in order."""
        return [*self.carried, *self.attributions, *RESULT_COLUMNS, *self.reason_columns]

    @property
    def needed(self) -> list[str]:
        """The input columns a batch needs: carried columns and features, each once."""
        return list(dict.fromkeys((*self.carried, *self.features)))

    def computed_dtypes(self) -> dict[str, object]:
        """dtypes of the columns skig computes (all but the carried ones)."""
        dtypes: dict[str, object] = dict.fromkeys(self.attributions, np.dtype(np.float64))
        dtypes.update(dict.fromkeys(RESULT_COLUMNS[:3], np.dtype(np.float64)))
        dtypes["n_steps"] = np.dtype(np.int64)
        for rank in range(1, self.n_reasons + 1 if self.reasons is not None else 1):
            dtypes[f"reason_{rank}_feature"] = np.dtype(object)
            dtypes[f"reason_{rank}_contribution"] = np.dtype(np.float64)
            dtypes[f"reason_{rank}"] = np.dtype(object)
        return dtypes

    def empty(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The output of a batch of no rows: the layout's columns and dtypes, ``frame``'s carried dtypes and index."""
        carried = frame.loc[:, list(self.carried)].iloc[:0]
        computed = pd.DataFrame(
            {name: pd.Series([], dtype=dtype) for name, dtype in self.computed_dtypes().items()}, index=carried.index
        )
        return pd.concat([carried, computed], axis=1)[self.columns]

    def row_index(self, frame: pd.DataFrame) -> pd.Index:
        """The row key of each row: the key columns (a MultiIndex for several), or the frame's own index."""
        if not self.key:
            return frame.index
        nulls = [column for column in self.key if frame[column].isna().any()]
        if nulls:
            raise ValueError(f"key columns {nulls} have missing values; every row needs a key.")
        if len(self.key) == 1:
            return pd.Index(frame[self.key[0]], name=self.key[0])
        return pd.MultiIndex.from_frame(frame.loc[:, list(self.key)])


def check_reasons(layout: OutputLayout) -> None:
    """Warn once, on the driver, about features that a reasons mapping does not name."""
    if isinstance(layout.reasons, Mapping):
        unmapped = sorted(set(layout.features) - set(layout.reasons))
        if unmapped:
            warnings.warn(f"no reason text for features {unmapped}; their names are used instead.", stacklevel=4)


def check_key(explainer, layout: OutputLayout, rows_have_index: bool) -> None:
    """Refuse a stochastic method without a row key where the engine gives rows no index (Spark)."""
    if not rows_have_index and not layout.key and explainer.method in STOCHASTIC_METHODS:
        raise ValueError(
            f"method={explainer.method!r} draws random numbers per row from the row key, and Spark rows have no "
            "index: pass key='<id column>' (or a list of columns) naming columns that identify each row."
        )
