"""Expected IG accuracy per gradient evaluation: skig against Captum's GradientShap and SHAP's GradientExplainer.

MLPs 20 -> 64 -> 64 -> 1 (tanh then ReLU, and ReLU only), float32, a 64-row background, 256 explained rows, on
CPU. The reference is the expectation computed densely: IG from every background row with 256 midpoint steps
(skig's IG, baseline = the 64 rows, on a float64 copy of the model). Each tool gets k gradient evaluations per
explained row (k = 16, 64, 256); Captum and SHAP draw (background row, alpha) pairs independently, skig
stratifies them. Prints the RMSE against the reference (averaged over seeds), the time per explained row, and
skig's ratios. Run: ``python benchmarks/bench_expected.py [--seeds 5] [--rows 256]``.
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch

import skig

N_FEATURES, N_BACKGROUND, BUDGETS = 20, 64, (16, 64, 256)
TOOLS = ("skig", "captum", "shap")


def make_model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    first = torch.nn.Tanh() if kind == "tanh-relu" else torch.nn.ReLU()
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 64), first, torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
    )


def explainers(model: torch.nn.Module, background: np.ndarray, reference_rows: np.ndarray):
    """One function per tool: ``run(rows, k, seed) -> (n, d) attributions``."""
    from captum.attr import GradientShap

    captum = GradientShap(model)
    background_tensor = torch.from_numpy(background)

    def run_skig(rows, k, seed):
        explainer = skig.Explainer(
            model, method="expected", baseline=background, n_samples=k, output="raw", random_state=seed
        )
        return explainer.fit(reference_rows).explain(rows).values.to_numpy()

    def run_captum(rows, k, seed):
        torch.manual_seed(seed)
        inputs = torch.from_numpy(rows)
        return captum.attribute(inputs, baselines=background_tensor, n_samples=k, stdevs=0.0, target=0).numpy()

    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shap_explainer = shap.GradientExplainer(model, background_tensor)

    def run_shap(rows, k, seed):
        np.random.seed(seed)  # noqa: NPY002 - SHAP draws from the global state
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = shap_explainer.shap_values(torch.from_numpy(rows), nsamples=k, rseed=seed)
        values = np.asarray(values[0] if isinstance(values, list) else values)
        return values.reshape(len(rows), N_FEATURES)

    return {"skig": run_skig, "captum": run_captum, "shap": run_shap}


def main(seeds: int, n_rows: int) -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, N_FEATURES)).astype(np.float32)
    background, rows = X[:N_BACKGROUND], X[1000 : 1000 + n_rows]
    print(
        f"Expected IG, {n_rows} rows, {N_BACKGROUND}-row background, {seeds} seeds, torch threads: "
        f"{torch.get_num_threads()}"
    )
    for kind in ("tanh-relu", "relu"):
        model = make_model(kind)
        reference = (
            skig.Explainer(
                copy.deepcopy(model).double(), baseline=background, n_steps=256, rule="riemann_middle", output="raw"
            )
            .fit(X)
            .explain(rows.astype(np.float64))
            .values.to_numpy()
        )
        runs = explainers(model, background, X)
        for run in runs.values():
            run(rows[:8], 16, 0)  # warm-up: thread pools, lazy imports, allocator
        print(f"\nMLP {N_FEATURES} -> 64 -> 64 -> 1 ({kind})")
        print(
            f"{'k':>5} | "
            + " | ".join(f"{tool + ' RMSE':>12} {tool + ' ms/row':>13}" for tool in TOOLS)
            + " | RMSE ratio captum/skig, shap/skig | time ratio captum/skig"
        )
        for k in BUDGETS:
            rmse, seconds = {tool: [] for tool in TOOLS}, {tool: [] for tool in TOOLS}
            for seed in range(seeds):
                for tool, run in runs.items():
                    start = time.perf_counter()
                    values = run(rows, k, seed)
                    seconds[tool].append(time.perf_counter() - start)
                    rmse[tool].append(float(np.sqrt(np.mean((values - reference) ** 2))))
            error = {tool: np.mean(rmse[tool]) for tool in TOOLS}
            per_row = {tool: 1e3 * np.median(seconds[tool]) / n_rows for tool in TOOLS}
            cells = " | ".join(f"{error[tool]:12.3e} {per_row[tool]:13.4f}" for tool in TOOLS)
            print(
                f"{k:>5} | {cells} | {error['captum'] / error['skig']:10.1f}x {error['shap'] / error['skig']:10.1f}x"
                f"          | {per_row['captum'] / per_row['skig']:8.2f}x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=256)
    args = parser.parse_args()
    main(args.seeds, args.rows)
