"""Integrated Gradients speed: skig against Captum, SHAP and the autograd floor, in one process.

An MLP 30 -> 256 -> 256 -> 2, 1,000 rows, 50 steps, Gauss-Legendre, on CPU. Prints seconds and ratios.
Run: ``python benchmarks/bench_ig.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import skig
from skig.engine import quadrature

N_ROWS, N_FEATURES, N_STEPS = 1000, 30, 50


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, thread pool, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(repeats: int) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 2),
    )
    X = np.random.RandomState(0).normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    inputs = torch.from_numpy(X)
    baseline = inputs.mean(0, keepdim=True)
    target = 1

    explainer = skig.Explainer(
        model, baseline="mean", n_steps=N_STEPS, rule="gausslegendre", output="raw", target=target
    )
    explainer.fit(X)

    def run_skig():
        return explainer.explain(X)

    alphas, weights = (torch.as_tensor(v, dtype=torch.float32) for v in quadrature("gausslegendre", N_STEPS))

    def run_floor():
        # One bare forward and backward over every path point, parameters frozen: what any IG must at least pay.
        for p in model.parameters():
            p.requires_grad_(False)
        points = (baseline + alphas.view(-1, 1, 1) * (inputs - baseline)).reshape(-1, N_FEATURES).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(points)[:, target].sum(), points)
        for p in model.parameters():
            p.requires_grad_(True)
        return grad

    from captum.attr import IntegratedGradients

    captum_ig = IntegratedGradients(model)

    def run_captum():
        return captum_ig.attribute(inputs, baselines=baseline, target=target, n_steps=N_STEPS)

    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shap_explainer = shap.GradientExplainer(model, inputs[:100])

    def run_shap():
        # Same number of gradient evaluations per row as the IG runs: nsamples = n_steps.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return shap_explainer.shap_values(inputs, nsamples=N_STEPS, rseed=0)

    runs = {
        "autograd floor": run_floor,
        "skig": run_skig,
        "captum (defaults)": run_captum,
        "shap GradientExplainer": run_shap,
    }
    print(
        f"MLP {N_FEATURES}->256->256->2, {N_ROWS} rows, {N_STEPS} steps, gausslegendre, CPU, "
        f"{torch.get_num_threads()} threads, best of {repeats}"
    )
    times = {name: best_of(fn, repeats) for name, fn in runs.items()}
    floor, mine = times["autograd floor"], times["skig"]
    print(f"{'run':<24}{'seconds':>10}{'x floor':>10}{'x skig':>10}")
    for name, seconds in times.items():
        print(f"{name:<24}{seconds:>10.3f}{seconds / floor:>10.2f}{seconds / mine:>10.2f}")
    print(
        f"skig / floor = {mine / floor:.2f} (target <= 1.2); captum / skig = {times['captum (defaults)'] / mine:.2f} "
        "(target >= 2)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    main(parser.parse_args().repeats)
