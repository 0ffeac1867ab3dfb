"""Embedding nets: skig against Captum's recipe (LayerIntegratedGradients over the embedding layers and an identity
layer on the numeric input, so that all move along one path) at equal error: error-vs-time curves for both.

Two models on synthetic loans (4 numeric columns, 3 categorical ones with 12, 6 and 4 categories), float32, on CPU:
an FT-Transformer (rtdl_revisiting_models, one block; ``forward(x_cont, x_cat)``, explained with ``inputs=``) and an
embedding MLP (tables looked up from codes cast inside ``forward``, then 64 -> 64 ReLU). The baseline is the same for
both tools: the numeric columns' mean and each categorical column's modal category.

The truth is this file's own oracle, written apart from skig's engine and from Captum, in float64, along the
straight line in the joint space of the numeric columns and the looked-up vectors (forward hooks replace each
embedding module's output by the interpolated vectors). Both nets' gradients jump where a hinge's input (ReLU,
ReGLU's gate) crosses zero, so quadrature converges only as 1/steps there; the oracle finds those crossings along
each row's line (a grid of 1,024 intervals, bisection, secant steps) and integrates each smooth piece between them
by Gauss-Legendre at 16 points. Its own error is printed (against half the grid and nodes); on the ReLU MLP it
agrees with skig's exact integration to about 1e-15.

The error of a run is the largest over rows of the row's relative error, ``max_j |a_ij - t_ij| / sum_j |t_ij|``:
relative, because rows' output changes differ by orders of magnitude and an absolute error would only speak of the
rows that move most; the worst row, because every row is read (a reason code, a decision) and a mean would let a
few badly integrated rows through. The mean over rows is printed beside it.

Settings: Captum at ``n_steps`` 4 ... 512 (Gauss-Legendre, 13 counts), in passes of at most 512 path points
(``internal_batch_size``, at least the rows; ``--captum-batch 0`` puts all in one pass, its default, which was up to
1.7x slower at 256 steps); skig at fixed Gauss-Legendre steps, and skig's
``rule="auto", n_steps="auto"`` (exact on the ReLU MLP; on the FT-Transformer the trapezoid rule interval by
interval: each row from 5 points, bisecting the intervals where its integrand jumps, until its completeness error
and each raw column's error bound are within ``tol``) at several ``tol``, beside adaptive Gauss-Legendre steps (each
doubling takes all its points anew and watches completeness alone). Each skig
setting's speed ratio is Captum's time at the same max error, interpolated in log-log between Captum's measured
points (its lower envelope), over skig's time; errors below Captum's most accurate run are compared with that run
and marked ``>=`` (a lower bound), errors above its least accurate with that run and marked ``<=``. Then, at a
few error levels inside Captum's range, each tool's best time over all its settings (both lower envelopes), and
what per-row step counts could save (:func:`per_row_steps`).
``guard``: the share of skig's time spent in its completeness guard (re-integrating rows whose completeness error
is large, at four times their steps). Step counts are the mean over rows (adaptive Gauss-Legendre runs also pay
the smaller step counts they doubled from; the trapezoid rule's are the points each row took; exact runs show linear
segments). skig's and Captum's numbers at equal Gauss-Legendre steps
are compared on float64 copies (the same path and rule: they must agree to 1e-5).
Each time is the best of ``--repeats`` rounds, each round running every setting of both tools once in turn, so that
a slow spell of a shared machine falls on both tools' settings alike (timing one tool's settings, then the other's,
let minutes-long spells on a busy VM favour either).
Run: ``python benchmarks/bench_embeddings.py [--rows 64] [--repeats 3] [--batch-size auto] [--captum-batch 512]
[--threads 1] [--timer cpu] [--models ft mlp]`` (one torch thread and CPU time give steadier ratios on a busy machine).
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn

import skig
import skig._explainer

CARDINALITIES = (12, 6, 4)
NUMERIC = ["income", "debt", "age", "amount"]
CATEGORICAL = ["state", "purpose", "grade"]
CAPTUM_STEPS = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512)
SKIG_STEPS = CAPTUM_STEPS
TOLERANCES = (0.3, 0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.003, 0.001, 3e-4, 1e-4)
AGREEMENT_STEPS = (16, 64)
#: Max errors at which both tools' best times are compared.
LEVELS = (3e-2, 1e-2, 3e-3, 1e-3, 6.5e-4)
#: Fixed Gauss-Legendre counts and trapezoid intervals that :func:`per_row_steps` reads each row's own need from.
ORACLE_GAUSS_LEGENDRE = (*range(1, 17), 20, 24, 32, 48, 64, 96, 128, 256, 512, 1024)
ORACLE_TRAPEZOID = tuple(2**k for k in range(11))  # intervals: 1, 2, 4, ..., 1,024
DOUBLING = (8, 16, 32, 64, 128, 256, 512, 1024)


def loans(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(NUMERIC))), columns=NUMERIC)
    for name, cardinality in zip(CATEGORICAL, CARDINALITIES, strict=True):
        frame[name] = rng.randint(0, cardinality, n)
    return frame


class EmbeddingMLP(nn.Module):
    """One float matrix: numeric columns, then codes cast and looked up; a numeric identity layer for Captum."""

    def __init__(self):
        super().__init__()
        self.numeric = nn.Identity()
        self.tables = nn.ModuleList([nn.Embedding(c, 4) for c in CARDINALITIES])
        width = len(NUMERIC) + 4 * len(CARDINALITIES)
        self.net = nn.Sequential(nn.Linear(width, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x):
        codes = x[:, len(NUMERIC) :].long()
        vectors = [table(codes[:, i]) for i, table in enumerate(self.tables)]
        return self.net(torch.cat([self.numeric(x[:, : len(NUMERIC)]), *vectors], dim=1))


class WithNumericLayer(nn.Module):
    """The FT-Transformer behind an identity layer on its numeric input, the layer Captum's recipe attributes to."""

    def __init__(self, model):
        super().__init__()
        self.numeric = nn.Identity()
        self.model = model

    def forward(self, x_cont, x_cat):
        return self.model(self.numeric(x_cont), x_cat)


