"""Every CSV skig writes reads back with the rows written, and no line of any cell starts a spreadsheet formula."""

from __future__ import annotations

import csv
import json
import re

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import skig
from skig.cli import main

# Written here, not imported from skig: the test's own idea of what a spreadsheet runs as a formula.
FORMULA_FIRST = set("=+-@\t\r") | {"\uff1d", "\uff0b", "\uff0d", "\uff20"}
BLANKS = " \u00a0\u3000"
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)

#: Texts an attacker can put in a source system: formulas after CR, LF, CRLF, tabs, blanks, in full width.
HOSTILE = [
    "A17\r=cmd|' /C calc'!A0",
    "A18\n=1+1",
    "A19\r\n+SUM(A1)",
    "\r=cmd",
    "\n-2+3",
    "\t=x",
    "x\t=y",
    '  =HYPERLINK("http://x")',
    "\u3000@SUM(A1)",
    "\u00a0-1+1",
    "\uff1d1+1",
    "ok\r\uff0bcmd",
    "\uff20x",
    "\uff0d3",
    "+1+2",
    "@x",
    "-Income too low",
    "a\u2028=b",
    "\r",
    "trailing\r",
    'say "hi", then =go',
    "semi;colon,comma",
    "plain",
    "-0.5",
]


def _lines_are_safe(text: str) -> bool:
    for line in text.splitlines():
        start = line.lstrip(BLANKS)
        if start[:1] in FORMULA_FIRST and not NUMBER.fullmatch(start):
            return False
    return not (text[:1] in FORMULA_FIRST and not NUMBER.fullmatch(text.strip()))


def _unprefixed(text: str) -> str:
    """``text`` without the ``'`` the writer put before formula lines: the user's text again."""
    return "".join(
        line[1:] if line.startswith("'") and line[1:].lstrip(BLANKS)[:1] in FORMULA_FIRST else line
        for line in text.splitlines(keepends=True)
    )


def _read_with_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def _check_file(path, n_rows: int, numeric: list[str]) -> tuple[list[list[str]], pd.DataFrame]:
    """Read ``path`` back with the csv module and with pandas: rows, safe cells, numbers still numbers."""
    rows = _read_with_csv(path)
    assert len(rows) == n_rows + 1, f"{len(rows) - 1} rows read back for {n_rows} written"
    assert len({len(row) for row in rows}) == 1
    unsafe = [cell for row in rows for cell in row if not _lines_are_safe(cell)]
    assert unsafe == []
    # round_trip: pandas before 2.2 parses floats with a faster, inexact parser by default.
    frame = pd.read_csv(path, index_col=0, keep_default_na=False, na_values=[""], float_precision="round_trip")
    assert len(frame) == n_rows
    for name in numeric:
        assert pd.api.types.is_numeric_dtype(frame[name]), (name, frame[name].dtype)
    return rows, frame


@pytest.fixture
def hostile_table():
    n = len(HOSTILE)
    rng = np.random.RandomState(0)
    return pd.DataFrame(
        {
            "reason_1": HOSTILE,
            "=category\r@x": pd.Categorical(HOSTILE[::-1]),
            "reason_2": [*HOSTILE[1:], None],
            "score": rng.normal(size=n) - 1.0,
            "count": np.arange(-5, n - 5),
            "flag": rng.normal(size=n) > 0,
            "missing": [np.nan, *rng.normal(size=n - 1)],
            "mixed": [-1, "=1+1", 2.5, None, *(["x\r-y"] * (n - 4))],
        },
        index=pd.Index([f"{text}#{i}" for i, text in enumerate(HOSTILE)], name="id\n=x"),
    )


def test_hostile_table_reads_back_row_for_row(hostile_table, tmp_path):
    path = tmp_path / "t.csv"
    skig.write_csv(hostile_table, path)
    rows, frame = _check_file(path, len(hostile_table), ["score", "count", "missing"])
    header = rows[0]
    assert header[0] == "id\n'=x" and header[2] == "'=category\r'@x"
    # every text comes back as written, but for the ' before each formula line
    assert [_unprefixed(row[0]) for row in rows[1:]] == hostile_table.index.tolist()
    assert [_unprefixed(row[1]) for row in rows[1:]] == HOSTILE
    assert [_unprefixed(row[2]) for row in rows[1:]] == HOSTILE[::-1]
    assert rows[1][1] == "A17\r'=cmd|' /C calc'!A0"
    assert rows[-1][1] == "-0.5"  # a number in a text column is not a formula
    assert rows[-1][3] == ""  # None is an empty cell
    # numbers are written unquoted and read back equal, negatives included
    np.testing.assert_array_equal(frame["score"].to_numpy(), hostile_table["score"].to_numpy())
    np.testing.assert_array_equal(frame["count"].to_numpy(), hostile_table["count"].to_numpy())
    assert frame["flag"].tolist() == hostile_table["flag"].tolist()
    assert np.isnan(frame["missing"].iloc[0])
    assert [row[8] for row in rows[1:4]] == ["-1", "'=1+1", "2.5"]


