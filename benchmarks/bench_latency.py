"""One applicant's explanation: the time of one call on one row, skig against Captum and the bare passes, on CPU.

The adverse-action letter and the case a validator opens explain one row at a time, where per-call work (checking
the row, the private copy of the model, the predictions, the completeness guard, the result's frames) weighs more
than the passes. The narrow MLP of ``bench_ig.py`` (30 -> 64 -> 64 -> 1, ReLU), one row, 50 Gauss-Legendre steps,
the mean of 1,000 reference rows as baseline, raw output:

- ``floor``: the bare forward and backward over the row's 50 path points (frozen parameters), summed by the weights:
  no checks, no copy, no completeness;
- ``captum``: ``IntegratedGradients.attribute`` on the row as a tensor, with its convergence delta (what completeness
  costs it);
- ``skig array`` / ``skig frame``: ``Explainer.explain`` on the row as a float32 array, and as a one-row DataFrame
  with named columns (attributions indexed like the row); Gauss-Legendre at 50 steps, and exact IG (the default on
  this net: ``rule="auto"``).

Every contender runs once per round, in an order shuffled per round (seeded), after a pause; each one's best time
and median over the rounds are printed, in milliseconds, with skig's ratio to Captum.
Run: ``python benchmarks/bench_latency.py [--rounds 200] [--threads 1] [--timer cpu]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch
from bench_ig import N_FEATURES, N_STEPS, make_model, round_times

import skig
from skig.engine import quadrature


def contenders(model: torch.nn.Module, reference: np.ndarray, row: np.ndarray) -> dict:
    """The runs to time, each a function of no argument."""
    from captum.attr import IntegratedGradients

    frame = pd.DataFrame(row, columns=[f"x{i}" for i in range(N_FEATURES)], index=pd.Index(["applicant 17"]))
    reference_frame = pd.DataFrame(reference, columns=frame.columns)
    baseline = torch.as_tensor(reference.mean(0, keepdims=True))
    tensor = torch.as_tensor(row)
    alphas, weights = (torch.as_tensor(v, dtype=torch.float32) for v in quadrature("gausslegendre", N_STEPS))
    frozen = make_model(64, 1).requires_grad_(False)
    frozen.load_state_dict(model.state_dict())

    def floor():
        points = (baseline + alphas.view(-1, 1) * (tensor - baseline)).requires_grad_(True)
        (grad,) = torch.autograd.grad(frozen(points)[:, 0].sum(), points)
        return (weights.view(-1, 1) * grad).sum(0) * (tensor - baseline)[0]

    ig = IntegratedGradients(model)

    def captum():
        return ig.attribute(tensor, baselines=baseline, target=0, n_steps=N_STEPS, return_convergence_delta=True)

    def explainer(rule, X):
        return skig.Explainer(model, baseline="mean", n_steps=N_STEPS, rule=rule, output="raw", target=0).fit(X)

    by_array = {rule: explainer(rule, reference) for rule in ("gausslegendre", "auto")}
    by_frame = {rule: explainer(rule, reference_frame) for rule in ("gausslegendre", "auto")}
    # The same numbers: Captum and skig on identical settings, the floor beside them.
    theirs = captum()[0].detach().numpy()[0]
    ours = by_frame["gausslegendre"].explain(frame).values.to_numpy()[0]
    print(f"|skig - captum| {np.abs(ours - theirs).max():.1e}; |floor - captum| "
          f"{np.abs(floor().detach().numpy() - theirs).max():.1e}")  # fmt: skip
    return {
        "floor": floor,
        "captum": captum,
        "skig array (gauss-legendre)": lambda: by_array["gausslegendre"].explain(row),
        "skig frame (gauss-legendre)": lambda: by_frame["gausslegendre"].explain(frame),
        "skig array (exact)": lambda: by_array["auto"].explain(row),
        "skig frame (exact)": lambda: by_frame["auto"].explain(frame),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--timer", choices=["wall", "cpu"], default="cpu", help="wall time or process CPU time")
    parser.add_argument("--settle", type=float, default=0.002, help="pause before each run, seconds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Setting forward, backward hooks")  # Captum on a plain Sequential
    rng = np.random.RandomState(0)
    reference = rng.normal(size=(1000, N_FEATURES)).astype(np.float32)
    row = rng.normal(size=(1, N_FEATURES)).astype(np.float32)
    model = make_model(64, 1)
    runs = contenders(model, reference, row)
    clock = time.process_time if args.timer == "cpu" else time.perf_counter
    times = round_times(runs, args.rounds, clock=clock, settle=args.settle)
    print(f"one row, 30 -> 64 -> 64 -> 1 (ReLU), {N_STEPS} steps; torch threads {torch.get_num_threads()}; "
          f"timer {args.timer}; {args.rounds} rounds")  # fmt: skip
    captum = times["captum"]
    print(f"{'run':<30} {'best ms':>8} {'median ms':>10} {'best / captum':>14} {'median / captum':>16}")
    for name, spent in times.items():
        best, median = min(spent), float(np.median(spent))
        print(
            f"{name:<30} {1e3 * best:>8.3f} {1e3 * median:>10.3f} {best / min(captum):>14.2f} "
            f"{median / float(np.median(captum)):>16.2f}"
        )


if __name__ == "__main__":
    main()