def ft_transformer() -> nn.Module:
    import rtdl_revisiting_models as rtdl

    kwargs = rtdl.FTTransformer.get_default_kwargs(n_blocks=1)
    return rtdl.FTTransformer(n_cont_features=len(NUMERIC), cat_cardinalities=list(CARDINALITIES), d_out=1, **kwargs)


def tables(model, kind) -> list[nn.Embedding]:
    return list(model.cat_embeddings.embeddings) if kind == "ft" else list(model.tables)


def call(model, kind, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """The model's output (n,) on numeric columns and categorical codes."""
    if kind == "ft":
        return model(numeric, codes)[:, 0]
    return model(torch.cat([numeric, codes.to(numeric.dtype)], dim=1))[:, 0]


class Line:
    """Each row's straight line in the joint space (numeric columns and looked-up vectors), from the baseline, and
    the model along it: embedding outputs replaced by forward hooks, hinge inputs (ReLU, ReGLU's gate) recorded."""

    def __init__(self, model64, kind, rows: pd.DataFrame, baseline_row: pd.Series):
        self.model, self.kind = model64, kind
        self.numeric = torch.tensor(rows[NUMERIC].to_numpy(dtype=float))
        self.codes = torch.tensor(rows[CATEGORICAL].to_numpy(dtype=np.int64))
        self.numeric0 = torch.tensor(baseline_row[NUMERIC].to_numpy(dtype=float))
        codes0 = torch.tensor(baseline_row[CATEGORICAL].to_numpy(dtype=np.int64))
        self.tables = tables(model64, kind)
        with torch.no_grad():  # each row's and the baseline's vectors, straight from the tables
            self.ends = [table.weight[self.codes[:, i]].clone() for i, table in enumerate(self.tables)]
            self.starts = [table.weight[codes0[i]].clone() for i, table in enumerate(self.tables)]
        self.hinges = []
        for module in model64.modules():
            if isinstance(module, nn.ReLU):
                self.hinges.append((module, lambda x: x))
            elif type(module).__name__ == "_ReGLU":  # a * relu(b): the gate b
                self.hinges.append((module, lambda x: x.chunk(2, dim=-1)[1]))

    def run(self, row: torch.Tensor, alpha: torch.Tensor, gradients: bool):
        """At points ``alpha`` of rows ``row``: the hinge inputs (P, units), or the gradients along the line
        (numeric (P, 4) and one (P, dim) per table)."""
        a = alpha.view(-1, 1)
        x = self.numeric0 + a * (self.numeric[row] - self.numeric0)
        vectors = [s + a * (e[row] - s) for s, e in zip(self.starts, self.ends, strict=True)]
        if gradients:
            x.requires_grad_(True)
            for v in vectors:
                v.requires_grad_(True)
        recorded = []
        handles = [t.register_forward_hook(lambda m, i, o, v=v: v) for t, v in zip(self.tables, vectors, strict=True)]
        if not gradients:
            handles += [
                m.register_forward_pre_hook(lambda m, i, gate=gate: recorded.append(gate(i[0]).reshape(len(a), -1)))
                for m, gate in self.hinges
            ]
        try:
            with torch.set_grad_enabled(gradients):
                output = call(self.model, self.kind, x, self.codes[row])
            if gradients:
                return torch.autograd.grad(output.sum(), [x, *vectors])
            return torch.cat(recorded, dim=1)
        finally:
            for handle in handles:
                handle.remove()


def _chunked(function, row, alpha, chunk=4096):
    parts = [function(row[lo : lo + chunk], alpha[lo : lo + chunk]) for lo in range(0, len(row), chunk)]
    return [torch.cat(p) for p in zip(*parts, strict=True)] if isinstance(parts[0], tuple) else torch.cat(parts)


def oracle(model64, kind, rows: pd.DataFrame, baseline_row: pd.Series, grid: int = 1024, nodes: int = 16):
    """IG in the joint space (float64), per raw column (each categorical column's summed over its vector).

    The gradient along a line jumps where a hinge's input crosses zero and is smooth in between: the crossings are
    found on a grid of ``grid`` intervals, bisected and polished by two secant steps, and each piece between them is
    integrated by Gauss-Legendre at ``nodes`` points (numpy's nodes), which converges fast on a smooth piece."""
    line, n = Line(model64, kind, rows, baseline_row), len(rows)
    ticks = torch.linspace(0, 1, grid + 1, dtype=torch.float64)
    found_row, found_lo, found_unit = [], [], []
    for r in range(n):
        above = line.run(torch.full((grid + 1,), r), ticks, False) > 0
        k, unit = torch.nonzero(above[1:] != above[:-1], as_tuple=True)
        found_row.append(torch.full_like(k, r))
        found_lo.append(k)
        found_unit.append(unit)
    row, k, unit = torch.cat(found_row), torch.cat(found_lo), torch.cat(found_unit)
    picked = torch.arange(len(row))

    def value(at):
        return _chunked(lambda r, a: line.run(r, a, False), row, at)[picked, unit]

    lo, hi = ticks[k], ticks[k + 1]
    v_lo = value(lo)
    for _ in range(12):  # bisection to 1/grid/4096
        mid = (lo + hi) / 2
        v_mid = value(mid)
        same = (v_mid > 0) == (v_lo > 0)
        lo, hi, v_lo = torch.where(same, mid, lo), torch.where(same, hi, mid), torch.where(same, v_mid, v_lo)
    v_hi = value(hi)
    for _ in range(2):  # secant steps inside the bracket
        at = (lo - v_lo * (hi - lo) / (v_hi - v_lo)).clamp(lo, hi)
        v_at = value(at)
        same = (v_at > 0) == (v_lo > 0)
        lo, v_lo = torch.where(same, at, lo), torch.where(same, v_at, v_lo)
        hi, v_hi = torch.where(same, hi, at), torch.where(same, v_hi, v_at)
    crossing = (lo - v_lo * (hi - lo) / (v_hi - v_lo)).clamp(lo, hi)  # a last secant step: the crossing
    x_gl, w_gl = (torch.as_tensor(v) for v in np.polynomial.legendre.leggauss(nodes))
    point_row, point_alpha, point_weight = [], [], []
    for r in range(n):
        edges = torch.unique(torch.cat([torch.tensor([0.0, 1.0], dtype=torch.float64), crossing[row == r]]))
        left, width = edges[:-1], edges[1:] - edges[:-1]
        point_alpha.append((left.view(-1, 1) + width.view(-1, 1) * (x_gl + 1) / 2).reshape(-1))
        point_weight.append((width.view(-1, 1) * w_gl / 2).reshape(-1))
        point_row.append(torch.full((len(left) * nodes,), r))
    point_row, point_alpha, point_weight = torch.cat(point_row), torch.cat(point_alpha), torch.cat(point_weight)
    grads = _chunked(lambda r, a: line.run(r, a, True), point_row, point_alpha)
    out = np.zeros((n, len(NUMERIC) + len(CATEGORICAL)))
    mean = [torch.zeros(n, g.shape[1], dtype=torch.float64).index_add_(0, point_row, g * point_weight.view(-1, 1))
            for g in grads]  # fmt: skip
    out[:, : len(NUMERIC)] = (mean[0] * (line.numeric - line.numeric0)).numpy()
    for i, (g, s, e) in enumerate(zip(mean[1:], line.starts, line.ends, strict=True)):
        out[:, len(NUMERIC) + i] = (g * (e - s)).sum(1).numpy()
    return out, len(crossing) / n


def errors(values: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Largest and mean over rows of ``max_j |a_ij - t_ij| / sum_j |t_ij|``."""
    per_row = np.abs(values - truth).max(1) / np.maximum(np.abs(truth).sum(1), 1e-300)
    return float(per_row.max()), float(per_row.mean())


def skig_runner(model, kind, reference, **params):
    inputs = {"x_cont": NUMERIC, "x_cat": CATEGORICAL} if kind == "ft" else None
    explainer = skig.Explainer(model, inputs=inputs, baseline="median", output="raw", **params).fit(reference)
    return explainer


def captum_runner(model, kind, baseline_row: pd.Series, internal_batch_size: int | None = None):
    """Captum's recipe: LayerIntegratedGradients over [numeric identity, each embedding table] at once, with
    ``internal_batch_size`` path points per forward/backward pass (None: all of them in one, Captum's default)."""
    from captum.attr import LayerIntegratedGradients

    dtype = next(model.parameters()).dtype
    if kind == "ft":
        wrapped = WithNumericLayer(model)
        layers = [wrapped.numeric, *model.cat_embeddings.embeddings]
        lig = LayerIntegratedGradients(wrapped, layers)

        def run(frame, n_steps):
            inputs = (
                torch.as_tensor(frame[NUMERIC].to_numpy(dtype=float), dtype=dtype),
                torch.as_tensor(frame[CATEGORICAL].to_numpy(dtype=np.int64)),
            )
            baselines = (
                torch.as_tensor(baseline_row[NUMERIC].to_numpy(dtype=float), dtype=dtype).expand_as(inputs[0]),
                torch.as_tensor(baseline_row[CATEGORICAL].to_numpy(dtype=np.int64)).expand_as(inputs[1]),
            )
            parts = lig.attribute(inputs, baselines=baselines, n_steps=n_steps, method="gausslegendre", **_batch(frame))
            return _columns(parts)

    else:
        layers = [model.numeric, *model.tables]
        lig = LayerIntegratedGradients(model, layers)

        def run(frame, n_steps):
            columns = NUMERIC + CATEGORICAL
            inputs = torch.as_tensor(frame[columns].to_numpy(dtype=float), dtype=dtype)
            baselines = torch.as_tensor(baseline_row[columns].to_numpy(dtype=float), dtype=dtype).expand_as(inputs)
            parts = lig.attribute(inputs, baselines=baselines, n_steps=n_steps, method="gausslegendre", **_batch(frame))
            return _columns(parts)

    def _batch(frame) -> dict:
        # Captum refuses passes of fewer points than rows.
        return {} if internal_batch_size is None else {"internal_batch_size": max(internal_batch_size, len(frame))}

    return run


def _columns(parts) -> np.ndarray:
    """Per raw column: the numeric layer's attributions, then each table's summed over its vector."""
    numeric, *tables = parts
    return np.column_stack([numeric.detach().double().numpy()] + [t.detach().double().sum(-1).numpy() for t in tables])


CLOCK = time.perf_counter
#: Time spent in skig's completeness guard (its re-integration of rows with a large delta) during the current run.
GUARD = [0.0]


def _timed_guard(check):
    def guarded(*args, **kwargs):
        start = CLOCK()
        try:
            return check(*args, **kwargs)
        finally:
            GUARD[0] += CLOCK() - start

    return guarded


def timed(function, repeats: int):
    """The result, the best time of ``repeats`` runs, and the guard's time in that run."""
    best, result, guard = float("inf"), None, 0.0
    for _ in range(repeats):
        GUARD[0] = 0.0
        start = CLOCK()
        result = function()
        seconds = CLOCK() - start
        if seconds < best:
            best, guard = seconds, GUARD[0]
    return result, best, guard


def best_of_rounds(runs: list, rounds: int) -> dict:
    """``{label: (result, best time, guard time in that run)}`` over ``rounds`` rounds, each running every setting
    of both tools once in turn: a slow spell of a shared machine then falls on all settings, not on one tool's."""
    best: dict = {}
    for _ in range(rounds):
        for label, function in runs:
            result, seconds, guard = timed(function, 1)
            if label not in best or seconds < best[label][1]:
                best[label] = (result, seconds, guard)
    return best


def time_at_error(curve: list[tuple[float, float]], error: float) -> tuple[float, str]:
    """Captum's time to reach ``error``: log-log interpolation on the lower envelope of its (error, time) points;
    below its most accurate point, that point's time and ``">="`` (the ratio is a lower bound)."""
    envelope, best = [], float("inf")
    for err, seconds in sorted(curve, key=lambda p: p[1]):  # by time: keep the points that lower the error
        if err < best:
            envelope.append((err, seconds))
            best = err
    if error <= envelope[-1][0]:
        return envelope[-1][1], ">="
    if error >= envelope[0][0]:
        return envelope[0][1], "<="
    for (e0, t0), (e1, t1) in zip(envelope, envelope[1:], strict=False):
        if e1 <= error <= e0:
            share = np.log(error / e0) / np.log(e1 / e0)
            return float(np.exp(np.log(t0) + share * np.log(t1 / t0))), ""
    raise AssertionError("unreachable")


def own_counts(errors: dict[int, np.ndarray], target: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's own smallest count reaching ``target``: the first that does (luck included: a kinked line's error
    is erratic in the count), and the first from which every larger count does (nan where none)."""
    counts = sorted(errors)
    reach = np.stack([errors[n] <= target for n in counts], 1)
    first = np.where(reach.any(1), np.asarray(counts)[reach.argmax(1)], np.nan)
    misses = ~reach
    last_miss = np.where(misses.any(1), len(counts) - 1 - misses[:, ::-1].argmax(1), -1)
    stable = np.array([counts[i + 1] if i + 1 < len(counts) else np.nan for i in last_miss], dtype=float)
    return first, stable


def _mean(counts: np.ndarray) -> str:
    return "n/a" if np.isnan(counts).any() else f"{counts.mean():.1f}"


def per_row_steps(model, kind, reference_rows, rows, truth, batch_size) -> None:
    """What per-row steps could save, against the oracle (so knowing each row's error, which no rule does):

    - Gauss-Legendre at fixed counts 1 ... 1,024 (Captum's rule): the smallest count reaching a worst-row error for
      all rows (Captum's best is the luckiest count of its 13), and the mean over rows of each row's own smallest
      count, both the first count that reaches the target and the one from which every larger count does;
    - the trapezoid rule at 1, 2, 4, ... 1,024 equal intervals: the mean over rows of each row's own intervals from
      which every doubling reaches the target, in gradients per row besides the baseline's (shared by all rows);
    - doubling each row's Gauss-Legendre steps from 8 until two successive counts agree to the target: what an
      estimate from the attributions alone spends, counting every count it tried, and the worst error it leaves.

    The own counts bound what any per-row choice of steps could spend at that error, with no checks and no luck: a
    rule that does not know the error pays for finding it out besides."""
    scale = np.abs(truth).sum(1)

    def errors_at(counts, rule, points):
        values, errors = {}, {}
        for n in counts:
            explainer = skig_runner(model, kind, reference_rows, rule=rule, n_steps=points(n), batch_size=batch_size)
            values[n] = explainer.explain(rows).values.to_numpy()
            errors[n] = np.abs(values[n] - truth).max(1) / scale
        return values, errors

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 1 or 2 steps: completeness errors the guard names, measured here
        values, errors = errors_at(ORACLE_GAUSS_LEGENDRE, "gausslegendre", lambda n: n)
        _, trapezoid = errors_at(ORACLE_TRAPEZOID, "riemann_trapezoid", lambda n: n + 1)
    print(
        "  per-row steps against the oracle (Gauss-Legendre at 1 ... 1,024 steps, the trapezoid rule at 1 ... 1,024 "
        "intervals): own = each row's own smallest count, mean over rows"
    )
    for target in (3e-2, 1e-2, 3e-3, 1e-3):
        one = next((n for n in ORACLE_GAUSS_LEGENDRE if errors[n].max() <= target), None)
        first, stable = own_counts(errors, target)
        _, intervals = own_counts(trapezoid, target)
        spent, left = [], 0.0
        for r in range(len(rows)):
            n, total = DOUBLING[0], DOUBLING[0]
            while n < DOUBLING[-1]:
                total += 2 * n
                change = np.abs(values[2 * n][r] - values[n][r]).max() / np.abs(values[2 * n][r]).sum()
                n *= 2
                if change <= target:
                    break
            spent.append(total)
            left = max(left, float(errors[n][r]))
        print(
            f"  worst-row error {target:.0e}: Gauss-Legendre, one count for all rows {one or '> 1024'}, own "
            f"{_mean(first)} (first reaching) / {_mean(stable)} (every larger reaching); trapezoid, own "
            f"{_mean(intervals)} gradients per row; doubling Gauss-Legendre from 8 until two counts agree: "
            f"{np.mean(spent):.1f} points per row, worst error {left:.1e}"
        )


def main() -> None:
    warnings.filterwarnings("ignore", message="Multiple layers provided")  # Captum: our layers are independent
    warnings.filterwarnings("ignore", message=r"\d+ row\(s\) still miss tol")  # tight tol at max_steps: measured
    warnings.filterwarnings("ignore", message=r"at n_steps=\d+ the completeness error")  # few steps: measured too
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over every setting; each time is the best")
    parser.add_argument("--batch-size", default="auto", help="skig's batch_size ('auto' or path points per pass)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--timer", choices=["wall", "cpu"], default="wall", help="wall time or process CPU time")
    parser.add_argument("--models", nargs="+", choices=["ft", "mlp"], default=["ft", "mlp"])
    parser.add_argument(
        "--captum-batch",
        type=int,
        default=512,
        help="Captum's internal_batch_size: path points per pass (at least the rows; 0: all in one pass, its default)",
    )
    args = parser.parse_args()
    skig._explainer.check_completeness = _timed_guard(skig._explainer.check_completeness)
    global CLOCK
    CLOCK = time.process_time if args.timer == "cpu" else time.perf_counter
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    reference_rows = loans(2000)
    rows = loans(args.rows, seed=1)
    print(
        f"torch threads: {torch.get_num_threads()}; {args.rows} rows; best of {args.repeats} rounds; "
        f"skig batch_size={batch_size}; captum internal_batch_size={args.captum_batch or None}; timer {args.timer}"
    )
    print("error: max over rows of max_j |a_ij - t_ij| / sum_j |t_ij| (mean over rows beside it)")
    for kind in args.models:
        torch.manual_seed(0)
        model = (ft_transformer() if kind == "ft" else EmbeddingMLP()).eval()
        model64 = copy.deepcopy(model).double()
        baseline_row = skig_runner(model, kind, reference_rows, rule="gausslegendre").baseline_.iloc[0]
        truth, crossings = oracle(model64, kind, rows, baseline_row)
        coarse, _ = oracle(model64, kind, rows, baseline_row, grid=512, nodes=8)
        print(
            f"\n{kind}: oracle = Gauss-Legendre between the {crossings:.0f} hinge crossings per row (float64); "
            f"its error (vs half the grid and nodes) {errors(coarse, truth)[0]:.1e}"
        )
        passes = args.captum_batch or None
        captum32 = captum_runner(model, kind, baseline_row, passes)
        captum64 = captum_runner(model64, kind, baseline_row, passes)
        for n_steps in AGREEMENT_STEPS:  # the same path and rule: they must agree (float64 copies)
            explainer64 = skig_runner(model64, kind, reference_rows, rule="gausslegendre", n_steps=n_steps)
            agreement = np.abs(explainer64.explain(rows).values.to_numpy() - captum64(rows, n_steps)).max()
            print(f"  |skig - captum| at {n_steps} Gauss-Legendre steps on float64: {agreement:.2e}")
        settings = [(f"skig n_steps={s}", {"rule": "gausslegendre", "n_steps": s}) for s in SKIG_STEPS]
        if kind == "ft":  # rule="auto" with n_steps="auto": the adaptive trapezoid rule on this hinged, non-PL net
            settings += [(f"skig auto tol={t:g}", {"n_steps": "auto", "tol": t}) for t in TOLERANCES]
        else:  # rule="auto" is exact on the ReLU MLP
            settings += [("skig auto (exact)", {})]
        settings += [  # adaptive Gauss-Legendre steps beside it
            (f"skig gl auto tol={t:g}", {"rule": "gausslegendre", "n_steps": "auto", "tol": t}) for t in TOLERANCES
        ]
        runs = [(f"captum n_steps={s}", lambda s=s, run=captum32: run(rows, s)) for s in CAPTUM_STEPS]
        for label, params in settings:
            explainer = skig_runner(model, kind, reference_rows, batch_size=batch_size, **params)
            explainer.explain(rows.iloc[:2])  # warm: compiled loops of the exact engine
            runs.append((label, lambda e=explainer: e.explain(rows)))
        best = best_of_rounds(runs, args.repeats)
        print(f"{'setting':>26} {'steps/row':>9} {'max err':>9} {'mean err':>9} {'ms/row':>8} "
              f"{'captum ms/row':>13} {'speed-up':>9} {'guard':>7}")  # fmt: skip
        curve = []
        for n_steps in CAPTUM_STEPS:
            values, seconds, _ = best[f"captum n_steps={n_steps}"]
            worst, mean = errors(values, truth)
            curve.append((worst, seconds))
            print(f"{'captum n_steps=' + str(n_steps):>26} {n_steps:>9} {worst:>9.2e} {mean:>9.2e} "
                  f"{1e3 * seconds / len(rows):>8.3f}")  # fmt: skip
        ours = []
        for label, _ in settings:
            exp, seconds, guard = best[label]
            worst, mean = errors(exp.values.to_numpy(), truth)
            theirs, bound = time_at_error(curve, worst)
            ours.append((worst, seconds))
            print(
                f"{label:>26} {exp.n_steps.mean():>9.1f} {worst:>9.2e} {mean:>9.2e} {1e3 * seconds / len(rows):>8.3f} "
                f"{1e3 * theirs / len(rows):>13.3f} {bound:>2}{theirs / seconds:>6.2f}x {100 * guard / seconds:>6.0f}%"
            )
        per_row_steps(model, kind, reference_rows, rows, truth, batch_size)
        print("  at equal max error, each tool at its best setting (lower envelopes, log-log interpolation):")
        for level in LEVELS:
            if level < min(e for e, _ in curve) or level > max(e for e, _ in curve) or level < min(e for e, _ in ours):
                continue
            theirs, _ = time_at_error(curve, level)
            mine, mark = time_at_error(ours, level)
            print(
                f"  error {level:.2g}: skig {1e3 * mine / len(rows):.3f} ms/row, captum {1e3 * theirs / len(rows):.3f}"
                f" ms/row: {'<=' if mark == '<=' else ''}{theirs / mine:.2f}x"
            )


if __name__ == "__main__":
    main()
