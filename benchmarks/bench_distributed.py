"""Distributed IG throughput: skig.spark and skig.dask on 1 and 2 local workers against single-process skig.

The credit-risk example's pipeline (imputer, scaler, one-hot encoder, skorch ReLU MLP; exact IG) explains the first
``n`` of a portfolio of applicants resampled from its 4,454 real ones, for each size ``n`` of ``--rows``. Both
engines read the same 16 Parquet files and write nothing (Spark's ``noop`` sink, a row count on Dask), so the figures
are explaining plus the engine's own overhead. Every size runs on a fresh Spark session / Dask cluster (started
outside the timing), so each run pays its engine's fixed cost: Python workers importing torch, scikit-learn and skig,
loading the explainer, Spark's worker check and job start-up. Spark's JVM runs one untimed job first, so that the
compiling of Spark's own code, which a long-running JVM does once, is not charged to the first size alone.
One process explains the same rows with torch's default threads (all cores) and with one thread. A line
``seconds = fixed + rows x per_row`` fitted through the sizes separates the fixed cost from the cost per row, in wall
time and in the CPU time of every process involved (this one, Spark's JVM and Python workers, Dask's scheduler and
workers: CPU time is what a busy machine distorts least). The engine's overhead per row is its CPU per row beyond one
process's on one thread. ``x`` is one process's wall time (default threads) over the run's, at the largest size and
per row (what the ratio tends to as rows grow).
With ``--identical`` each engine's attributions at the largest size are then collected and compared with the single
process's.
Run: ``python benchmarks/bench_distributed.py [--rows 20000 200000] [--engines spark dask] [--workers 1 2]
[--identical]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
# Spark's Python workers unpickle the example's net: they must find its module (Dask's inherit sys.path).
os.environ["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES.parent), str(EXAMPLES), os.environ.get("PYTHONPATH", "")])
N_FILES = 16

import credit_risk  # noqa: E402

import skig  # noqa: E402


def portfolio(rows: int) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """``rows`` applicants drawn with replacement, each with a unique account id; the training rows; the model."""
    X, y = credit_risk.load_credit_data()
    pipeline = credit_risk.fit_pipeline(X, y)
    rng = np.random.RandomState(0)
    frame = X.iloc[rng.randint(len(X), size=rows)].reset_index(drop=True)
    for column in credit_risk.CATEGORICAL:
        frame[column] = frame[column].astype(str).where(frame[column].notna(), None)
    frame.insert(0, "account_id", np.arange(rows, dtype=np.int64) + 1_000_000)
    return frame, X, pipeline


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and every process it started that is still running."""
    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class Timer:
    """Wall and CPU seconds of a block (CPU: see :func:`cpu_seconds`; read ``cpu`` before started processes end)."""

    def __enter__(self):
        self.start, self.cpu_start = time.perf_counter(), cpu_seconds()
        return self

    def stop(self) -> None:
        self.wall, self.cpu = time.perf_counter() - self.start, cpu_seconds() - self.cpu_start

    def __exit__(self, *exc):
        if not hasattr(self, "wall"):
            self.stop()


def single_process(explainer, frame: pd.DataFrame, threads: int | None = None):
    """Wall and CPU seconds to explain ``frame`` here (on ``threads`` torch threads, default: torch's), the result."""
    rows = frame.set_index("account_id")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        with Timer() as timer:
            exp = explainer.explain(rows)
        return timer, exp
    finally:
        torch.set_num_threads(before)


def differences(explained: pd.DataFrame, exp) -> float:
    """Largest |difference| between an engine's attribution columns and the single process's (0.0: identical)."""
    explained = explained.set_index("account_id").loc[exp.values.index]
    mine = explained[list(exp.values.columns)].to_numpy(dtype=np.float64)
    return float(np.abs(mine - exp.values.to_numpy()).max())


def spark_run(explainer, path: Path, workers: int, exp=None) -> tuple[Timer, float | None]:
    from pyspark.sql import SparkSession

    import skig.spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master(f"local[{workers}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("FATAL")
    sdf = spark.read.parquet(str(path))
    sdf.count()  # JVM warm-up and file listing, outside the timing
    with Timer() as timer:
        skig.spark.explain(explainer, sdf, key="account_id").write.format("noop").mode("overwrite").save()
    gap = None if exp is None else differences(skig.spark.explain(explainer, sdf, key="account_id").toPandas(), exp)
    spark.stop()
    return timer, gap


def spark_warm_up(path: Path) -> None:
    """One untimed ``mapInPandas`` job on a session of its own: the first sessions's JVM compiles Spark's own code
    (several CPU seconds) that every later session of this process reuses; without this, the first size alone pays it.
    """
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("FATAL")
    ids = spark.read.parquet(str(path)).select("account_id")
    ids.mapInPandas(lambda batches: batches, "account_id long").write.format("noop").mode("overwrite").save()
    spark.stop()


def dask_run(explainer, path: Path, workers: int, exp=None) -> tuple[Timer, float | None]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import skig.dask

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster),
    ):
        ddf = dd.read_parquet(str(path))
        with Timer() as timer:
            explained = skig.dask.explain(explainer, ddf, key="account_id")
            explained.map_partitions(len).compute().sum()
        gap = None if exp is None else differences(explained.compute().reset_index(), exp)
        return timer, gap


