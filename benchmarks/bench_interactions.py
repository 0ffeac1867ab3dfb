"""Interactions (Integrated Hessians) against exact IG alone and against nested quadrature, in one process on CPU.

Per ReLU net (30 -> 64 -> 64 -> 1, 30 -> 256 -> 256 -> 2, float32, as users train them):

- ``explain(X)`` (exact IG) and ``explain(X, interactions=True)`` (exact IG and exact Integrated Hessians): best of
  5 interleaved runs, seconds and their ratio; the interactions' completeness (max |row sum - attribution|,
  max |total - (f(x) - f(x'))|);
- the nested-quadrature way (Gauss-Legendre over (alpha, beta), autograd gradient and Hessian at every node, as
  path_explain does) at n x n nodes: seconds and its largest error against the exact matrices. On a ReLU net its
  Hessian is zero almost everywhere, so its off-diagonal error does not shrink with n;
- the same shapes with tanh (smooth, float64): error against time for both ways, skig's log-weighted Gauss rules
  (n nodes per rule; on these chains the Hessian blocks by forward tangents through the layers) and the nested way
  at n x n nodes, n from 2 to 16. The error is the largest absolute difference, over all rows and all feature pairs,
  between a way's matrices and a dense float64 reference (nested Gauss-Legendre at 24 x 24, checked against skig at
  128 nodes); the largest |entry| of the reference is printed beside it, and the error relative to it. Times are
  CPU seconds per row: skig's the whole ``explain(rows, interactions=True)`` call (attributions, completeness,
  DataFrames included), the nested way's its matrices alone. Then each way's time at equal error, interpolated in
  log-log along its Pareto front, and their ratio;
- memory: the matrices kept per row (features^2 float64), and how far the resident memory rises (sampled
  every millisecond) while explaining 2,000 rows without and with interactions (a fresh process each), on the ReLU
  nets and on the tanh nets (at 8 nodes per rule).

Run: ``python benchmarks/bench_interactions.py [--rows 300] [--smooth-rows 200] [--memory-rows 2000] [--repeats 3]
[--only relu|memory|smooth]``.
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
SMOOTH_NODES = (2, 3, 4, 5, 6, 8, 10, 12, 16)
REFERENCE_NODES = 24
DENSE_NODES = 128  # skig's check of the reference: its most nodes per rule
# Errors compared at equal error (by log-log interpolation); below ERROR_FLOOR both ways are at float64 rounding.
EQUAL_ERRORS = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
ERROR_FLOOR = 1e-13
MEMORY_NODES = 8  # nodes per rule of the smooth nets' memory runs


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


def nested(model, X, baseline, n, target, chunk=1024):
    """IG of IG by nested Gauss-Legendre over (alpha, beta) with autograd gradients and Hessians: (rows, d, d).

    The n x n points of as many rows as fit in ``chunk`` points go through ``vmap`` of ``torch.func.grad`` and
    ``torch.func.hessian`` together (batched over rows, as skig is: no Python loop per row)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes, weights = (nodes + 1) / 2, weights / 2
    ab = torch.tensor(np.outer(nodes, nodes).reshape(-1), dtype=X.dtype)
    wab = torch.tensor(np.outer(weights, weights).reshape(-1), dtype=torch.float64)

    def f(point):
        return model(point.unsqueeze(0)).reshape(-1)[target]

    out = []
    per_chunk = max(1, chunk // (n * n))  # rows whose points go through one vmap call
    for lo in range(0, len(X), per_chunk):
        delta = X[lo : lo + per_chunk] - baseline  # (rows, d)
        points = (baseline + ab.view(1, -1, 1) * delta.unsqueeze(1)).reshape(-1, X.shape[1])
        grads = torch.func.vmap(torch.func.grad(f))(points).double().view(len(delta), n * n, -1)
        hessians = (
            torch.func.vmap(torch.func.hessian(f))(points).double().view(len(delta), n * n, X.shape[1], X.shape[1])
        )
        delta = delta.double()
        first = torch.diag_embed((wab.view(1, -1, 1) * grads).sum(1) * delta)
        second = torch.einsum("q,rqij->rij", wab * ab.double(), hessians) * delta.unsqueeze(2) * delta.unsqueeze(1)
        out.append((first + second).detach().numpy())
    return np.concatenate(out)


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


def best_time(fn, repeats):
    """Best CPU time of ``repeats`` runs, and the last result."""
    best = float("inf")
    for _ in range(repeats):
        seconds, result = timed(fn)
        best = min(best, seconds)
    return best, result


def pareto(curve):
    """The (seconds, error) points no other point beats on both, by increasing time (errors then decrease)."""
    front = []
    for seconds, error in sorted(curve):
        if not front or error < front[-1][1]:
            front.append((seconds, error))
    return front


def time_at(front, error):
    """Seconds a Pareto front needs for ``error``, interpolated linearly in log-log between its points; None
    outside the errors it spans."""
    for (t0, e0), (t1, e1) in zip(front[:-1], front[1:], strict=True):
        if e1 <= error <= e0:
            if e0 == e1:
                return t0
            share = np.log(e0 / error) / np.log(e0 / e1)
            return float(np.exp(np.log(t0) + share * np.log(t1 / t0)))
    return front[0][0] if front and front[0][1] == error else None


def tanh_rows(widths, n_rows, repeats):
    """Error against time for both ways on a smooth net, and the speed ratio where their errors are equal."""
    model = mlp(widths, torch.nn.Tanh, dtype=torch.float64)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_rows + 500, widths[0]))
    target = widths[-1] - 1
    fitted = skig.Explainer(model, output="raw", target=target).fit(X[n_rows:])
    rows = X[:n_rows]
    baseline = torch.tensor(fitted.encoded_baseline_.to_numpy()[0])
    # A dense float64 reference, written apart from skig; skig at its most nodes checks it.
    reference = nested(model, torch.tensor(rows), baseline, REFERENCE_NODES, target)
    dense = skig.Explainer(model, output="raw", target=target, n_steps=DENSE_NODES).fit(X[n_rows:])
    agreement = np.abs(matrices(dense.explain(rows, interactions=True)) - reference).max()
    scale = np.abs(reference).max()
    name = "-".join(map(str, widths))
    print(
        f"{name} tanh  rows={n_rows}  reference: nested GL {REFERENCE_NODES}x{REFERENCE_NODES} "
        f"(skig at {DENSE_NODES} nodes agrees to {agreement:.1e}; entries up to {scale:.2e}); error = max |difference| "
        "over rows and pairs"
    )
    skig_curve, nested_curve = [], []
    nested(model, torch.tensor(rows[:1]), baseline, 2, target)  # warm-up: vmap's first call
    for n in SMOOTH_NODES:
        explainer = skig.Explainer(model, output="raw", target=target, n_steps=n).fit(X[n_rows:])
        explainer.explain(rows[:2], interactions=True)  # warm-up
        seconds, exp = best_time(lambda explainer=explainer: explainer.explain(rows, interactions=True), repeats)
        error = np.abs(matrices(exp) - reference).max()
        n_seconds, approx = best_time(lambda n=n: nested(model, torch.tensor(rows), baseline, n, target), repeats)
        n_error = np.abs(approx - reference).max()
        skig_curve.append((seconds / n_rows, error))
        nested_curve.append((n_seconds / n_rows, n_error))
        print(
            f"    n={n:2d}  skig (IG + interactions, {n} nodes per rule) {seconds / n_rows * 1e3:7.2f} ms/row "
            f"error {error:.1e} ({error / scale:.1e} rel.)   nested {n}x{n} {n_seconds / n_rows * 1e3:7.2f} ms/row "
            f"error {n_error:.1e} ({n_error / scale:.1e} rel.)"
        )
    # Equal error: each way's time at the same error, along its Pareto front (errors above float64 rounding).
    fronts = [pareto([(t, e) for t, e in curve if e > ERROR_FLOOR]) for curve in (skig_curve, nested_curve)]
    for error in EQUAL_ERRORS:
        times = [time_at(front, error) for front in fronts]
        if None in times:
            continue
        print(
            f"    at equal error {error:.0e} ({error / scale:.0e} rel.): skig {times[0] * 1e3:.2f} ms/row, "
            f"nested {times[1] * 1e3:.2f} ms/row: {times[1] / times[0]:.1f}x"
        )


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss(widths, n_rows, interactions, queue, smooth=False) -> None:
    """How far the resident memory rises above its level before ``explain``, sampled every millisecond."""
    import threading

    torch.set_num_threads(1)
    dtype = torch.float64 if smooth else torch.float32
    model = mlp(widths, torch.nn.Tanh if smooth else torch.nn.ReLU, dtype=dtype)
    X = np.random.RandomState(0).normal(size=(n_rows + 500, widths[0]))
    X = X if smooth else X.astype(np.float32)
    steps = {"n_steps": MEMORY_NODES} if smooth else {}
    explainer = skig.Explainer(model, output="raw", target=widths[-1] - 1, **steps).fit(X[n_rows:])
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