def test_series_numeric_index_and_multiindex(tmp_path):
    series = pd.Series([0.5, -0.25], index=pd.Index([-3, 7], name="=row"), name="@value")
    skig.write_csv(series, tmp_path / "s.csv")
    assert _read_with_csv(tmp_path / "s.csv") == [["'=row", "'@value"], ["-3", "0.5"], ["7", "-0.25"]]
    index = pd.MultiIndex.from_arrays([["a\r=b", "c"], [1, 2]], names=["-k", "n"])
    table = pd.DataFrame({"v": [1.0, 2.0]}, index=index)
    skig.write_csv(table, tmp_path / "m.csv", index=True)
    assert _read_with_csv(tmp_path / "m.csv") == [["'-k", "n", "v"], ["a\r'=b", "1", "1.0"], ["c", "2", "2.0"]]
    skig.write_csv(table, tmp_path / "n.csv", index=False)
    assert _read_with_csv(tmp_path / "n.csv") == [["v"], ["1.0"], ["2.0"]]


# ----------------------------------------------------------------------- the skig command writes through it
@pytest.fixture
def hostile_files(tmp_path):
    """A model, 40 applicants whose ids come from ``HOSTILE``, and reason texts with formulas after CRs."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["income", "debt", "age"])
    model = LogisticRegression().fit(X, (X["income"] - X["debt"] > 0).astype(int))
    joblib.dump(model, tmp_path / "model.joblib")
    ids = [f"{HOSTILE[i % len(HOSTILE)]}#{i}" for i in range(len(X))]
    # the input is written quoted (a hostile source system can do that): pandas reads the ids back as they are
    X.assign(app_id=ids).to_csv(tmp_path / "data.csv", index=False, quoting=csv.QUOTE_NONNUMERIC)
    assert pd.read_csv(tmp_path / "data.csv")["app_id"].tolist() == ids
    reasons = {"income": "Income\r=cmd|' /C calc'!A0", "debt": "Debt\n\uff0bx", "age": "\t@age"}
    (tmp_path / "reasons.json").write_text(json.dumps(reasons), encoding="utf-8")
    return tmp_path, ids


def test_explain_output_reads_back_with_every_applicant(hostile_files):
    path, ids = hostile_files
    args = ["explain", str(path / "model.joblib"), str(path / "data.csv"), "--index-col", "app_id", "--steps", "8"]
    assert main([*args, "--no-progress", "-o", str(path / "out.csv")]) == 0
    numeric = ["attribution_income", "attribution_debt", "attribution_age", "prediction", "base_value", "delta"]
    rows, frame = _check_file(path / "out.csv", len(ids), numeric)
    assert [_unprefixed(row[0]) for row in rows[1:]] == ids
    assert rows[0][0] == "app_id" and rows[1][0] == "A17\r'=cmd|' /C calc'!A0#0"


def test_adverse_action_output_reads_back_with_every_applicant(hostile_files):
    path, ids = hostile_files
    args = ["adverse-action", str(path / "model.joblib"), str(path / "data.csv"), "--index-col", "app_id"]
    options = ["--reasons", str(path / "reasons.json"), "--steps", "8", "--no-progress"]
    assert main([*args, *options, "-o", str(path / "notices.csv")]) == 0
    rows, frame = _check_file(path / "notices.csv", len(ids), ["prediction", "n_reasons"])
    assert [_unprefixed(row[0]) for row in rows[1:]] == ids
    texts = set(frame.filter(like="reason_").stack().dropna()) - {""}
    assert texts <= {"Income\r'=cmd|' /C calc'!A0", "Debt\n'\uff0bx", "'\t@age"} and len(texts) >= 2


def test_api_tables_with_hostile_categories_read_back(tmp_path):
    """reason_codes, adverse_action and to_frame of a pipeline whose category values and ids are hostile."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.RandomState(3)
    n = 48
    X = pd.DataFrame(
        {"income": rng.normal(size=n), "purpose": [HOSTILE[i % 8] for i in range(n)]},
        index=pd.Index([f"{HOSTILE[i % len(HOSTILE)]}#{i}" for i in range(n)], name="app_id"),
    )
    y = (X["income"] + (X["purpose"] == HOSTILE[0]) > 0).astype(int)
    pipeline = make_pipeline(
        make_column_transformer((StandardScaler(), ["income"]), (OneHotEncoder(), ["purpose"])), LogisticRegression()
    ).fit(X, y)
    exp = skig.Explainer(pipeline, n_steps=4).fit(X).explain(X)
    reasons = {"income": "Income\r=cmd", "purpose": "Purpose\n@x"}
    tables = {
        "codes": (skig.reason_codes(exp, n=2, reasons=reasons), ["rank", "contribution"]),
        "notices": (skig.adverse_action(exp, reasons, n=2), ["prediction", "n_reasons"]),
        "tidy": (exp.to_frame(), ["attribution"]),
    }
    for name, (table, numeric) in tables.items():
        skig.write_csv(table, tmp_path / f"{name}.csv")
        _check_file(tmp_path / f"{name}.csv", len(table), numeric)
    tidy = pd.read_csv(tmp_path / "tidy.csv", index_col=0, keep_default_na=False)
    purposes = tidy.loc[tidy["feature"] == "purpose"]
    assert purposes["feature_value"].map(_unprefixed).tolist() == X["purpose"].tolist()
    assert purposes["app_id"].map(_unprefixed).tolist() == X.index.tolist()
