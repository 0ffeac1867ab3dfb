"""Distributed IG throughput: skig.spark and skig.dask on 1 and 2 local workers against single-process skig.

The credit-risk example's pipeline (imputer, scaler, one-hot encoder, skorch ReLU MLP; exact IG) explains
``--rows`` applicants resampled from its 4,454 real ones. Both engines read the same Parquet directory and write
nothing (Spark's ``noop`` sink, a row count on Dask), so the figures are explaining plus the engine's own overhead.
The data is 16 Parquet files: each engine has 16 partitions to spread.
One process explains the same rows with torch's default threads (all cores) and with one thread. Prints wall seconds,
rows/s, the speed-up over one process, the CPU time per row of every process involved (this one, Spark's JVM and
Python workers, Dask's scheduler and workers: CPU time is what a busy machine distorts least) and the engine's
overhead per row: that CPU time beyond what one process spends explaining the rows on one thread.
With ``--identical`` each engine's attributions are then collected and compared with the single process's.
Run: ``python benchmarks/bench_distributed.py [--rows 1000000] [--engines spark dask] [--workers 1 2] [--identical]``.
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


def main(rows: int, engines: list[str], workers: list[int], identical: bool) -> None:
    frame, X_train, pipeline = portfolio(rows)
    explainer = skig.Explainer(pipeline, output="probability", baseline="median").fit(X_train)
    explainer.explain(frame.set_index("account_id").iloc[:64])  # loads the compiled loops, outside the timing
    single, exp = single_process(explainer, frame)
    one_thread, _ = single_process(explainer, frame, threads=1)
    cost = one_thread.cpu / rows
    threads = torch.get_num_threads()
    print(f"{rows:,} rows, credit-risk pipeline, IG (rule={explainer.rule_!r}); {os.cpu_count()} CPU cores")
    header = f"{'run':<22}{'seconds':>9}{'rows/s':>9}{'vs 1 process':>14}{'CPU us/row':>12}{'overhead/row':>14}"
    print(header + (f"{'max |diff| vs 1 process':>25}" if identical else ""))

    def line(name: str, timer: Timer, overhead: str, gap: float | None = None) -> None:
        print(
            f"{name:<22}{timer.wall:>9.1f}{rows / timer.wall:>9,.0f}{single.wall / timer.wall:>13.2f}x"
            f"{timer.cpu / rows * 1e6:>12.1f}{overhead:>14}" + (f"{gap:>25.3g}" if gap is not None else "")
        )

    line(f"1 process, {threads} threads", single, "-")
    line("1 process, 1 thread", one_thread, "-")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "portfolio"
        path.mkdir()
        for part, lo in enumerate(range(0, rows, -(-rows // N_FILES))):
            frame.iloc[lo : lo + -(-rows // N_FILES)].to_parquet(path / f"part-{part:03d}.parquet", index=False)
        for engine in engines:
            for n in workers:
                run = spark_run if engine == "spark" else dask_run
                timer, gap = run(explainer, path, n, exp if identical else None)
                overhead = (timer.cpu - one_thread.cpu) / rows
                line(f"{engine} x {n} worker(s)", timer, f"{overhead * 1e6:.1f} us", gap)
    wall = one_thread.wall / rows
    print(f"explaining costs {cost * 1e6:.1f} us of CPU per row on one thread ({wall * 1e6:.1f} us wall)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", nargs="+", default=["spark", "dask"], choices=["spark", "dask"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--identical", action="store_true", help="also collect each engine's attributions and compare them exactly"
    )
    args = parser.parse_args()
    main(args.rows, args.engines, args.workers, args.identical)
