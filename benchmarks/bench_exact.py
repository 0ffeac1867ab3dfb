"""Exact IG on ReLU MLPs against Gauss-Legendre IG (skig's engine) and Captum, in one process on CPU.

Prints, per model: completeness error, mean segments per path, seconds and ratios to exact.
Run: ``python benchmarks/bench_exact.py [--repeats 3] [--rows 1000] [--threads 2] [--models 30-256-256-2 ...]``;
on a busy machine ``--threads 1 --timer cpu`` gives steadier ratios (process time does not count waiting).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import skig
from skig.engine import chunk_points, path_gradients, quadrature, straight_paths
from skig.engine.exact import exact_path_integrals

TARGET = 1
# Building a Gauss-Legendre rule costs O(n^3) in numpy; past 2048 nodes that alone takes longer than the IG.
GL_STEPS = (64, 128, 256, 512, 1024, 2048)
CAPTUM_STEPS = (50, 200, 1000)


CLOCK = time.perf_counter


def best_of(fn, repeats: int):
    result = fn()  # warm-up: allocator, thread pool, lazy imports
    times = []
    for _ in range(repeats):
        start = CLOCK()
        result = fn()
        times.append(CLOCK() - start)
    return min(times), result


def mlp(widths: list[int], seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if i:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(n_in, n_out))
    model = torch.nn.Sequential(*layers).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def pick(raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return raw.reshape(raw.shape[0], -1).gather(1, targets.reshape(-1, 1)).squeeze(1)


pick.linear = True  # the raw output: marked linear, as skig's own heads for raw outputs are


def run_model(widths: list[int], n_rows: int, repeats: int) -> list[tuple]:
    model = mlp(widths, seed=0)
    inputs = torch.from_numpy(np.random.RandomState(0).normal(size=(n_rows, widths[0])).astype(np.float32))
    baseline = inputs.mean(0, keepdim=True)
    target = min(TARGET, widths[-1] - 1)
    targets = torch.full((n_rows,), target, dtype=torch.long)
    max_points = chunk_points(model, inputs[:4], "auto")
    with torch.no_grad():
        change = (pick(model(inputs), targets) - pick(model(baseline), targets[:1])).double()
    scale = change.abs().mean()

    def errors(attributions: torch.Tensor) -> tuple[float, float]:
        delta = (attributions.double().sum(1) - change).abs().max()
        return float(delta), float(delta / scale)

    starts = baseline.expand_as(inputs).contiguous()
    seconds, (exact, segments) = best_of(
        lambda: exact_path_integrals(model, pick, starts, inputs, targets, max_points=max_points), repeats
    )
    mean_segments = float(segments.double().mean())
    rows = [("exact", f"{mean_segments:.1f} segments", *errors(exact), seconds)]
    exact_seconds = seconds
    # The general engine (recorded forward passes), which modules other than chains of Linear and ReLU layers take.
    seconds, (general, _) = best_of(
        lambda: exact_path_integrals(model, pick, starts, inputs, targets, max_points=max_points, engine="general"),
        repeats,
    )
    rows.append(("exact", "general engine (non-chain modules)", *errors(general), seconds))

    def gauss_legendre(n_steps: int):
        alphas, weights = (torch.as_tensor(v, dtype=torch.float32) for v in quadrature("gausslegendre", n_steps))
        paths = straight_paths(inputs, baseline, torch.ones(1), targets, alphas, weights)
        return lambda: path_gradients(lambda points, t: pick(model(points), t), paths, max_points)

    n_mean = max(1, round(mean_segments))
    seconds, result = best_of(gauss_legendre(n_mean), repeats)
    rows.append(("gauss-legendre", f"{n_mean} steps (= segments)", *errors(result), seconds))
    mean_ratio = exact_seconds / seconds
    # What a user's explainer runs: on a ReLU chain its quadrature passes skip autograd (engine/_chain_passes.py).
    frame = inputs.numpy()
    explainers = {
        rule: skig.Explainer(
            model, baseline=baseline.numpy(), rule=rule, n_steps=n_mean, output="raw", target=target, progress=False
        ).fit(frame)
        for rule in ("exact", "gausslegendre")
    }
    explained = {}
    for rule, explainer in explainers.items():
        seconds, explanation = best_of(lambda explainer=explainer: explainer.explain(frame), repeats)
        explained[rule] = seconds
        rows.append((f"{rule} (Explainer)", f"{n_mean} steps, chain passes" if rule != "exact" else "explain()",
                     *errors(torch.tensor(explanation.values.to_numpy())), seconds))  # fmt: skip
    explainer_ratio = explained["exact"] / explained["gausslegendre"]
    exact_error = rows[0][3]
    for n_steps in GL_STEPS:
        seconds, result = best_of(gauss_legendre(n_steps), 1)
        absolute, relative = errors(result)
        reached = relative <= max(exact_error, 1e-3)
        if reached or n_steps == GL_STEPS[-1]:
            label = "to 1e-3 rel." if reached else "most tried, 1e-3 not reached"
            rows.append(("gauss-legendre", f"{n_steps} steps ({label})", absolute, relative, seconds))
            break

    from captum.attr import IntegratedGradients

    captum = IntegratedGradients(model)
    best = None
    for n_steps in CAPTUM_STEPS:
        batch = max(1, max_points // n_steps) * n_steps

        def run_captum(n_steps=n_steps, batch=batch):
            return captum.attribute(
                inputs, baselines=baseline, target=target, n_steps=n_steps, internal_batch_size=batch
            )

        seconds, result = best_of(run_captum, 1)
        absolute, relative = errors(result)
        if best is None or absolute < best[2]:
            best = ("captum", f"{n_steps} steps (best delta)", absolute, relative, seconds)
    rows.append(best)
    return [(*row, row[-1] / exact_seconds) for row in rows], mean_ratio, explainer_ratio


def main(repeats: int, n_rows: int, threads: int, models: list[str], timer: str) -> None:
    global CLOCK
    CLOCK = time.perf_counter if timer == "wall" else time.process_time
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} thread(s), best of {repeats} ({timer} time)")
    for widths in ([int(w) for w in model.split("-")] for model in models):
        name = " -> ".join(map(str, widths))
        print(f"\nReLU MLP {name}, {n_rows} rows, mean baseline, float32, raw output of class {TARGET}")
        print(f"{'method':<28}{'setting':<38}{'max|delta|':>12}{'relative':>12}{'seconds':>10}{'vs exact':>10}")
        rows, mean_ratio, explainer_ratio = run_model(widths, n_rows, repeats)
        for method, setting, absolute, relative, seconds, ratio in rows:
            print(f"{method:<28}{setting:<38}{absolute:>12.2e}{relative:>12.2e}{seconds:>10.3f}{ratio:>9.2f}x")
        print(f"exact costs {mean_ratio:.2f}x Gauss-Legendre with one step per mean segment (engine passes)")
        print(
            f"through the Explainer: exact costs {explainer_ratio:.2f}x Gauss-Legendre at as many steps (chain passes)"
        )
    print("\nrelative: max over rows of |delta| / mean over rows of |f(x) - f(baseline)|")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["30-256-256-2", "30-64-64-1"])
    parser.add_argument("--timer", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    main(args.repeats, args.rows, args.threads, args.models, args.timer)
