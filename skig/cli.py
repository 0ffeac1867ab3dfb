"""The ``skig`` command: explain a saved model on a data file, or write a compliance report.

Bad input ends with exit code 2 and a one-line message; attributions go to CSV or Parquet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PICKLE_WARNING = (
    "MODEL is a joblib or pickle file. Loading a pickle runs code from the file: only load models you trust."
)
_LONG_RUN_ROWS = 10_000


class InputError(Exception):
    """Bad input from the command line: reported in one line with exit code 2."""


def _read_table(path: Path):
    import pandas as pd

    if not path.exists():
        raise InputError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except ImportError as error:
        raise InputError(f"reading {path.name} needs a Parquet engine: pip install pyarrow ({error})") from error
    except (ValueError, OSError) as error:
        raise InputError(f"could not read {str(path)!r}: {error}") from error
    raise InputError(f"data file {str(path)!r} must end in .csv or .parquet")


def _write_table(frame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path)
    elif suffix in (".parquet", ".pq"):
        try:
            frame.to_parquet(path)
        except ImportError as error:
            raise InputError(f"writing {path.name} needs a Parquet engine: pip install pyarrow") from error
    else:
        raise InputError(f"output file {str(path)!r} must end in .csv or .parquet")


def _load_model(path: Path):
    import joblib

    if not path.exists():
        raise InputError(f"model file {str(path)!r} does not exist")
    try:
        return joblib.load(path)
    except Exception as error:  # a corrupt or foreign file can fail in many ways; all are bad input here
        raise InputError(f"could not load a model from {str(path)!r}: {type(error).__name__}: {error}") from error


def _target(value: str | None):
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _explainer(args, X, model):
    import skig

    baseline = args.baseline
    if baseline not in ("zero", "mean", "median", "sample", "kmeans"):
        baseline = _read_table(Path(baseline))
    params = {"method": args.method, "baseline": baseline, "n_steps": args.steps, "output": args.output}
    params["target"] = _target(args.target)
    params["progress"] = args.progress if args.progress is not None else len(X) >= _LONG_RUN_ROWS
    params["random_state"] = args.random_state
    reference = _read_table(Path(args.reference)) if args.reference else X
    return skig.Explainer(model, **params).fit(reference)


def _explain(args) -> None:
    if args.engine:
        _explain_distributed(args)
        return
    X = _read_table(Path(args.data))
    exp = _explainer(args, X, _load_model(Path(args.model))).explain(X)
    table = exp.values.add_prefix("attribution_").join([exp.predictions, exp.base_values, exp.delta])
    _write_table(table, Path(args.out))
    print(f"explained {len(exp)} rows, max |delta| {exp.delta.abs().max():.3g}: wrote {args.out}")


def _explain_distributed(args) -> None:
    model = _load_model(Path(args.model))
    key = [column.strip() for column in args.key.split(",")] if args.key else None
    try:
        from ._distributed import explain_parquet

        rows = explain_parquet(
            Path(args.data),
            Path(args.out),
            engine=args.engine,
            key=key,
            make_explainer=lambda X: _explainer(args, X, model),
        )
    except ImportError as error:
        raise InputError(str(error)) from error
    print(f"explained {rows} rows on {args.engine}: wrote {args.out}")


def _split_group(model, X, group: str | None):
    """Take the group column out of the data unless the model reads it (a protected attribute usually is not)."""
    if group is None:
        return X, None
    if group not in X.columns:
        raise InputError(f"--group {group!r} is not a column of the data; columns: {list(X.columns)}")
    model_columns = getattr(model, "feature_names_in_", None)
    if model_columns is not None and group in set(model_columns):
        return X, group
    return X.drop(columns=group), X[group]


def _report(args) -> None:
    import skig

    model = _load_model(Path(args.model))
    X, group = _split_group(model, _read_table(Path(args.data)), args.group)
    explainer = _explainer(args, X, model)
    rows = None
    if args.rows:
        labels = list(X.index)
        rows = [_target(value) for value in args.rows]
        unknown = [row for row in rows if row not in labels]
        if unknown:
            raise InputError(f"--rows {unknown} are not row labels of {args.data} (0 to {len(X) - 1})")
    skig.report(explainer, X, args.out, rows=rows, group=group)
    print(f"wrote {args.out}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a joblib or pickle file of a fitted model or pipeline (see the warning below)")
    parser.add_argument("data", help="rows to explain: a .csv or .parquet file with the model's raw columns")
    parser.add_argument("--method", default="ig", help="attribution method (default: ig)")
    parser.add_argument(
        "--baseline", default="mean", help="zero, mean, median, sample, kmeans, or a .csv/.parquet file of rows"
    )
    parser.add_argument("--steps", type=int, default=64, help="model evaluations per path (default: 64)")
    parser.add_argument("--target", help="class label or output index to explain (default: the model's own choice)")
    parser.add_argument("--output", default="auto", help="output space: auto, raw, logit or probability")
    parser.add_argument("--reference", help="reference rows for fit (default: the data itself)")
    parser.add_argument("--random-state", type=int, default=0, help="seed of every random choice (default: 0)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show progress")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")


def build_parser() -> argparse.ArgumentParser:
    """The ``skig`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="skig", description="Integrated Gradients for differentiable tabular models.", epilog=PICKLE_WARNING
    )
    commands = parser.add_subparsers(dest="command", required=True)
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
    report.add_argument("--rows", nargs="+", help="row labels that get their own section")
    report.set_defaults(run=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``skig`` command; return its exit code."""
    args = build_parser().parse_args(argv)
    from sklearn.exceptions import NotFittedError

    try:
        args.run(args)
    except (InputError, ValueError, TypeError, KeyError, NotFittedError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"skig {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
