"""Throughput on a shared machine: each method and integrator, idle and beside one busy process, by thread count.

ReLU MLP 30 -> 256 -> 256 -> 1, 1,000 rows (float32, raw output). For every method (ig, smoothgrad, expected,
guided) and integrator (Gauss-Legendre at fixed steps, adaptive steps, exact) this times ``explain`` with skig's
default threads (``n_threads=None``: torch's count), with 1 thread and with every core, first on the machine as it
is ("idle"), then while one competing process of its own (a Python busy loop, started and stopped here) keeps a core
busy ("contended"). Times are wall-clock, best of ``--rounds``. ``--intra-op`` adds the way passes ran before
``n_threads``: one pass at a time over all of torch's threads. Combinations skig refuses (Guided IG has no exact
integration) are listed as such. Run: ``python benchmarks/bench_contention.py [--rounds 3] [--rows 1000]
[--methods ig ...] [--integrators gausslegendre ...] [--intra-op]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager

import numpy as np
import torch

import skig

N_FEATURES, HIDDEN = 30, 256
# skig's defaults, but fewer noisy copies (SmoothGrad), background rows (Expected IG) and adaptive steps to keep the
# run short: the thread counts are compared on the same work.
METHODS = {
    "ig": {},
    "smoothgrad": {"n_samples": 4},
    "expected": {"baseline": "sample", "n_baselines": 16},
    "guided": {},
}
INTEGRATORS = {
    "gausslegendre": {"rule": "gausslegendre", "n_steps": 64},
    "adaptive": {"rule": "gausslegendre", "n_steps": "auto", "max_steps": 256},
    "exact": {"rule": "exact"},
}


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 1),
    )


@contextmanager
def busy_competitor():
    """One other process spinning on a core for the duration of the block."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it start spinning
        yield process
    finally:
        process.terminate()
        process.wait()


@contextmanager
def intra_op_passes():
    """Passes as they ran before n_threads: one at a time, each over all of torch's threads."""
    from skig.engine import _gradients

    threads = _gradients.pass_threads
    _gradients.pass_threads = lambda device: 1
    try:
        yield
    finally:
        _gradients.pass_threads = threads


def best_wall(run, rounds: int) -> float:
    times = []  # the first round also warms up (allocator, thread pools, compiled loops): the best is kept
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(rounds: int, n_rows: int, intra_op: bool, methods: list[str], integrators: list[str]) -> None:
    cores = os.cpu_count() or 1
    default_threads = torch.get_num_threads()
    X = np.random.RandomState(0).normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    model = make_model()
    settings = {"default": None, "1 thread": 1, f"{cores} threads (all)": cores}
    if intra_op:
        settings["intra-op (before)"] = "intra-op"
    print(
        f"MLP {N_FEATURES}->{HIDDEN}->{HIDDEN}->1 (ReLU), {n_rows} rows, float32, {cores} cores, torch's threads "
        f"{default_threads} (skig's default), wall time, best of {rounds}; load before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    explainers = {}
    for method in methods:
        method_params = METHODS[method]
        for integrator in integrators:
            integrator_params = INTEGRATORS[integrator]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    explainers[method, integrator] = skig.Explainer(
                        model, method=method, output="raw", random_state=0, **method_params, **integrator_params
                    ).fit(X)
            except (ValueError, TypeError) as error:
                explainers[method, integrator] = str(error).split(":")[0].split(";")[0][:70]

    def timed(explainer, n_threads) -> float:
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                explainer.explain(X)

        if n_threads == "intra-op":
            with intra_op_passes():
                return best_wall(run, rounds)
        explainer.set_params(n_threads=n_threads)
        try:
            return best_wall(run, rounds)
        finally:
            explainer.set_params(n_threads=None)

    results = {}
    for phase in ("idle", "contended"):
        with busy_competitor() if phase == "contended" else _nothing():
            for key, explainer in explainers.items():
                if isinstance(explainer, str):
                    continue
                for name, n_threads in settings.items():
                    results[phase, key, name] = timed(explainer, n_threads)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    header = f"{'method':<11}{'integrator':<15}{'threads':<20}{'idle s':>9}{'contended s':>13}{'contended/idle':>16}"
    print(header, flush=True)
    worst = 0.0
    for (method, integrator), explainer in explainers.items():
        if isinstance(explainer, str):
            print(f"{method:<11}{integrator:<15}refused: {explainer}")
            continue
        for name in settings:
            idle, busy = results["idle", (method, integrator), name], results["contended", (method, integrator), name]
            print(f"{method:<11}{integrator:<15}{name:<20}{idle:>9.3f}{busy:>13.3f}{busy / idle:>16.2f}", flush=True)
        compared = [name for name in settings if name != "intra-op (before)"]
        ratios = {
            phase: results[phase, (method, integrator), "default"]
            / min(results[phase, (method, integrator), name] for name in compared)
            for phase in ("idle", "contended")
        }
        worst = max(worst, ratios["contended"])
        print(
            f"{'':<26}default / best thread count: idle {ratios['idle']:.2f}, contended {ratios['contended']:.2f}"
            f"{'' if ratios['contended'] <= 1.5 else '  (over 1.5)'}"
        )
    print(f"\nworst default / best thread count with one busy competitor: {worst:.2f} (target <= 1.5)")


@contextmanager
def _nothing():
    yield


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--intra-op", action="store_true", help="also time passes over torch's intra-op threads")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--integrators", nargs="+", choices=list(INTEGRATORS), default=list(INTEGRATORS))
    args = parser.parse_args()
    main(args.rounds, args.rows, args.intra_op, args.methods, args.integrators)