def memory(widths, n_rows, smooth=False) -> None:
    """Growth of the peak resident memory while explaining, in a fresh process each, without and with interactions."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    grown = {}
    for interactions in (False, True):
        queue = context.Queue()
        child = context.Process(target=_peak_rss, args=(widths, n_rows, interactions, queue, smooth))
        child.start()
        grown[interactions] = queue.get()
        child.join()
    kind = f"tanh ({MEMORY_NODES} nodes per rule)" if smooth else "relu"
    kept = widths[0] ** 2 * 8
    print(
        f"{'-'.join(map(str, widths))} {kind}  {n_rows} rows: resident memory rises {grown[False]:.0f} MiB (IG), "
        f"{grown[True]:.0f} MiB (IG + interactions; the matrices alone {n_rows * kept / 2**20:.0f} MiB, "
        f"{kept:,} bytes per row); {(grown[True] - grown[False]) * 2**20 / n_rows:,.0f} bytes per row above IG's"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--smooth-rows", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per smooth-net timing (the best is kept)")
    parser.add_argument("--only", choices=("relu", "memory", "smooth"), help="run one part")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    nets = ([30, 64, 64, 1], [30, 256, 256, 2])
    if args.only in (None, "relu"):
        for widths in nets:
            exp = relu_rows(widths, args.rows)
            print(f"    matrices kept: {exp.shape[1] ** 2 * 8} bytes per row ({exp.shape[1]} raw columns, float64)")
    if args.only in (None, "memory"):
        for widths in nets:
            memory(widths, args.memory_rows)
        for widths in nets:
            memory(widths, args.memory_rows, smooth=True)
    if args.only in (None, "smooth"):
        for widths in nets:
            tanh_rows(widths, args.smooth_rows, args.repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
