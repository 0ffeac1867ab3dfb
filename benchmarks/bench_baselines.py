"""Which baseline to pick: skig's global ranking under each baseline against SHAP's, on the credit example.

Trains the example's ReLU pipeline, explains 300 test applicants in probability space with skig under several
baselines, and with SHAP's model-agnostic PermutationExplainer on the raw columns (categories as codes, decoded
before the pipeline; 100 training rows as its background). Prints the Spearman rank correlation of mean
|attribution| per feature with SHAP's, and of the top-5 sets. Run: ``python benchmarks/bench_baselines.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from credit_risk import CATEGORICAL, fit_pipeline, load_credit_data

import skig

N_EXPLAINED, N_BACKGROUND = 300, 100


def shap_importance(pipeline, X_train: pd.DataFrame, X_test: pd.DataFrame) -> pd.Series:
    import shap

    categories = {column: X_train[column].cat.categories for column in CATEGORICAL}

    def as_codes(frame: pd.DataFrame) -> np.ndarray:
        coded = frame.copy()
        for column in CATEGORICAL:
            coded[column] = coded[column].cat.codes.astype(float).replace(-1, np.nan)
        return coded.to_numpy(dtype=np.float64)

    def predict(codes: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(codes, columns=X_train.columns)
        for column in CATEGORICAL:
            values = frame[column].to_numpy()
            decoded = pd.Categorical.from_codes(np.where(np.isnan(values), -1, values).astype(int), categories[column])
            frame[column] = decoded
        return pipeline.predict_proba(frame)[:, 1]

    background = as_codes(X_train.sample(N_BACKGROUND, random_state=0))
    explainer = shap.PermutationExplainer(predict, shap.maskers.Independent(background, max_samples=N_BACKGROUND))
    values = explainer(as_codes(X_test), max_evals=2 * X_test.shape[1] + 1 + 24, silent=True).values
    return pd.Series(np.abs(values).mean(0), index=X_test.columns)


def main() -> None:
    torch.set_num_threads(2)
    X, y = load_credit_data()
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    pipeline = fit_pipeline(X_train, y_train, 0)
    X_test = X_test.iloc[:N_EXPLAINED]
    start = time.perf_counter()
    reference = shap_importance(pipeline, X_train, X_test)
    print(f"SHAP PermutationExplainer: {time.perf_counter() - start:.1f} s")
    settings = {
        "median (modal categories)": {"baseline": "median"},
        "mean (modal categories)": {"baseline": "mean"},
        "zero (encoded zeros)": {"baseline": "zero"},
        "IG over 64 sampled rows": {"baseline": "sample", "n_baselines": 64},
        "Expected IG, 64 rows": {"method": "expected", "baseline": "sample", "n_baselines": 64, "n_samples": 64},
    }
    top = set(reference.nlargest(5).index)
    print(f"\n{'skig baseline':<28} {'Spearman vs SHAP':>17} {'top-5 overlap':>14} {'seconds':>8}")
    for name, params in settings.items():
        explainer = skig.Explainer(pipeline, output="probability", random_state=0, **params).fit(X_train)
        start = time.perf_counter()
        importance = explainer.explain(X_test).importance()
        seconds = time.perf_counter() - start
        rho = importance.rank().corr(reference.rank().loc[importance.index])
        overlap = len(top & set(importance.nlargest(5).index))
        print(f"{name:<28} {rho:>17.3f} {overlap:>11d}/5 {seconds:>8.2f}")
    print("\nSHAP's ranking:", ", ".join(reference.sort_values(ascending=False).index))


if __name__ == "__main__":
    main()