def fit_line(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """``fixed`` and ``per_row`` of the least-squares line ``seconds = fixed + rows x per_row`` over the runs."""
    per_row, fixed = np.polyfit(np.asarray(sizes, dtype=np.float64), np.asarray(seconds, dtype=np.float64), 1)
    return float(fixed), float(per_row)


def main(sizes: list[int], engines: list[str], workers: list[int], identical: bool) -> None:
    sizes = sorted(set(sizes))
    if len(sizes) < 2:
        raise SystemExit("--rows needs at least two sizes, to separate the fixed cost from the cost per row")
    frame, X_train, pipeline = portfolio(sizes[-1])
    explainer = skig.Explainer(pipeline, output="probability", baseline="median").fit(X_train)
    explainer.explain(frame.set_index("account_id").iloc[:64])  # loads the compiled loops, outside the timing
    threads = torch.get_num_threads()
    load = os.getloadavg()[0]
    runs: dict[str, list[Timer]] = {f"1 process, {threads} threads": [], "1 process, 1 thread": []}
    gaps: dict[str, float] = {}
    exp = None
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            rows = frame.iloc[:n]
            single, exp = single_process(explainer, rows)
            runs[f"1 process, {threads} threads"].append(single)
            runs["1 process, 1 thread"].append(single_process(explainer, rows, threads=1)[0])
            path = Path(folder) / f"portfolio-{n}"
            path.mkdir()
            step = -(-n // N_FILES)
            for part, lo in enumerate(range(0, n, step)):
                rows.iloc[lo : lo + step].to_parquet(path / f"part-{part:03d}.parquet", index=False)
            if "spark" in engines and n == sizes[0]:
                spark_warm_up(path)
            for engine in engines:
                for k in workers:
                    run = spark_run if engine == "spark" else dask_run
                    # A fresh session or cluster for every size: each run pays its engine's fixed cost.
                    timer, gap = run(explainer, path, k, exp if identical and n == sizes[-1] else None)
                    runs.setdefault(f"{engine} x {k} worker(s)", []).append(timer)
                    if gap is not None:
                        gaps[f"{engine} x {k} worker(s)"] = gap
    print(
        f"credit-risk pipeline, IG (rule={explainer.rule_!r}); {os.cpu_count()} CPU cores; load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; a fresh Spark session / Dask cluster per size"
    )
    print(
        "wall seconds per size; a line fitted through them: fixed seconds + us per row (wall, and CPU of every "
        "process); overhead: CPU per row beyond one process on one thread; x: one process's time over the run's"
    )
    reference_wall = fit_line(sizes, [timer.wall for timer in runs[f"1 process, {threads} threads"]])
    one_thread_cpu = fit_line(sizes, [timer.cpu for timer in runs["1 process, 1 thread"]])[1]
    header = "".join(f"{f'{n:,} rows':>14}" for n in sizes)
    header += f"{'fixed s':>9}{'us/row':>8}{'CPU fixed s':>13}{'CPU us/row':>12}{'overhead':>10}"
    header += f"{f'x at {sizes[-1]:,}':>13}{'x per row':>11}"
    print(f"{'run':<24}" + header + (f"{'max |diff|':>12}" if gaps else ""))
    for name, timers in runs.items():
        walls, cpus = [timer.wall for timer in timers], [timer.cpu for timer in timers]
        fixed, per_row = fit_line(sizes, walls)
        cpu_fixed, cpu_per_row = fit_line(sizes, cpus)
        overhead = "-" if name.startswith("1 process") else f"{(cpu_per_row - one_thread_cpu) * 1e6:.1f}"
        cells = "".join(f"{wall:>14.2f}" for wall in walls)
        cells += f"{fixed:>9.2f}{per_row * 1e6:>8.1f}{cpu_fixed:>13.2f}{cpu_per_row * 1e6:>12.1f}{overhead:>10}"
        cells += f"{runs[f'1 process, {threads} threads'][-1].wall / walls[-1]:>12.2f}x"
        cells += f"{reference_wall[1] / per_row:>10.2f}x"
        print(f"{name:<24}" + cells + (f"{gaps[name]:>12.3g}" if name in gaps else ""))
    print(f"explaining costs {one_thread_cpu * 1e6:.1f} us of CPU per row in one process on one thread")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[20_000, 200_000], help="two or more sizes (rows) to fit the line on"
    )
    parser.add_argument("--engines", nargs="+", default=["spark", "dask"], choices=["spark", "dask"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--identical", action="store_true", help="also collect each engine's attributions and compare them exactly"
    )
    args = parser.parse_args()
    main(args.rows, args.engines, args.workers, args.identical)
