"""The one CSV writer of skig: every text quoted, and no line of any cell that a spreadsheet would run as a formula.

Used by :func:`write_csv` and by every CSV the ``skig`` command writes (attributions, adverse action, ...).
"""

from __future__ import annotations

import csv
import re
from numbers import Number
from os import PathLike
from typing import TextIO

import numpy as np
import pandas as pd

#: Characters that make a spreadsheet read a cell (or a line of it) as a formula: OWASP's list ("CSV Injection")
#: and the full-width forms that some spreadsheets fold into it.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
#: Blanks a spreadsheet may skip before it reads a formula.
_LEADING_BLANKS = " \u00a0\u3000"
#: What :meth:`str.splitlines` splits on.
_LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"
#: A plain decimal number (``-0.5``, ``+3``, ``1e-3``) is a number, not a formula: it stays as it is.
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def spreadsheet_safe(value):
    """``value`` with ``'`` before every line that a spreadsheet would run as a formula; numbers and NA as they are.

    Lines are split as :meth:`str.splitlines` splits them (CR, LF, CRLF and the other line breaks), so a formula
    cannot hide after a carriage return; a line counts as a formula when its first character, or its first after
    blanks, is one of ``= + - @``, a tab or a carriage return (or a full-width ``＝ ＋ － ＠``). Other objects are
    written as their text, so they are checked as text.
    """
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (Number, np.bool_)) or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return value
    else:
        text = str(value)
    return "".join(_safe_line(line) for line in text.splitlines(keepends=True))


def _safe_line(line: str) -> str:
    start = line.lstrip(_LEADING_BLANKS)
    if start[:1] in FORMULA_STARTS and not _NUMBER.fullmatch(start.rstrip(_LINE_BREAKS)):
        return "'" + line
    return line


def _is_text(dtype) -> bool:
    """Whether a column or index of ``dtype`` can hold text (object, string, categorical); numbers, booleans and
    dates cannot, and are written as they are."""
    types = pd.api.types
    return types.is_object_dtype(dtype) or types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)


def _safe_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        levels = [_safe_index(index.get_level_values(level)) for level in range(index.nlevels)]
        return pd.MultiIndex.from_arrays(levels, names=[spreadsheet_safe(name) for name in index.names])
    name = spreadsheet_safe(index.name)
    if not _is_text(index.dtype):
        return index.rename(name)
    return pd.Index([spreadsheet_safe(label) for label in index], dtype=object, name=name)


def spreadsheet_safe_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with every text cell, index label, index name and column name made safe by
    :func:`spreadsheet_safe`; numeric, boolean and date columns are left as they are (numbers stay numbers)."""
    safe = table.copy()
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if _is_text(column.dtype):
            safe.isetitem(position, column.astype(object).map(spreadsheet_safe, na_action="ignore"))
    safe.index = _safe_index(safe.index)
    safe.columns = _safe_index(safe.columns)
    return safe


def write_csv(table: pd.DataFrame | pd.Series, path: str | PathLike | TextIO, *, index: bool = True) -> None:
    """Write ``table`` to a CSV file that a spreadsheet opens safely and that reads back with the rows written.

    Every text field is quoted (so a carriage return or newline inside a cell stays inside it) and lines end with
    ``\\n``. Every line inside a text cell, index label or column name that a spreadsheet would run as a formula (it
    starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, also after blanks or in full-width form) is
    prefixed with ``'``, as OWASP's CSV-injection guidance says. Numbers (``-0.5``) stay numbers.

    Parameters
    ----------
    table : DataFrame or Series
        The table to write, e.g. ``skig.adverse_action(exp, reasons)`` or ``exp.values``.
    path : str, path-like or text buffer
        The file to write (UTF-8), or a buffer to write into.
    index : bool, default=True
        Write the index (row labels, e.g. application ids) as the first column.

    Examples
    --------
    >>> import io, pandas as pd
    >>> from skig.reporting import write_csv
    >>> buffer = io.StringIO()
    >>> write_csv(pd.DataFrame({"reason": ["=1+1", "Debt\\r=cmd"], "score": [-0.5, 1.0]}, index=["a", "b"]), buffer)
    >>> print(buffer.getvalue().replace("\\r", "<CR>"), end="")
    "","reason","score"
    "a","'=1+1",-0.5
    "b","Debt<CR>'=cmd",1.0
    """
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    spreadsheet_safe_frame(frame).to_csv(
        path, index=index, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n", encoding="utf-8"
    )
