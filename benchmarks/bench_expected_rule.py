"""Expected IG on a ReLU MLP: exact lines against Gauss-Legendre at the same ``n_samples`` (what ``rule="auto"`` picks).

MLP 20 -> 64 -> 64 -> 1 (ReLU), float32, a background of 64 rows, 512 explained rows, one torch thread. The
reference is the exact expectation: every background row, each line integrated exactly (``rule="exact"`` with
``n_samples`` >= the background). For each ``n_samples`` both rules explain the same rows with the same seeds (so
the same sampled background rows below 2 per background row); prints the RMSE against the reference, the seconds,
the error x seconds product (lower is better) and the work each row reports in ``exp.n_steps``.
Run: ``python benchmarks/bench_expected_rule.py [--rows 512] [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import skig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
    )
    data = np.random.default_rng(0).normal(size=(4000, 20)).astype(np.float32)
    rows, background = data[: args.rows], data[1000:1064]

    def explainer(rule, n_samples, seed):
        return skig.Explainer(
            model, method="expected", baseline=background, rule=rule, n_samples=n_samples, random_state=seed
        ).fit(data[1000:])

    reference = explainer("exact", 64, 0).explain(rows).values.to_numpy()
    print(f"{'n_samples':>9} {'rule':>13} {'RMSE':>10} {'seconds':>8} {'RMSE x s':>9} {'n_steps/row':>11}")
    for n_samples in (8, 32, 128):
        for rule in ("gausslegendre", "exact"):
            errors, seconds, steps = [], 0.0, 0.0
            for seed in range(args.seeds):
                fitted = explainer(rule, n_samples, seed)
                start = time.perf_counter()
                exp = fitted.explain(rows)
                seconds += time.perf_counter() - start
                errors.append(np.sqrt(np.mean((exp.values.to_numpy() - reference) ** 2)))
                steps += float(exp.n_steps.mean())
            rmse, seconds, steps = float(np.mean(errors)), seconds / args.seeds, steps / args.seeds
            print(f"{n_samples:>9} {rule:>13} {rmse:>10.3g} {seconds:>8.2f} {rmse * seconds:>9.3g} {steps:>11.0f}")


if __name__ == "__main__":
    main()
