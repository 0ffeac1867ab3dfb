"""Interactions (Integrated Hessians) against exact IG alone and against nested quadrature, in one process on CPU.

Per ReLU net (30 -> 64 -> 64 -> 1, 30 -> 256 -> 256 -> 2, float32, as users train them):

- ``explain(X)`` (exact IG) and ``explain(X, interactions=True)`` (exact IG and exact Integrated Hessians): best of
  5 interleaved runs, seconds and their ratio; the interactions' completeness (max |row sum - attribution|,
  max |total - (f(x) - f(x'))|);
- the nested-quadrature way (Gauss-Legendre over (alpha, beta), autograd gradient and Hessian at every node, as
  path_explain does) at n x n nodes: seconds and its largest error against the exact matrices. On a ReLU net its
  Hessian is zero almost everywhere, so its off-diagonal error does not shrink with n;
- the same shapes with tanh (smooth): skig's log-weighted Gauss rules (n nodes per rule, one Hessian-vector product
  per raw column per node) against the nested way, each error against nested quadrature at 40 x 40 nodes;
- memory: the matrices kept per row (features^2 float64), and how far the resident memory rises (sampled
  every millisecond) while explaining 2,000 rows without and with interactions (a fresh process each).

Run: ``python benchmarks/bench_interactions.py [--rows 300] [--smooth-rows 20] [--memory-rows 2000]``.
Times are CPU seconds of this process (one torch thread), steadier than wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

import skig

NESTED = (8, 16, 32)
REPEATS = 5
SMOOTH_NODES = (8, 16, 32)


def mlp(widths, activation, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        if i:
            layers.append(activation())
        layers.append(torch.nn.Linear(n_in, n_out))
    return torch.nn.Sequential(*layers).to(dtype).eval()


def timed(fn):
    # Process time: on a shared machine, waiting for a core does not count (torch runs on one thread here).
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def nested(model, X, baseline, n, target):
    """IG of IG by nested Gauss-Legendre over (alpha, beta) with autograd gradients and Hessians: (rows, d, d)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes, weights = (nodes + 1) / 2, weights / 2
    ab = torch.tensor(np.outer(nodes, nodes).reshape(-1), dtype=X.dtype)
    wab = torch.tensor(np.outer(weights, weights).reshape(-1), dtype=torch.float64)

    def f(point):
        return model(point.unsqueeze(0)).reshape(-1)[target]

    out = []
    for x in X:
        delta = x - baseline
        points = baseline + ab.unsqueeze(1) * delta
        grads = torch.func.vmap(torch.func.grad(f))(points).double()
        hessians = torch.func.vmap(torch.func.hessian(f))(points).double()
        first = torch.diag((wab.unsqueeze(1) * grads).sum(0) * delta.double())
        second = (wab * ab.double()).view(-1, 1, 1).mul(hessians).sum(0) * torch.outer(delta, delta).double()
        out.append((first + second).detach().numpy())
    return np.stack(out)


def matrices(exp):
    return exp.interactions.to_numpy().reshape(len(exp), exp.shape[1], exp.shape[1])


def relu_rows(widths, n_rows):
    model = mlp(widths, torch.nn.ReLU)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_rows + 500, widths[0])).astype(np.float32)
    explainer = skig.Explainer(model, output="raw", target=widths[-1] - 1).fit(X[n_rows:])
    rows = X[:n_rows]
    explainer.explain(rows[:4], interactions=True)  # warm-up: compiled loops, lazy imports
    # Best of REPEATS, the two interleaved, so that a busy moment of a shared machine does not decide the ratio.
    ig_time = ih_time = float("inf")
    for _ in range(REPEATS):
        ig_time = min(ig_time, timed(lambda: explainer.explain(rows))[0])
        seconds, exp = timed(lambda: explainer.explain(rows, interactions=True))
        ih_time = min(ih_time, seconds)
    delta = exp.interaction_delta
    name = "-".join(map(str, widths))
    print(
        f"{name} relu  rows={n_rows}  exact IG {ig_time:.3f}s  IG+interactions {ih_time:.3f}s  "
        f"ratio {ih_time / ig_time:.2f}x  |rows| {delta['rows'].max():.2e}  |total| {delta['total'].abs().max():.2e}  "
        f"segments/path {exp.n_steps.mean():.0f}"
    )
    exact = matrices(exp)
    baseline = torch.tensor(explainer.encoded_baseline_.to_numpy()[0], dtype=torch.float32)
    few = torch.tensor(rows[:10])
    exact_few = exact[:10]
    per_row_ih = ih_time / n_rows
    nested(model, few[:1], baseline, 4, widths[-1] - 1)  # warm-up: vmap's first call
    for n in NESTED:
        seconds, approx = timed(lambda n=n: nested(model, few, baseline, n, widths[-1] - 1))
        error = np.abs(approx - exact_few).max()
        print(
            f"    nested GL {n}x{n}: {seconds / len(few) * 1e3:.1f} ms/row ({seconds / len(few) / per_row_ih:.0f}x "
            f"skig's exact {per_row_ih * 1e3:.2f} ms/row), max error {error:.2e} (scale {np.abs(exact_few).max():.2e})"
        )
    return exp


