"""Expected IG accuracy per gradient evaluation: skig against Captum's GradientShap (and SHAP's GradientExplainer).

MLPs 20 -> 64 -> 64 -> 1 (tanh then ReLU, and ReLU only), float32, backgrounds of 16, 64 and 256 rows, 256 explained
rows, on CPU. The reference is the expectation computed densely: IG from every background row with 256 midpoint
steps (skig's IG, baseline = the background rows, on a float64 copy of the model). Each tool gets k gradient
evaluations per explained row (k = 16, 32, 64, 256; skig's defaults are k = 32 with 64 background rows); Captum
and SHAP draw (background row, alpha) pairs independently, skig stratifies them (Sobol points below 2 per
background row, exact strata and quadrature from there). Prints the RMSE against the reference (averaged over
seeds), the time per explained row, and skig's ratios. SHAP is slow: it runs only with ``--shap``, on the first
``--shap-rows`` rows. Run: ``python benchmarks/bench_expected.py [--seeds 5] [--rows 256] [--shap]``.
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import torch

import skig

N_FEATURES, BACKGROUNDS, BUDGETS = 20, (16, 64, 256), (16, 32, 64, 256)
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


def regime(k: int, n_background: int) -> str:
    """skig's path points at k per row: exact stratification of the background (quadrature) or Sobol points."""
    return "strata" if k >= 2 * n_background else "sobol"


def main(seeds: int, n_rows: int, with_shap: bool, shap_rows: int) -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, N_FEATURES)).astype(np.float32)
    rows = X[1000 : 1000 + n_rows]
    tools = TOOLS if with_shap else TOOLS[:2]
    print(
        f"Expected IG, {n_rows} rows"
        + (f" ({shap_rows} for SHAP)" if with_shap else ", SHAP not run (--shap)")
        + f", {seeds} seeds, torch threads: {torch.get_num_threads()}; "
        "RMSE against the dense reference, ms per explained row (median over seeds); ratios > 1 favour skig"
    )
    print("skig regime: 'strata' when k >= 2 x background rows (deterministic quadrature per row), else 'sobol'")
    summary = []
    for kind in ("tanh-relu", "relu"):
        model = make_model(kind)
        print(f"\nMLP {N_FEATURES} -> 64 -> 64 -> 1 ({kind})")
        print(
            f"{'bg':>4} {'k':>4} {'regime':>7} | "
            + " | ".join(f"{tool + ' RMSE':>11} {'ms/row':>7}" for tool in tools)
            + " | RMSE captum/skig"
            + (" shap/skig" if with_shap else "")
            + " | time captum/skig"
        )
        for n_background in BACKGROUNDS:
            background = X[:n_background]
            reference = (
                skig.Explainer(
                    copy.deepcopy(model).double(), baseline=background, n_steps=256, rule="riemann_middle", output="raw"
                )
                .fit(X)
                .explain(rows.astype(np.float64))
                .values.to_numpy()
            )
            runs = explainers(model, background, X)
            for tool in tools:
                runs[tool](rows[:8], 16, 0)  # warm-up: thread pools, lazy imports, allocator
            for k in BUDGETS:
                rmse, seconds = {tool: [] for tool in tools}, {tool: [] for tool in tools}
                for seed in range(seeds):
                    for tool in tools:
                        explained = rows[:shap_rows] if tool == "shap" else rows
                        start = time.perf_counter()
                        values = runs[tool](explained, k, seed)
                        seconds[tool].append((time.perf_counter() - start) / len(explained))
                        error = values - reference[: len(explained)]
                        rmse[tool].append(float(np.sqrt(np.mean(error**2))))
                error = {tool: np.mean(rmse[tool]) for tool in tools}
                per_row = {tool: 1e3 * np.median(seconds[tool]) for tool in tools}
                cells = " | ".join(f"{error[tool]:11.3e} {per_row[tool]:7.3f}" for tool in tools)
                gain = error["captum"] / error["skig"]
                shap_cell = f" {error['shap'] / error['skig']:8.1f}x" if with_shap else ""
                default = "  <- skig's defaults" if (n_background, k) == (64, 32) else ""
                print(
                    f"{n_background:>4} {k:>4} {regime(k, n_background):>7} | {cells} | {gain:15.1f}x{shap_cell}"
                    f" | {per_row['captum'] / per_row['skig']:15.2f}x{default}"
                )
                summary.append((regime(k, n_background), gain))
    print("\nRMSE gain over Captum by skig's regime (all models, backgrounds and budgets):")
    for name in ("sobol", "strata"):
        gains = [gain for kind, gain in summary if kind == name]
        print(
            f"  {name:>6}: {len(gains):2d} settings, gain {min(gains):.1f}x to {max(gains):.1f}x, "
            f"median {np.median(gains):.1f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--shap", action="store_true", help="also run SHAP's GradientExplainer (slow)")
    parser.add_argument("--shap-rows", type=int, default=64, help="rows SHAP explains, the first of the rows")
    args = parser.parse_args()
    main(args.seeds, args.rows, args.shap, min(args.shap_rows, args.rows))
