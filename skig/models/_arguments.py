"""Modules with several forward arguments (``forward(x_num, x_cat)``): ``inputs=`` maps each argument, by name, to
its raw columns; the columns become one float matrix (codes for categorical columns) and a wrapper splits it again.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import FunctionTransformer


@dataclass(frozen=True)
class Argument:
    """One forward argument: its name, its positions in the flat matrix, whether it is read as integer codes, and
    the raw columns it reads (for messages)."""

    name: str
    positions: tuple[int, ...]
    codes: bool
    columns: tuple


class ArgumentsModule(torch.nn.Module):
    """``module`` called with keyword arguments cut from one float matrix (codes cast to ``long``)."""

    def __init__(self, module: torch.nn.Module, arguments: tuple[Argument, ...]) -> None:
        super().__init__()
        self.module = module
        self.arguments = arguments

    def forward(self, x: torch.Tensor):
        named = {}
        for argument in self.arguments:
            part = x[:, list(argument.positions)]
            named[argument.name] = part.long() if argument.codes else part
        try:
            return self.module(**named)
        except (RuntimeError, TypeError) as error:
            floats, message = [a for a in self.arguments if not a.codes], str(error)
            if "'indices'" in message and floats:  # torch: a lookup's indices must be Long or Int
                whole = [a for a in floats if bool((named[a.name] == named[a.name].round()).all())]
                floats = whole or floats  # the arguments holding whole numbers: codes read as floats
                shown = "; ".join(f"{a.name!r} from {list(a.columns)}" for a in floats)
                raise TypeError(
                    f"the model looks up floats in an embedding table ({error}). inputs= passes as floats the "
                    f"arguments whose columns are neither integer nor pandas Categorical: {shown}. Give the code "
                    "columns an integer or Categorical dtype (e.g. X.astype({column: int})), or their categories in "
                    "inputs= ({column: [...categories...]})."
                ) from error
            hint = self.codes_hint()
            # batch_norm, a Linear layer, mean() on integer codes (a lookup's error above names Long too)
            if "Long" in message and "'indices'" not in message and hint:
                raise TypeError(f"the model fails on integer codes ({error}). {hint}") from error
            raise

    def codes_hint(self) -> str:
        """What to do where an argument passed as integer codes may hold numbers: empty where none is."""
        codes = [a for a in self.arguments if a.codes]
        if not codes:
            return ""
        shown = "; ".join(f"{a.name!r} from {list(a.columns)}" for a in codes)
        return (
            f"inputs= passes as integer codes (torch.long) the arguments whose columns are all integer or pandas "
            f"Categorical: {shown}. If some of those columns are numbers, not codes, give them a float dtype (e.g. "
            "X.astype({column: float}))."
        )


def _forward_parameters(module) -> list[inspect.Parameter]:
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return []
    return [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


class InputLayout:
    """``inputs=`` resolved against the reference rows: the column order of the flat matrix, which columns are
    codes (and of which categories), and the forward arguments they make.

    Parameters
    ----------
    inputs : dict
        ``{argument: [column, ...]}`` or ``{argument: {column: categories or None}}``; categories (a list) map
        string values to codes by position, None keeps the column's codes.
    rows : DataFrame
        Reference rows.
    module : torch.nn.Module
        The module whose forward arguments are named.
    description : str
        The model, for messages.
    """

    def __init__(self, inputs: dict, rows, module: torch.nn.Module, description: str) -> None:
        if not isinstance(rows, pd.DataFrame):
            rows = pd.DataFrame(np.asarray(rows))
        parameters = _forward_parameters(module)
        known = {p.name for p in parameters}
        unknown = [name for name in inputs if name not in known]
        if unknown:
            raise ValueError(
                f"inputs names {unknown}, which {description}.forward does not take; its arguments are {sorted(known)}."
            )
        # Called by keyword, forward needs every argument without a default (a positional-only one cannot be named).
        unnamed = [p.name for p in parameters if p.default is p.empty and p.name not in inputs]
        if unnamed:
            raise ValueError(
                f"inputs gives no columns to {description}.forward's argument(s) {unnamed}, which have no default; "
                f"name the columns each reads: inputs={{{', '.join(f'{p.name!r}: [...]' for p in parameters)}}}."
            )
        named = pd.Index(
            [column for spec in inputs.values() if isinstance(spec, (dict, list, tuple)) for column in spec]
        )
        if named.has_duplicates:
            raise ValueError(
                f"inputs gives columns {named[named.duplicated()].unique().tolist()} to several arguments; give each "
                "column to one."
            )
        self.columns: list = []
        self.categories: dict = {}
        arguments = []
        for name, spec in inputs.items():
            columns = list(spec) if isinstance(spec, (dict, list, tuple, pd.Index, np.ndarray)) else None
            if not columns:
                raise ValueError(f"inputs[{name!r}] must list the columns the argument reads, got {spec!r}.")
            missing = [column for column in columns if column not in rows.columns]
            if missing:
                raise ValueError(
                    f"inputs[{name!r}] names columns {missing} that X lacks; X has {list(rows.columns)[:20]}."
                )
            start = len(self.columns)
            for column in columns:
                given = spec.get(column) if isinstance(spec, dict) else None
                self._column_kind(column, rows[column], given)
                self.columns.append(column)
            codes = all(column in self.categories for column in columns)
            arguments.append(Argument(str(name), tuple(range(start, len(self.columns))), codes, tuple(columns)))
        self.arguments = tuple(arguments)

    def _column_kind(self, column, values: pd.Series, given) -> None:
        if given is not None:
            self.categories[column] = pd.Index(list(given))
        elif isinstance(values.dtype, pd.CategoricalDtype):
            self.categories[column] = values.cat.categories
        elif pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
            self.categories[column] = None  # already codes
        elif not pd.api.types.is_numeric_dtype(values):
            raise ValueError(
                f"column {column!r} holds non-numeric values such as {values.iloc[0]!r}; make it a pandas "
                f"Categorical, or give its categories in inputs (e.g. {{{column!r}: [...categories...]}})."
            )

    def encode(self, rows) -> np.ndarray:
        """The flat float matrix: the layout's columns in order, categorical ones as codes (-1 for a category the
        layout does not know, NaN for a missing value, so that the code check names them)."""
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(np.asarray(rows))
        out = np.empty((len(frame), len(self.columns)))
        for position, column in enumerate(self.columns):
            values = frame[column]
            categories = self.categories.get(column, False)
            if categories is None or categories is False:
                out[:, position] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            source = values.astype(object) if isinstance(values.dtype, pd.CategoricalDtype) else values
            # Positions in the categories, -1 where absent (pandas 3 deprecates a Categorical of unknown values).
            codes = pd.Index(categories).get_indexer(pd.Index(source, dtype=object)).astype(np.float64)
            unknown = (codes < 0) & ~values.isna().to_numpy()
            if unknown.any():
                _check_kinds(column, pd.unique(np.asarray(source, dtype=object)[unknown]), categories)
            codes[unknown] = -1.0  # an unknown category: named by the code check
            codes[values.isna().to_numpy()] = np.nan
            out[:, position] = codes
        return out

    def transformer(self, rows) -> FunctionTransformer:
        """A fitted one-to-one transformer giving :meth:`encode`'s matrix, so the adapter treats it as preprocessing."""
        transformer = FunctionTransformer(self.encode, feature_names_out="one-to-one", validate=False)
        return transformer.fit(rows[self.columns] if isinstance(rows, pd.DataFrame) else rows)


