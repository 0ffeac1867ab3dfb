"""Embedding nets: skig against Captum's recipe (LayerIntegratedGradients over the embedding layers and an identity
layer on the numeric input, so that all move along one path) at equal steps: error and time.

Two models on synthetic loans (4 numeric columns, 3 categorical ones with 12, 6 and 4 categories), float32, on CPU:
an FT-Transformer (rtdl_revisiting_models, one block; ``forward(x_cont, x_cat)``, explained with ``inputs=``) and an
embedding MLP (tables looked up from codes cast inside ``forward``, then 64 -> 64 ReLU). The baseline is the same for
both tools: the numeric columns' mean and each categorical column's modal category. The reference is skig at 1024
Gauss-Legendre steps on a float64 copy (exact integration for the ReLU MLP). Prints, per step count, each tool's max
absolute error against the reference, the time per explained row, skig's speed-up, and the largest difference
between skig and Captum at equal steps on the float64 copy (the same path and rule: they must agree to 1e-5).
Run: ``python benchmarks/bench_embeddings.py [--rows 64] [--repeats 3] [--batch-size auto] [--threads 1]
[--timer cpu]`` (one torch thread and CPU time give steadier ratios on a busy machine).
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

CARDINALITIES = (12, 6, 4)
NUMERIC = ["income", "debt", "age", "amount"]
CATEGORICAL = ["state", "purpose", "grade"]
STEPS = (16, 64, 256)


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


def skig_runner(model, kind, reference, **params):
    inputs = {"x_cont": NUMERIC, "x_cat": CATEGORICAL} if kind == "ft" else None
    explainer = skig.Explainer(model, inputs=inputs, baseline="median", output="raw", **params).fit(reference)
    return explainer


def captum_runner(model, kind, baseline_row: pd.Series):
    """Captum's recipe: LayerIntegratedGradients over [numeric identity, each embedding table] at once."""
    from captum.attr import LayerIntegratedGradients

    dtype = next(model.parameters()).dtype
    if kind == "ft":
        wrapped = WithNumericLayer(model)
        layers = [wrapped.numeric, *model.cat_embeddings.embeddings]
        lig = LayerIntegratedGradients(wrapped, layers)

        def run(frame, n_steps):
            inputs = (
                torch.as_tensor(frame[NUMERIC].to_numpy(), dtype=dtype),
                torch.as_tensor(frame[CATEGORICAL].to_numpy(), dtype=torch.long),
            )
            baselines = (
                torch.as_tensor(baseline_row[NUMERIC].to_numpy(dtype=float), dtype=dtype).expand_as(inputs[0]),
                torch.as_tensor(baseline_row[CATEGORICAL].to_numpy(dtype=np.int64)).expand_as(inputs[1]),
            )
            parts = lig.attribute(inputs, baselines=baselines, n_steps=n_steps, method="gausslegendre")
            return _columns(parts)

    else:
        layers = [model.numeric, *model.tables]
        lig = LayerIntegratedGradients(model, layers)

        def run(frame, n_steps):
            columns = NUMERIC + CATEGORICAL
            inputs = torch.as_tensor(frame[columns].to_numpy(dtype=float), dtype=dtype)
            baselines = torch.as_tensor(baseline_row[columns].to_numpy(dtype=float), dtype=dtype).expand_as(inputs)
            parts = lig.attribute(inputs, baselines=baselines, n_steps=n_steps, method="gausslegendre")
            return _columns(parts)

    return run


def _columns(parts) -> np.ndarray:
    """Per raw column: the numeric layer's attributions, then each table's summed over its vector."""
    numeric, *tables = parts
    return np.column_stack([numeric.detach().double().numpy()] + [t.detach().double().sum(-1).numpy() for t in tables])


CLOCK = time.perf_counter


def timed(function, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = CLOCK()
        result = function()
        best = min(best, CLOCK() - start)
    return result, best


def main() -> None:
    warnings.filterwarnings("ignore", message="Multiple layers provided")  # Captum: our layers are independent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", default="auto", help="skig's batch_size ('auto' or path points per pass)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--timer", choices=["wall", "cpu"], default="wall", help="wall time or process CPU time")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.timer == "cpu" else time.perf_counter
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    batch_size = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    reference_rows = loans(2000)
    rows = loans(args.rows, seed=1)
    print(
        f"torch threads: {torch.get_num_threads()}; {args.rows} rows; best of {args.repeats}; "
        f"skig batch_size={batch_size}; timer {args.timer}"
    )
    for kind in ("ft", "mlp"):
        torch.manual_seed(0)
        model = (ft_transformer() if kind == "ft" else EmbeddingMLP()).eval()
        model64 = copy.deepcopy(model).double()
        dense = {"rule": "exact"} if kind == "mlp" else {"rule": "gausslegendre", "n_steps": 1024}
        reference_explainer = skig_runner(model64, kind, reference_rows, **dense)
        truth = reference_explainer.explain(rows).values.to_numpy()
        baseline_row = reference_explainer.baseline_.iloc[0]
        captum32, captum64 = captum_runner(model, kind, baseline_row), captum_runner(model64, kind, baseline_row)
        print(f"\n{kind}: reference = skig {dense} on float64")
        print(f"{'steps':>6} {'skig err':>10} {'captum err':>11} {'skig ms/row':>12} {'captum ms/row':>14} "
              f"{'speed-up':>9} {'|skig-captum| f64':>18}")  # fmt: skip
        for n_steps in STEPS:
            explainer = skig_runner(
                model, kind, reference_rows, rule="gausslegendre", n_steps=n_steps, batch_size=batch_size
            )
            ours, ours_time = timed(lambda e=explainer: e.explain(rows).values.to_numpy(), args.repeats)
            theirs, theirs_time = timed(lambda s=n_steps, run=captum32: run(rows, s), args.repeats)
            agreement = float("nan")
            if n_steps <= 64:  # the same path and rule: one step count or two show it (float64 runs are slow)
                explainer64 = skig_runner(model64, kind, reference_rows, rule="gausslegendre", n_steps=n_steps)
                agreement = np.abs(explainer64.explain(rows).values.to_numpy() - captum64(rows, n_steps)).max()
            print(
                f"{n_steps:>6} {np.abs(ours - truth).max():>10.2e} {np.abs(theirs - truth).max():>11.2e} "
                f"{1e3 * ours_time / len(rows):>12.3f} {1e3 * theirs_time / len(rows):>14.3f} "
                f"{theirs_time / ours_time:>8.2f}x {agreement:>18.2e}"
            )
        if kind == "mlp":
            explainer = skig_runner(model, kind, reference_rows, rule="exact", batch_size=batch_size)
            exact, exact_time = timed(lambda e=explainer: e.explain(rows).values.to_numpy(), args.repeats)
            print(f" exact {np.abs(exact - truth).max():>10.2e} {'':>11} {1e3 * exact_time / len(rows):>12.3f}")


if __name__ == "__main__":
    main()