def tanh_rows(widths, n_rows):
    model = mlp(widths, torch.nn.Tanh, dtype=torch.float64)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_rows + 500, widths[0]))
    target = widths[-1] - 1
    fitted = skig.Explainer(model, output="raw", target=target).fit(X[n_rows:])
    rows = X[:n_rows]
    baseline = torch.tensor(fitted.encoded_baseline_.to_numpy()[0])
    reference = nested(model, torch.tensor(rows), baseline, 40, target)
    name = "-".join(map(str, widths))
    for n in SMOOTH_NODES:
        explainer = skig.Explainer(model, output="raw", target=target, n_steps=n).fit(X[n_rows:])
        explainer.explain(rows[:2], interactions=True)  # warm-up
        seconds, exp = timed(lambda explainer=explainer: explainer.explain(rows, interactions=True))
        error = np.abs(matrices(exp) - reference).max()
        n_time, approx = timed(lambda n=n: nested(model, torch.tensor(rows), baseline, n, target))
        n_error = np.abs(approx - reference).max()
        print(
            f"{name} tanh  n={n:3d}: skig (IG + interactions) {seconds / n_rows * 1e3:.1f} ms/row error {error:.1e} "
            f"nested {n}x{n} {n_time / n_rows * 1e3:.1f} ms/row error {n_error:.1e}"
        )


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss(widths, n_rows, interactions, queue) -> None:
    """How far the resident memory rises above its level before ``explain``, sampled every millisecond."""
    import threading

    torch.set_num_threads(1)
    model = mlp(widths, torch.nn.ReLU)
    X = np.random.RandomState(0).normal(size=(n_rows + 500, widths[0])).astype(np.float32)
    explainer = skig.Explainer(model, output="raw", target=widths[-1] - 1).fit(X[n_rows:])
    explainer.explain(X[:4], interactions=interactions)
    before, peak, done = _rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    explainer.explain(X[:n_rows], interactions=interactions)
    done.set()
    sampler.join()
    queue.put(max(peak[0], _rss_mib()) - before)


def memory(widths, n_rows) -> None:
    """Growth of the peak resident memory while explaining, in a fresh process each, without and with interactions."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    grown = {}
    for interactions in (False, True):
        queue = context.Queue()
        child = context.Process(target=_peak_rss, args=(widths, n_rows, interactions, queue))
        child.start()
        grown[interactions] = queue.get()
        child.join()
    print(
        f"{'-'.join(map(str, widths))} relu  {n_rows} rows: resident memory rises {grown[False]:.0f} MiB (IG), "
        f"{grown[True]:.0f} MiB (IG + interactions; the matrices alone {n_rows * widths[0] ** 2 * 8 / 2**20:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--smooth-rows", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-rows", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for widths in ([30, 64, 64, 1], [30, 256, 256, 2]):
        exp = relu_rows(widths, args.rows)
        print(f"    matrices kept: {exp.shape[1] ** 2 * 8} bytes per row ({exp.shape[1]} raw columns, float64)")
    for widths in ([30, 64, 64, 1], [30, 256, 256, 2]):
        memory(widths, args.memory_rows)
    for widths in ([30, 64, 64, 1], [30, 256, 256, 2]):
        tanh_rows(widths, args.smooth_rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
