"""The ``skig`` command: explain a saved model on a data file, write a compliance report or adverse-action reasons.

Bad input ends with exit code 2 and a one-line message; tables go to CSV (spreadsheet-safe) or Parquet.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import inspect
import json
import sys
import warnings
from pathlib import Path

PICKLE_WARNING = (
    "MODEL is a joblib or pickle file. Loading a pickle runs code from the file: only load models you trust."
)
_LONG_RUN_ROWS = 10_000
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
#: The baselines ``--baseline`` takes by name (anything else is a file of baseline rows).
BASELINE_NAMES = ("zero", "mean", "median", "sample", "kmeans")


class InputError(Exception):
    """Bad input from the command line: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line like every other bad input (``--help`` shows the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


# --------------------------------------------------------------------------- files
#: What pandas reads as missing by default ("NA", "None", "null", "n/a", ...): words that are real categories in a
#: text column (a region "NA"), so only numeric columns read them as missing (:func:`_read_csv`).
_NA_WORDS = frozenset(
    {"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
     "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip


def _read_csv(path: Path, na_values: list[str] | None = None):
    """A CSV file as the user wrote it: empty cells (and ``na_values``) are missing everywhere; the words pandas takes
    for missing ("NA", "None", "null", ...) only in columns whose other cells are all numbers, so that a text
    column's categories of those names stay categories."""
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False, na_values=["", *(na_values or [])])
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        words = column.isin(_NA_WORDS)
        rest = column[~words & column.notna()]  # a column of those words alone is text
        if words.any() and len(rest) and pd.to_numeric(rest, errors="coerce").notna().all():
            frame[name] = pd.to_numeric(column.where(~words), errors="coerce")
    return frame


def _read_table(path: Path, index_col: str | None = None, what: str = "data file", na_values=None):
    import pandas as pd

    if not path.exists():
        raise InputError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError(f"{what} {str(path)!r} is a directory; give a .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise InputError(f"{what} {str(path)!r} must end in .csv or .parquet")
    try:
        frame = _read_csv(path, na_values) if suffix == ".csv" else pd.read_parquet(path)
    except ImportError as error:
        raise InputError(f"reading {path.name} needs a Parquet engine: pip install 'pyarrow>=14.0.1'") from error
    except (ValueError, OSError) as error:
        raise InputError(f"could not read {str(path)!r}: {error}") from error
    if index_col is None or (index_col not in frame.columns and index_col == frame.index.name):
        return frame  # a Parquet file's stored index is its labels already
    if index_col not in frame.columns:
        raise InputError(f"--index-col {index_col!r} is not a column of {path.name}; columns: {list(frame.columns)}")
    if frame[index_col].duplicated().any():
        duplicated = frame.loc[frame[index_col].duplicated(), index_col].unique().tolist()[:5]
        raise InputError(f"--index-col {index_col!r} has duplicated values {duplicated}; each row needs its own label")
    return frame.set_index(index_col)


def _check_output(path: Path, suffixes: tuple[str, ...]) -> Path:
    """Refuse an output path that cannot be written, before any work is done."""
    if path.is_dir():
        raise InputError(f"output {str(path)!r} is a directory; give a file name ending in {' or '.join(suffixes)}")
    if not path.parent.is_dir():
        raise InputError(f"the directory of output {str(path)!r} does not exist; create {str(path.parent)!r} first")
    if path.suffix.lower() not in suffixes:
        raise InputError(f"output file {str(path)!r} must end in {' or '.join(suffixes)}")
    return path


def _write_table(frame, path: Path) -> None:
    try:
        if path.suffix.lower() == ".csv":
            from .reporting import write_csv

            write_csv(frame, path)
        else:
            frame.to_parquet(path)
    except ImportError as error:
        raise InputError(f"writing {path.name} needs a Parquet engine: pip install 'pyarrow>=14.0.1'") from error
    except OSError as error:
        raise InputError(f"could not write {str(path)!r}: {error}") from error


def _read_reasons(path: Path) -> dict[str, str | dict[str, str]]:
    """Reason texts from a JSON object or a CSV with columns feature, reason (and optionally missing).

    A JSON entry is a text, or ``{"text": ..., "missing": ...}`` naming the missing-value case apart (as
    :func:`skig.reason_codes` takes it); in a CSV, a non-empty ``missing`` cell does the same.
    """
    import pandas as pd

    if not path.is_file():
        raise InputError(f"reasons file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            mapping = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise InputError(f"reasons file {path.name} is not valid JSON: {error}") from error
        if not isinstance(mapping, dict):
            raise InputError(
                f"reasons file {path.name} must hold one JSON object of feature name to reason text, or to "
                '{"text": ..., "missing": ...}'
            )
        for feature, entry in mapping.items():
            _check_reason_entry(path, feature, entry)
    elif suffix == ".csv":
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (ValueError, OSError, UnicodeDecodeError) as error:
            raise InputError(f"could not read reasons file {path.name}: {error}") from error
        if {"feature", "reason"} <= set(table.columns):
            table = table[[name for name in ("feature", "reason", "missing") if name in table.columns]]
        elif table.shape[1] != 2:
            raise InputError(
                f"reasons file {path.name} has columns {list(table.columns)}; give two columns, feature and reason "
                "(and a third, missing, for the texts of missing values)"
            )
        else:
            table.columns = ["feature", "reason"]
        clashes = table.groupby("feature").nunique().max(axis=1)
        if (clashes > 1).any():
            raise InputError(f"reasons file {path.name} gives several texts for {clashes[clashes > 1].index.tolist()}")
        table = table.drop_duplicates("feature")
        mapping = {}
        for row in table.itertuples(index=False):
            missing = getattr(row, "missing", "")
            mapping[row.feature] = {"text": row.reason, "missing": missing} if missing.strip() else row.reason
    else:
        raise InputError(f"reasons file {str(path)!r} must end in .csv or .json")
    texts = {feature: [entry] if isinstance(entry, str) else list(entry.values()) for feature, entry in mapping.items()}
    empty = [feature for feature, values in texts.items() if not all(text.strip() for text in values)]
    if empty:
        raise InputError(f"reasons file {path.name} has empty texts for {empty}")
    return mapping


def _check_reason_entry(path: Path, feature: str, entry) -> None:
    """A JSON reasons entry is a text, or an object of texts with keys ``text`` and ``missing``."""
    if isinstance(entry, str):
        return
    if (
        isinstance(entry, dict)
        and entry
        and set(entry) <= {"text", "missing"}
        and all(isinstance(text, str) for text in entry.values())
    ):
        return
    raise InputError(
        f"reasons file {path.name}: the entry of {feature!r} must be a text, or an object "
        '{"text": "...", "missing": "..."} whose "missing" text is given to rows without a value; got '
        f"{json.dumps(entry)[:80]}"
    )


def _load_model(path: Path):
    import joblib

    if not path.exists():
        raise InputError(f"model file {str(path)!r} does not exist")
    print(
        f"skig: warning: loading {path.name} runs code from it (joblib/pickle): only load models you trust",
        file=sys.stderr,
    )
    try:
        return joblib.load(path)
    except Exception as error:  # a corrupt or foreign file can fail in many ways; all are bad input here
        raise InputError(f"could not load a model from {str(path)!r}: {type(error).__name__}: {error}") from error


# ----------------------------------------------------------------------- options
def _max_steps() -> int:
    from ._explainer import Explainer

    return inspect.signature(Explainer).parameters["max_steps"].default


def _steps(value: str):
    """``--steps``: ``auto`` or a whole number from 1 to the explainer's ``max_steps``."""
    if value == "auto":
        return value
    try:
        steps = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a whole number nor 'auto'") from None
    most = _max_steps()
    if not 1 <= steps <= most:
        raise argparse.ArgumentTypeError(
            f"{steps} is outside 1 to {most}, the most steps skig takes per path; use 'auto' to let each row get "
            "what it needs"
        )
    return steps


def _target(value: str | None):
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _row_labels(args, index) -> list | None:
    """The labels of ``index`` that ``--rows`` names (labels read from CSV are often ints), or None without it.

    Rows are named by the labels of ``--index-col`` only: without it the rows have no labels but their positions,
    and a position (155) is too easily taken for an id, so ``--rows`` then asks for ``--index-col``.
    """
    if not args.rows:
        return None
    if args.index_col is None and not _labelled(index):
        raise InputError(
            f"--rows {' '.join(args.rows)} names rows by label: give --index-col, the column of DATA that labels "
            "them (e.g. an application id). Without it rows have only positions, which are easily mistaken for ids."
        )
    labels = []
    for value in args.rows:
        label = next((candidate for candidate in (value, _target(value)) if candidate in index), None)
        if label is None:
            source = f"--index-col {args.index_col!r}" if args.index_col else f"the file's index {index.name!r}"
            raise InputError(f"--rows {value!r} is not a value of {source} (e.g. {list(index[:5])})")
        labels.append(label)
    return labels


def _labelled(index) -> bool:
    """Whether rows read from a file carry labels of their own: a Parquet file's stored, named index."""
    import pandas as pd

    return index.name is not None and not isinstance(index, pd.RangeIndex)


def _model_columns(model) -> set[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else {str(name) for name in names}


def _inputs(value: str) -> dict:
    """``--inputs``: a JSON object (inline, or a .json file) mapping each ``forward`` argument to its columns."""
    path = Path(value)
    is_file = path.suffix.lower() == ".json" and not value.lstrip().startswith("{")
    if is_file and not path.is_file():
        raise InputError(f"--inputs file {value!r} does not exist")
    text = path.read_text(encoding="utf-8") if is_file else value
    where = f"--inputs file {path.name}" if is_file else "--inputs"
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{where} is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    shape = (
        'a JSON object mapping each forward argument to its columns, e.g. {"x_num": ["income", "debt"], '
        '"x_cat": {"state": ["CA", "NY"], "grade": null}} (a list of columns, or columns with their categories '
        "in order, null for integer codes)"
    )
    if not isinstance(mapping, dict) or not mapping:
        raise InputError(f"{where} must be {shape}; got {text.strip()[:80]!r}")
    for argument, columns in mapping.items():
        if isinstance(columns, list) and all(isinstance(column, str) for column in columns):
            continue
        if isinstance(columns, dict) and all(
            categories is None or isinstance(categories, list) for categories in columns.values()
        ):
            continue
        raise InputError(f"{where}: argument {argument!r} maps to {columns!r}; each argument must map to {shape}")
    return mapping


def _baseline_rows(value: str, na_values=None):
    """``--baseline`` as a file of rows; a value that names no file and looks like a misspelt name is refused so."""
    path = Path(value)
    if not path.exists() and path.suffix.lower() not in _TABLE_SUFFIXES:
        close = difflib.get_close_matches(value.lower(), BASELINE_NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"--baseline {value!r} is neither a baseline name ({', '.join(BASELINE_NAMES)}) nor an existing "
            f".csv/.parquet file of baseline rows{hint}"
        )
    return _read_table(path, what="baseline file", na_values=na_values)


def _explainer(args, model, reference):
    import skig
    from skig.models import check_arguments

    inputs = _inputs(args.inputs) if args.inputs is not None else None
    try:
        # Only the model's type (and forward's arguments) is checked here: an unsupported model is the user's input.
        check_arguments(model, inputs)
    except TypeError as error:
        hint = " On the command line, pass that mapping as JSON: --inputs '{...}' (see --help)." * (inputs is None)
        raise InputError(f"{error}{hint if 'inputs=' in str(error) else ''}") from error
    baseline = args.baseline if args.baseline in BASELINE_NAMES else _baseline_rows(args.baseline, args.na_values)
    params = {"method": args.method, "baseline": baseline, "n_steps": args.steps, "output": args.output}
    params["target"] = _target(args.target)
    params["progress"] = args.progress if args.progress is not None else len(reference) >= _LONG_RUN_ROWS
    params["random_state"] = args.random_state
    params["outcome"] = args.outcome
    if inputs is not None:
        params["inputs"] = inputs
    explainer = skig.Explainer(model, **params).fit(reference)
    label = _class_named(args.target, getattr(explainer, "classes_", None))
    if label is not None:
        explainer.set_params(target=label)
    return explainer


def _class_named(text: str | None, classes) -> object | None:
    """The model's class that ``--target`` names as text, or None: text cannot tell the class "1" from the class 1 or
    the class at position 1, so a class written the same way wins (as the API's label-first rule)."""
    if text is None or classes is None:
        return None
    import numpy as np

    return next((label for label in np.asarray(classes).tolist() if str(label) == text), None)


def _reference(args, X, audit: str | None = None):
    """The rows to fit on: ``--reference`` or the data, without an audit column the model does not read."""
    reference = (
        _read_table(Path(args.reference), args.index_col, "reference file", args.na_values) if args.reference else X
    )
    return reference.drop(columns=audit) if audit is not None and audit in reference.columns else reference


# ---------------------------------------------------------------------- commands
def _explain(args) -> None:
    if args.engine:
        _explain_distributed(args)
        return
    out = _check_output(Path(args.out), _TABLE_SUFFIXES)
    model = _load_model(Path(args.model))
    X = _read_table(Path(args.data), args.index_col, na_values=args.na_values)
    explainer = _explainer(args, model, _reference(args, X))
    exp = explainer.explain(X)
    table = exp.values.add_prefix("attribution_").join([exp.predictions, exp.base_values, exp.delta])
    _write_table(table, out)
    _write_fingerprint(args, out, explainer, X)
    print(f"explained {len(exp)} rows, max |delta| {exp.delta.abs().max():.3g}: wrote {out}")


def _explain_distributed(args) -> None:
    model = _load_model(Path(args.model))
    key = [column.strip() for column in args.key.split(",")] if args.key else None
    made = []

    def make_explainer(X):
        made.append(_explainer(args, model, _reference(args, X)))
        return made[-1]

    try:
        from ._distributed import explain_parquet

        rows = explain_parquet(
            Path(args.data), Path(args.out), engine=args.engine, key=key, make_explainer=make_explainer
        )
    except ImportError as error:
        raise InputError(str(error)) from error
    _write_fingerprint(args, Path(args.out), made[-1])
    print(f"explained {rows} rows on {args.engine}: wrote {args.out}")


def _audit_column(model, X, group: str | None) -> str | None:
    """The group column when the model does not read it (a protected attribute usually is not), else None."""
    if group is None:
        return None
    if group not in X.columns:
        raise InputError(f"--group {group!r} is not a column of the data; columns: {list(X.columns)}")
    columns = _model_columns(model)
    return None if columns is not None and group in columns else group


def _report(args) -> None:
    import skig

    out = _check_output(Path(args.out), (".html", ".htm"))
    reasons = _read_reasons(Path(args.reasons)) if args.reasons else None
    X = _read_table(Path(args.data), args.index_col, na_values=args.na_values)
    rows = _row_labels(args, X.index)
    model = _load_model(Path(args.model))
    audit = _audit_column(model, X, args.group)
    explainer = _explainer(args, model, _reference(args, X, audit))
    skig.report(
        explainer,
        X,
        out,
        rows=rows,
        group=args.group,
        reasons=skig.reporting.Reasons(reasons, n=args.n_reasons, direction=args.direction),
        title=args.title,
        settings=skig.reporting.ReportSettings(random_state=args.random_state),
    )
    _write_fingerprint(args, out, explainer, X.drop(columns=audit) if audit is not None else X)
    print(f"wrote {out}")


def _adverse_action(args) -> None:
    import skig

    out = _check_output(Path(args.out), _TABLE_SUFFIXES)
    reasons = _read_reasons(Path(args.reasons))
    model = _load_model(Path(args.model))
    X = _read_table(Path(args.data), args.index_col, na_values=args.na_values)
    explainer = _explainer(args, model, _reference(args, X))
    exp = explainer.explain(X)
    table = skig.adverse_action(exp, reasons, n=args.n_reasons, direction=args.direction)
    _write_table(table, out)
    _write_fingerprint(args, out, explainer, X)
    print(f"wrote the principal reasons of {len(table)} rows to {out}")


def fingerprint_path(out: Path) -> Path:
    """Where the fingerprint of output ``out`` is written: next to it, ``<out>.fingerprint.json``."""
    return out.with_name(out.name + ".fingerprint.json")


def _write_fingerprint(args, out: Path, explainer, X=None) -> None:
    """The JSON sidecar of ``out``: the explainer's fingerprint, the data's, the files' and the command."""
    from .reporting._fingerprint import file_digest, fingerprint

    record = {"command": args.command, "output": out.name, **fingerprint(explainer, X)}
    files = {"model": Path(args.model), "data": Path(args.data)}
    record["files"] = {role: {"name": path.name, "sha256": file_digest(path)} for role, path in files.items()}
    try:
        fingerprint_path(out).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise InputError(f"could not write {str(fingerprint_path(out))!r}: {error}") from error


@contextlib.contextmanager
def _warnings_once(command: str):
    """Show each warning once, on one line, as ``skig COMMAND: warning: ...``, when it is raised (fit and explain
    check the same rows, so the same warning comes twice; Python's own display adds a file, a line and its source)."""
    shown = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = _one_line(message)
        if (category, text) not in shown:
            shown.add((category, text))
            print(f"skig {command}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)  # the once-only filter is ours, by message, not by source line
        warnings.showwarning = show
        yield


# ------------------------------------------------------------------------ parser
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a joblib or pickle file of a fitted model or pipeline (see the warning below)")
    parser.add_argument("data", help="rows to explain: a .csv or .parquet file with the model's raw columns")
    parser.add_argument("--index-col", help="column of DATA holding the row labels (e.g. an application id)")
    parser.add_argument(
        "--na-values",
        type=lambda text: [word for word in text.split(",") if word],
        default=None,
        help="comma-separated words a CSV file's cells read as missing, besides empty cells (default: none; words "
        "such as NA or None are missing only in numeric columns, and categories in text columns)",
    )
    parser.add_argument("--method", default="ig", help="attribution method (default: ig)")
    parser.add_argument(
        "--baseline",
        default="mean",
        help=f"{', '.join(BASELINE_NAMES)}, or a .csv/.parquet file of baseline rows (default: mean)",
    )
    parser.add_argument(
        "--steps",
        type=_steps,
        default=64,
        help=f"model evaluations per path, 1 to {_max_steps()}, or auto to refine each row (default: 64)",
    )
    parser.add_argument(
        "--target",
        help="class label or output index to explain (default: the model's own choice); a class written the same way "
        "wins over a position",
    )
    parser.add_argument("--output", default="auto", help="output space: auto, raw, logit or probability")
    parser.add_argument(
        "--outcome", help='what the explained output means, e.g. "probability of default" (named in reports)'
    )
    parser.add_argument(
        "--inputs",
        metavar="JSON",
        help="for a torch module or skorch net whose forward takes several arguments, forward(x_num, x_cat): a JSON "
        'object (inline, or a .json file) mapping each argument to its columns, e.g. \'{"x_num": ["income", '
        '"debt"], "x_cat": {"state": ["CA", "NY", "TX"], "grade": null}}\'; categorical columns list their '
        "categories in the order the net's codes follow, null for integer codes (see docs/tabular_nets.md)",
    )
    parser.add_argument("--reference", help="reference rows for fit (default: the data itself)")
    parser.add_argument("--random-state", type=int, default=0, help="seed of every random choice (default: 0)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show progress")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")


def _reason_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--reasons",
        required=required,
        help="reason text per feature: a .json object {feature: text or {text, missing}} or a .csv with columns "
        "feature, reason (and optionally missing: the text for rows without a value)",
    )
    parser.add_argument("-n", "--n-reasons", type=int, default=4, help="most reasons per row (default: 4)")
    parser.add_argument(
        "--direction",
        choices=["increase", "decrease"],
        default="increase",
        help="the adverse direction of the output: increase (a probability of default) or decrease (a score)",
    )


def _add_explain(commands) -> None:
    explain = commands.add_parser(
        "explain", help="write attributions of every row", description="Write attributions.", epilog=PICKLE_WARNING
    )
    _common(explain)
    explain.add_argument("-o", "--out", required=True, help="attributions file: .csv or .parquet")
    explain.add_argument(
        "--engine",
        choices=["spark", "dask"],
        help="explain a Parquet directory on Spark or Dask; OUT is a new Parquet directory partitioned like DATA",
    )
    explain.add_argument("--key", help="with --engine: comma-separated columns that identify a row")
    explain.set_defaults(run=_explain)


def _add_report(commands) -> None:
    report = commands.add_parser(
        "report", help="write an HTML compliance report", description="Write a report.", epilog=PICKLE_WARNING
    )
    _common(report)
    report.add_argument("-o", "--out", required=True, help="the report, an .html file")
    report.add_argument(
        "--group",
        help="a column of DATA (e.g. a protected attribute) to compare attributions across; it is taken out of the "
        "model's input unless the model was fitted on it",
    )
    report.add_argument(
        "--rows", nargs="+", help="values of --index-col (required with it) whose rows get their own section"
    )
    report.add_argument("--title", default="Model explanation report", help="the report's title")
    _reason_options(report, required=False)
    report.set_defaults(run=_report)


def _add_adverse_action(commands) -> None:
    adverse = commands.add_parser(
        "adverse-action",
        help="write each row's principal reasons (adverse-action texts)",
        description="Write one line per row with its ranked reason texts, ready to merge into a notice.",
        epilog=PICKLE_WARNING,
    )
    _common(adverse)
    adverse.add_argument("-o", "--out", required=True, help="reasons file: .csv or .parquet")
    _reason_options(adverse, required=True)
    adverse.set_defaults(run=_adverse_action)


def build_parser() -> argparse.ArgumentParser:
    """The ``skig`` argument parser."""
    parser = _Parser(
        prog="skig", description="Integrated Gradients for differentiable tabular models.", epilog=PICKLE_WARNING
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_explain(commands)
    _add_report(commands)
    _add_adverse_action(commands)
    return parser


def _one_line(error) -> str:
    """The message of ``error`` on one line, whatever newlines it holds."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines) if lines else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the ``skig`` command; return its exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as ended:  # --help, or a usage error already reported in one line
        return ended.code
    from sklearn.exceptions import NotFittedError

    try:
        with _warnings_once(args.command):
            args.run(args)
    # ValueError is how skig and scikit-learn refuse bad values (parameters, columns, targets); a TypeError or
    # KeyError from inside is a bug and keeps its traceback.
    except (InputError, ValueError, NotFittedError) as error:
        print(f"skig {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
