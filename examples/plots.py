"""Every skig plot on the credit-risk example, and the many-category ones on a lending set, as PNGs in docs/images/.

Run: ``python examples/plots.py [--output-dir docs/images]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from credit_risk import make_model, train_and_explain
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import skig

SUB_GRADES = [f"{grade}{step}" for grade in "ABCDEFG" for step in range(1, 6)]
STATES = (
    "CA TX NY FL IL PA OH GA NC MI NJ VA WA AZ MA TN IN MO MD WI CO MN SC AL LA KY OR OK CT UT "
    "IA NV AR MS KS NM NE ID WV HI NH ME MT RI DE SD ND AK VT WY"
).split()


def lending_data(n_loans: int = 4000, random_state: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Loans like a lending club's: an ordered 35-level ``sub_grade``, 50 states, a rate, an income; and defaults.

    Defaults are drawn from a known logit: worse grades and higher rates raise it, income lowers it, a few states
    shift it. Loan ids 50,000 and up, shuffled, index the rows: labels are never positions.
    """
    rng = np.random.default_rng(random_state)
    weights = np.exp(-0.5 * ((np.arange(35) - 12) / 8) ** 2)
    codes = rng.choice(35, n_loans, p=weights / weights.sum())
    zipf = 1 / np.arange(1, len(STATES) + 1)
    X = pd.DataFrame(
        {
            "sub_grade": pd.Categorical.from_codes(codes, categories=SUB_GRADES, ordered=True),
            "addr_state": rng.choice(STATES, n_loans, p=zipf / zipf.sum()),
            "int_rate": (5.5 + 0.7 * codes + rng.normal(0, 1.5, n_loans)).round(2),
            "annual_inc": rng.lognormal(11, 0.5, n_loans).round(-2),
            "home_ownership": rng.choice(["RENT", "OWN", "MORTGAGE"], n_loans, p=[0.45, 0.15, 0.4]),
        },
        index=pd.Index(rng.permutation(np.arange(50_000, 50_000 + n_loans)), name="loan_id"),
    )
    X.loc[rng.random(n_loans) < 0.03, "annual_inc"] = np.nan
    state_shift = X["addr_state"].map({"NV": 0.6, "FL": 0.3, "NY": 0.2, "CO": -0.3, "WA": -0.4}).fillna(0.0)
    income = np.log(X["annual_inc"].fillna(X["annual_inc"].median()))
    logit = -2.2 + 0.07 * codes + 0.06 * (X["int_rate"] - 12) - 0.8 * (income - 11) + state_shift
    logit += (X["home_ownership"] == "RENT") * 0.25
    return X, (rng.random(n_loans) < 1 / (1 + np.exp(-logit))).astype(np.float32).to_numpy()


def lending_explanation(random_state: int = 0, n_explained: int = 600) -> skig.Explanation:
    """Train a small net on the lending loans behind one-hot encoding and explain ``n_explained`` held-out loans."""
    X, y = lending_data(random_state=random_state)
    preprocess = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["int_rate", "annual_inc"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["sub_grade", "addr_state", "home_ownership"]),
        ],
        sparse_threshold=0,
    )
    n_features = preprocess.fit_transform(X).shape[1]
    pipeline = Pipeline(
        [
            ("preprocess", preprocess),
            ("float32", FunctionTransformer(np.float32, feature_names_out="one-to-one")),
            ("net", make_model(n_features, random_state)),
        ]
    )
    train, test = X.iloc[:-n_explained], X.iloc[-n_explained:]
    pipeline.fit(train, y[:-n_explained])
    explainer = skig.Explainer(pipeline, output="probability", baseline="median", n_steps=32)
    return explainer.fit(train).explain(test)


def main(output_dir: Path, random_state: int = 0) -> list[Path]:
    _, exp, _ = train_and_explain(random_state, verbose=False)
    riskiest = exp.predictions.idxmax()  # an applicant (index label), not a position
    sample = exp.iloc[: min(len(exp), 300)]
    loans = lending_explanation(random_state)
    drawings = {
        "bar": lambda ax: skig.plots.bar(exp, ax=ax),
        "bar_cohorts": lambda ax: skig.plots.bar(exp.cohorts("Home"), ax=ax),
        "beeswarm": lambda ax: skig.plots.beeswarm(exp, ax=ax),
        "waterfall": lambda ax: skig.plots.waterfall(exp, row=riskiest, ax=ax),
        "scatter": lambda ax: skig.plots.scatter(exp, "Income", color="Records", ax=ax),
        "heatmap": lambda ax: skig.plots.heatmap(sample, order="cluster", ax=ax),
        "decision": lambda ax: skig.plots.decision(exp.iloc[:40], ax=ax),
        "force": lambda ax: skig.plots.force(exp.loc[riskiest], ax=ax),
        # Many categories: a 35-level ordered sub_grade and 50 states.
        "beeswarm_lending": lambda ax: skig.plots.beeswarm(loans, ax=ax),
        "scatter_states": lambda ax: skig.plots.scatter(loans, "addr_state", color="int_rate", ax=ax),
        "scatter_sub_grade": lambda ax: skig.plots.scatter(loans, "sub_grade", color="addr_state", ax=ax),
        "bar_cohorts_states": lambda ax: skig.plots.bar(loans.cohorts("addr_state"), ax=ax),
    }
    sizes = {"force": (12, 3.5), "scatter_states": (12, 5), "scatter_sub_grade": (10, 5), "bar_cohorts_states": (10, 8)}
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in drawings.items():
        figure, ax = plt.subplots(figsize=sizes.get(name, (9, 6)), layout="constrained")
        draw(ax)
        path = output_dir / f"{name}.png"
        figure.savefig(path, dpi=90 if name != "decision" else 75)  # many anti-aliased lines compress poorly
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