class CategoriesError(ValueError):
    """X's values for a categorical column of ``inputs=`` are of another kind than its categories: a message for the
    user as it stands, not a preprocessing failure to explain."""


def _kind(value) -> str:
    return "number" if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) else "text"


def _check_kinds(column, unknown: np.ndarray, categories) -> None:
    """Refuse values (none of them among ``categories``) of another kind than every category: numbers where the
    categories are words (codes given for the categories), or words where they are numbers (categories given as
    numbers for a column of strings). Unknown values of the categories' kind are left to the code check."""
    kinds = {_kind(category) for category in categories}
    if any(_kind(value) in kinds for value in unknown):
        return
    shown, listed = [value for value in unknown[:5]], list(categories)[:10]
    if _kind(unknown[0]) == "number":
        raise CategoriesError(
            f"column {column!r} was fitted with the categories {listed}, but X holds numbers such as {shown} there, "
            "which are none of them: pass the categories themselves (the column as it was at fit, e.g. with the same "
            "pandas Categorical dtype), not their codes."
        )
    raise CategoriesError(
        f"column {column!r} holds words such as {shown}, and the categories for it are numbers ({listed}): none of "
        "its values is one of them. Give the categories as the column spells them (e.g. strings in inputs=), or "
        "convert the column to numbers first."
    )
