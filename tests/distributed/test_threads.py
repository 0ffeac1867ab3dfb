"""Torch threads inside Spark and Dask tasks: the task's share of the cores (docs/scaling.md), restored afterwards."""

from __future__ import annotations

import logging
import threading

import pandas as pd
import pytest
import torch
from checks import assert_same_numbers
from conftest import require
from distributed_helpers import FEATURES, ThreadsExplainer, recorded_allocator, recorded_threads

from skig._distributed._allocator import _libc
from skig._distributed._threads import task_threads


@pytest.fixture
def torch_threads():
    """Restores this thread's torch thread count after the test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_task_runs_on_its_share_and_puts_the_count_back(torch_threads):
    torch.set_num_threads(3)
    with task_threads(lambda outer: outer // 2) as threads:
        assert threads == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 3
    with pytest.raises(RuntimeError, match="inside"), task_threads(lambda outer: 2):
        assert torch.get_num_threads() == 2
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 3
    with task_threads(lambda outer: 0) as threads:  # a share never goes below one thread
        assert threads == torch.get_num_threads() == 1


def test_tasks_at_once_share_the_outer_count_and_the_last_puts_it_back(torch_threads):
    torch.set_num_threads(4)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with task_threads(lambda outer: outer // 2) as threads:
            seen["first"] = (threads, torch.get_num_threads())
            first_in.set()
            second_in.wait(30)
        seen["first after"] = torch.get_num_threads()
        first_out.set()

    def second():
        first_in.wait(30)
        torch.set_num_threads(3)  # this thread's own count differs: the share still comes from the first's outer 4
        with task_threads(lambda outer: outer // 2) as threads:
            seen["second"] = (threads, torch.get_num_threads())
            second_in.set()
            first_out.wait(30)
        seen["second after"] = torch.get_num_threads()

    workers = [threading.Thread(target=first), threading.Thread(target=second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert seen == {"first": (2, 2), "second": (2, 2), "first after": 4, "second after": 4}


def test_spark_tasks_use_spark_task_cpus(spark, tmp_path, pipeline, portfolio, single_machine):
    import skig.spark

    cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    explainer = ThreadsExplainer(pipeline, n_steps=8).fit(portfolio[FEATURES])
    explainer.record_dir_ = str(tmp_path)
    accounts = spark.createDataFrame(portfolio.reset_index(drop=True)).repartition(4)
    result = skig.spark.explain(explainer, accounts, key="account_id", batch_rows=10).toPandas()
    assert_same_numbers(result, single_machine["ig"])
    counts = recorded_threads(tmp_path)
    assert len(counts) >= 4 and set(counts) == {cpus}
    assert set(recorded_allocator(tmp_path)) == {False}  # no MALLOC_*_ variable: glibc's allocator left alone


def test_a_spark_task_puts_the_workers_count_back(spark):
    """Inside a real Spark task, with the worker's torch on 2 threads: 1 thread (spark.task.cpus) then 2 again."""

    def probe(batches):
        import torch
        from pyspark import TaskContext

        from skig._distributed._threads import task_threads
        from skig.spark import SPARK

        for _ in batches:
            torch.set_num_threads(2)
            with task_threads(SPARK.task_threads):
                inside = torch.get_num_threads()
            yield pd.DataFrame(
                {"cpus": [TaskContext.get().cpus()], "inside": [inside], "after": [torch.get_num_threads()]}
            )

    rows = spark.range(8).repartition(4).mapInPandas(probe, "cpus long, inside long, after long").toPandas()
    assert (rows["inside"] == rows["cpus"]).all() and (rows["after"] == 2).all()


