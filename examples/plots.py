"""Every skig plot on the credit-risk example, written as PNGs under docs/images/.

Run: ``python examples/plots.py [--output-dir docs/images]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from credit_risk import train_and_explain

import skig


def main(output_dir: Path, random_state: int = 0) -> list[Path]:
    _, exp, _ = train_and_explain(random_state, verbose=False)
    riskiest = exp.predictions.idxmax()  # an applicant (index label), not a position
    sample = exp.iloc[: min(len(exp), 300)]
    drawings = {
        "bar": lambda ax: skig.plots.bar(exp, ax=ax),
        "bar_cohorts": lambda ax: skig.plots.bar(exp.cohorts("Home"), ax=ax),
        "beeswarm": lambda ax: skig.plots.beeswarm(exp, ax=ax),
        "waterfall": lambda ax: skig.plots.waterfall(exp.loc[riskiest], ax=ax),
        "scatter": lambda ax: skig.plots.scatter(exp, "Income", color="Records", ax=ax),
        "heatmap": lambda ax: skig.plots.heatmap(sample, order="cluster", ax=ax),
        "decision": lambda ax: skig.plots.decision(exp.iloc[:60], ax=ax),
        "force": lambda ax: skig.plots.force(exp.loc[riskiest], ax=ax),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in drawings.items():
        figure, ax = plt.subplots(figsize=(12, 3.5) if name == "force" else (9, 6))
        draw(ax)
        path = output_dir / f"{name}.png"
        figure.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "images")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()
    main(args.output_dir, args.random_state)
