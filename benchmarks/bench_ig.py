"""Integrated Gradients speed: skig against the chunked autograd floor and Captum, in one process, on CPU.

Two MLPs (30 -> 256 -> 256 -> 2 and 30 -> 64 -> 64 -> 1, ReLU), 1,000 rows, 50 steps, Gauss-Legendre, raw output.
The floor is a bare forward and backward over the same 50,000 path points with the parameters frozen, at several
points per pass; its best pass size is the floor. Captum runs with its defaults (every point in one pass) and with
the best of several ``internal_batch_size``. Every contender runs once per round, in an order shuffled per round
(seeded), rounds repeat. Each contender's best time and its median over the rounds are printed, and skig's ratio to
the floor under both: the floor's best is the least of its pass sizes' times, a minimum over eight times as many runs
as skig's, so on a machine whose times spread widely it favours the floor; the median ratio compares typical runs
(the floor's pass size with the least median).
Run: ``python benchmarks/bench_ig.py [--rounds 7] [--shap]``; on a busy machine ``--threads 1 --timer cpu`` gives
steadier ratios (process time does not count waiting). ``--settle`` sets the pause before each run (SETTLE_SECONDS).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import skig
from skig.engine import chunk_points, quadrature

N_ROWS, N_FEATURES, N_STEPS = 1000, 30, 50
MODELS = {"30->256->256->2": (256, 2, 1), "30->64->64->1": (64, 1, 0)}  # hidden width, outputs, target explained
NAMED = {"wide": "30->256->256->2", "narrow": "30->64->64->1"}  # --only
FLOOR_CHUNKS = (512, 1024, 2048, 4096, 8192, 16384, 32768, N_ROWS * N_STEPS)
CAPTUM_BATCHES = (1000, 2000, 4000, 8000, 16000)  # Captum passes all rows at internal_batch_size // rows steps


def make_model(hidden: int, n_outputs: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, n_outputs),
    )


# Pause before each timed run. After an operator on several threads, GNU OpenMP's team keeps spinning for a few
# milliseconds waiting for the next one: a run that starts then (the floor's and Captum's runs use that team) shares
# a core with it. Each run starts on an idle machine instead.
SETTLE_SECONDS = 0.02


def round_times(
    runs: dict, rounds: int, clock=time.perf_counter, seed: int = 0, settle: float = SETTLE_SECONDS
) -> dict[str, list[float]]:
    """Times of each run in ``rounds`` rounds, every run once per round in an order shuffled per round (seeded),
    after one warm-up each and ``settle`` seconds of pause before each.

    The order is shuffled because what ran just before moves a run's time on a small machine: on a 2-core VM, skig
    timed right after the floor's eight chunk sizes took 19-21 ms, timed first in the round 14 ms (the floor: 12-13 ms
    either way). A fixed order would hand one contender the same neighbour every round.
    """
    for fn in runs.values():
        fn()  # allocator, thread pool, lazy imports
    times = {name: [] for name in runs}
    order, rng = list(runs), np.random.default_rng(seed)
    for _ in range(rounds):
        for position in rng.permutation(len(order)):
            name, fn = order[position], runs[order[position]]
            time.sleep(settle)
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def contenders(model, X, target, skig_sweep):
    """``{name: fn}`` for the floor at every chunk size, skig, and Captum; and the chunk size skig picks."""
    inputs = torch.from_numpy(X)
    baseline = inputs.mean(0, keepdim=True)
    alphas = torch.as_tensor(quadrature("gausslegendre", N_STEPS)[0], dtype=torch.float32)

    def floor(chunk):
        def run():
            # What any IG must at least pay: build the path points, one bare forward and backward over them.
            for param in model.parameters():
                param.requires_grad_(False)
            points = (baseline + alphas.view(-1, 1, 1) * (inputs - baseline)).reshape(-1, N_FEATURES)
            for lo in range(0, len(points), chunk):
                part = points[lo : lo + chunk].requires_grad_(True)
                torch.autograd.grad(model(part)[:, target].sum(), part)
            for param in model.parameters():
                param.requires_grad_(True)

        return run

    def skig_run(batch_size):
        explainer = skig.Explainer(
            model,
            baseline="mean",
            n_steps=N_STEPS,
            rule="gausslegendre",
            output="raw",
            target=target,
            batch_size=batch_size,
        ).fit(X)
        return lambda: explainer.explain(X)

    from captum.attr import IntegratedGradients

    captum_ig = IntegratedGradients(model)

    def captum(internal_batch_size):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "internal_batch_size < number of examples"
                return captum_ig.attribute(
                    inputs, baselines=baseline, target=target, n_steps=N_STEPS, internal_batch_size=internal_batch_size
                )

        return run

    runs = {f"floor {chunk}": floor(chunk) for chunk in FLOOR_CHUNKS}
    runs["skig auto"] = skig_run("auto")
    if skig_sweep:
        runs |= {f"skig {chunk}": skig_run(chunk) for chunk in FLOOR_CHUNKS}
    runs["captum defaults"] = captum(None)
    runs |= {f"captum {batch}": captum(batch) for batch in CAPTUM_BATCHES}
    return runs, chunk_points(model, inputs[:8], "auto")


def shap_seconds_per_row(model, X, rounds: int, n_rows: int, clock) -> float:
    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.GradientExplainer(model, torch.from_numpy(X[:100]))

        def run():  # same gradient evaluations per row as IG: nsamples = n_steps
            return explainer.shap_values(torch.from_numpy(X[:n_rows]), nsamples=N_STEPS, rseed=0)

        return min(round_times({"shap": run}, rounds, clock)["shap"]) / n_rows


def main(
    rounds: int,
    with_shap: bool,
    shap_rows: int,
    skig_sweep: bool,
    threads: int,
    timer: str,
    settle: float,
    only: str | None = None,
) -> None:
    torch.set_num_threads(threads)
    clock = time.perf_counter if timer == "wall" else time.process_time
    X = np.random.RandomState(0).normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    print(
        f"IG, {N_ROWS} rows x {N_STEPS} steps = {N_ROWS * N_STEPS} path points, gausslegendre, raw output, CPU, "
        f"torch threads: {torch.get_num_threads()}, {rounds} rounds ({timer} time), {1e3 * settle:g} ms pause before "
        "each run"
    )
    for name, (hidden, n_outputs, target) in MODELS.items():
        if only is not None and name != NAMED[only]:
            continue
        model = make_model(hidden, n_outputs)
        runs, auto_chunk = contenders(model, X, target, skig_sweep)
        times = round_times(runs, rounds, clock, settle=settle)
        best = {run: min(values) for run, values in times.items()}
        typical = {run: float(np.median(values)) for run, values in times.items()}
        floor_name = min((run for run in best if run.startswith("floor")), key=best.get)
        typical_floor = min((run for run in typical if run.startswith("floor")), key=typical.get)
        captum_name = min((run for run in best if run.startswith("captum")), key=best.get)
        floor, mine = best[floor_name], best["skig auto"]
        print(f"\nMLP {name} (ReLU); skig's automatic pass: {auto_chunk} points")
        print(f"{'run (points per pass)':<26}{'best ms':>9}{'x best floor':>14}{'median ms':>11}{'x median floor':>16}")
        for run in times:
            least = [
                kind
                for kind, names in (("best", (floor_name, captum_name)), ("median", (typical_floor,)))
                if run in names
            ]
            mark = f"  <- least {' and '.join(least)}" if least else ""
            print(
                f"{run:<26}{1e3 * best[run]:>9.1f}{best[run] / floor:>14.2f}{1e3 * typical[run]:>11.1f}"
                f"{typical[run] / typical[typical_floor]:>16.2f}{mark}"
            )
        if with_shap:
            per_row = shap_seconds_per_row(model, X, max(1, rounds // 3), shap_rows, clock)
            print(
                f"{'shap GradientExplainer':<26}{1e3 * per_row * N_ROWS:>9.1f}{per_row * N_ROWS / floor:>14.2f}"
                f"  ({shap_rows} rows timed, scaled to {N_ROWS})"
            )
        print(
            f"skig / best floor ({floor_name.split()[1]} points per pass) = {mine / floor:.2f} (target <= 1.1); "
            f"by medians ({typical_floor.split()[1]} points) = {typical['skig auto'] / typical[typical_floor]:.2f}; "
            f"best captum ({captum_name.split()[1]}) / skig = {best[captum_name] / mine:.2f} (target >= 2); "
            f"captum defaults / skig = {best['captum defaults'] / mine:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--shap", action="store_true", help="also time SHAP's GradientExplainer (slow)")
    parser.add_argument("--shap-rows", type=int, default=100, help="rows SHAP explains (its time is scaled up)")
    parser.add_argument("--skig-sweep", action="store_true", help="also time skig at each fixed batch_size")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the targets are for 2)")
    parser.add_argument(
        "--timer",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: process time; with --threads 1 it keeps the ratios on a busy machine",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        help=f"seconds of pause before each timed run (default {SETTLE_SECONDS})",
    )
    parser.add_argument("--only", choices=sorted(NAMED), help="time one of the two nets")
    args = parser.parse_args()
    main(args.rounds, args.shap, args.shap_rows, args.skig_sweep, args.threads, args.timer, args.settle, args.only)