def test_dask_tasks_share_a_workers_threads(tmp_path, pipeline, portfolio, single_machine, torch_threads):
    """An in-process worker with 2 threads in a process of 4 torch threads: 2 per task, 4 again afterwards."""
    require("distributed", "dask")
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import skig.dask

    explainer = ThreadsExplainer(pipeline, n_steps=8).fit(portfolio[FEATURES])
    explainer.record_dir_ = str(tmp_path)
    torch.set_num_threads(4)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, silence_logs=logging.CRITICAL
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
        client.as_current(),
    ):
        ddf = dd.from_pandas(portfolio, npartitions=4, sort=False)
        result = skig.dask.explain(explainer, ddf, key="account_id").compute()
        worker_after = {client.submit(lambda _: torch.get_num_threads(), i, pure=False).result() for i in range(8)}
    assert_same_numbers(result, single_machine["ig"])
    counts = recorded_threads(tmp_path)
    assert len(counts) == 4 and set(counts) == {2}
    assert torch.get_num_threads() == 4 and worker_after == {4}


def test_dask_worker_processes_use_one_thread_per_task(in_cluster, tmp_path, pipeline, portfolio):
    """The test cluster: worker processes of 1 thread, started by Dask's nanny with OMP_NUM_THREADS=1 and
    MALLOC_TRIM_THRESHOLD_=65536, under which skig's tasks raise glibc's thresholds (skig/_distributed/_allocator)."""
    import dask.dataframe as dd

    import skig.dask

    explainer = ThreadsExplainer(pipeline, n_steps=8).fit(portfolio[FEATURES])
    explainer.record_dir_ = str(tmp_path)
    skig.dask.explain(explainer, dd.from_pandas(portfolio, npartitions=4, sort=False), key="account_id").compute()
    assert set(recorded_threads(tmp_path)) == {1}
    assert set(recorded_allocator(tmp_path)) == {_libc() is not None}  # glibc: raised


def test_threaded_scheduler_divides_the_process_threads(tmp_path, pipeline, portfolio, torch_threads):
    """A pool of 2 threads in a process of 4 torch threads: 2 per task (the pool is new: a thread takes torch's
    count when it first uses torch, and an older pool thread keeps the count it had)."""
    from concurrent.futures import ThreadPoolExecutor

    import dask
    import dask.dataframe as dd

    import skig.dask

    explainer = ThreadsExplainer(pipeline, n_steps=8).fit(portfolio[FEATURES])
    explainer.record_dir_ = str(tmp_path)
    torch.set_num_threads(4)
    ddf = dd.from_pandas(portfolio, npartitions=4, sort=False)
    with dask.config.set(num_workers=2), ThreadPoolExecutor(2) as pool:
        skig.dask.explain(explainer, ddf, key="account_id").compute(scheduler="threads", pool=pool)
        after = {pool.submit(torch.get_num_threads).result() for _ in range(8)}
    assert set(recorded_threads(tmp_path)) == {2}
    assert torch.get_num_threads() == 4 and after == {4}


def test_a_task_puts_the_count_back_before_it_leaves(monkeypatch, torch_threads):
    """A thread that first uses torch takes the count some thread set last: a task that has left must have put the
    outer count back already, or a task entering then (the first of a new round) reads the share as the outer count."""
    from skig._distributed import _threads

    torch.set_num_threads(4)
    seen = []
    set_threads = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (seen.append((n, _threads._running)), set_threads(n)))
    with task_threads(lambda outer: outer // 2):
        pass
    assert seen == [(2, 1), (4, 1)]  # the task still counted while it restores


def test_a_fresh_thread_keeps_its_share_when_another_thread_sets_a_count(torch_threads):
    """Torch gives a thread the count some thread set last on its first use there, even after a set_num_threads of
    its own: a task entering in a fresh thread must not lose its share to a count set meanwhile elsewhere (a task's
    explain running on one thread set 1), which made Dask's tasks run on one thread instead of two."""
    from concurrent.futures import ThreadPoolExecutor

    torch.set_num_threads(4)
    entered, elsewhere = threading.Event(), threading.Event()

    def task():
        with task_threads(lambda outer: outer // 2) as threads:
            entered.set()
            elsewhere.wait(10)
            return threads, torch.get_num_threads()

    with task_threads(lambda outer: outer // 2), ThreadPoolExecutor(1) as pool:  # a task of this process running
        result = pool.submit(task)
        entered.wait(10)
        torch.set_num_threads(1)  # what that task's explain does in its own thread
        elsewhere.set()
        assert result.result() == (2, 2)
