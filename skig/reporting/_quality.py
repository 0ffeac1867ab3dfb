"""Faithfulness and sanity tests of an explainer, as numbers with verdicts: deletion against random deletion, model
randomisation, sensitivity, agreement with SHAP, completeness.
"""

from __future__ import annotations

import copy
import dataclasses
from numbers import Integral

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._targets import resolve_targets
from ..engine import (
    chunk_points,
    evaluate,
    keyed_uniforms,
    module_placement,
    private_copy,
    resolve_device,
    row_keys,
)
from ._settings import completeness_applies

#: Random orders per row that the deletion curve of random columns averages.
N_RANDOM_ORDERS = 8
#: Perturbations per row of the sensitivity test, and their radius (uniform, in each column's standard deviations).
N_PERTURBATIONS, PERTURB_RADIUS = 10, 0.02
#: Verdict thresholds: a randomised model's attributions must rank-correlate below this with the real ones ...
MAX_RANDOMISED_CORRELATION = 0.5
#: ... and a second method's ranking must rank-correlate at least this much.
MIN_AGREEMENT = 0.5
#: Sensitivity passes when a perturbation of 2% of a standard deviation moves attributions by less than this share.
MAX_SENSITIVITY = 0.2
_SEEDS = {"rows": 0, "deletion": 1, "sensitivity": 2, "randomisation": 3}
_COLUMNS = ["value", "compared with", "verdict", "what it says"]


def _adapter(explainer):
    """The adapter ``explain`` runs now: the one of the model as last seen (it re-adapts a changed model)."""
    current = getattr(explainer, "_current", None)
    return explainer.adapter_ if current is None else current[1]


def _with_module(explainer, module: torch.nn.Module):
    """A shallow copy of ``explainer`` that explains ``module`` in place of the model's own (same preprocessing,
    baselines and settings)."""
    adapter = _adapter(explainer)
    other = copy.copy(explainer)
    other.adapter_ = dataclasses.replace(adapter, model=dataclasses.replace(adapter.model, module=module))
    if getattr(explainer, "_current", None) is not None:
        other._current = (explainer._current[0], other.adapter_)
    other.progress = False
    return other


class _Output:
    """The explained output on encoded rows, computed as :meth:`Explainer.explain` does (a private copy)."""

    def __init__(self, explainer, exp, module=None) -> None:
        adapter = _adapter(explainer)
        self.module = private_copy(adapter.module if module is None else module, resolve_device(explainer.device))
        self.scalar_fn = adapter.scalar_fn(explainer.output_, self.module)
        self.dtype, self.device = module_placement(self.module)
        probe = torch.zeros((1, len(explainer.encoded_feature_names_)), dtype=self.dtype, device=self.device)
        self.max_points = chunk_points(self.module, probe, explainer.batch_size)
        self.targets, _ = resolve_targets(
            exp.target.to_numpy(),
            len(exp),
            lambda: None,
            classes=getattr(explainer, "classes_", None),
            head_kind=adapter.head.kind,
            n_outputs=explainer.n_outputs_,
        )

    def __call__(self, points: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """f at ``points`` (m, d_encoded), each for the target of explained row ``rows[i]``."""
        inputs = torch.as_tensor(points, dtype=self.dtype, device=self.device)
        targets = self.targets[torch.as_tensor(rows)].to(self.device)
        if len(inputs) <= self.max_points // 8:  # small calls (SHAP's) skip the padded passes of large ones
            with torch.no_grad():
                return self.scalar_fn(inputs, targets).double().cpu().numpy()
        return evaluate(self.scalar_fn, inputs, targets, self.max_points).double().cpu().numpy()


def _sample(X: pd.DataFrame, max_rows: int, random_state) -> pd.DataFrame:
    if len(X) <= max_rows:
        return X
    return X.sample(max_rows, random_state=np.random.RandomState(random_state))


def _row(value, compared, passed, says) -> dict:
    verdict = "n/a" if passed is None else ("pass" if passed else "fail")
    return {"value": value, "compared with": compared, "verdict": verdict, "what it says": says}


# ------------------------------------------------------------------------------------------------------ deletion
def deletion_curves(explainer, exp, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """How far f moves when each row's k most attributed columns (by |attribution|) take the baseline's values,
    against k columns taken at random, for k = 0 .. n_features.

    Returns the mean curves (shares of the mean |f(x) - f(baseline)|) and each row's area between them.
    """
    model = _Output(explainer, exp)
    groups = np.asarray(explainer.encoded_feature_groups_)
    encoded = np.asarray(_adapter(explainer).encode(exp.data), dtype=np.float64)
    baselines = explainer.encoded_baseline_.to_numpy(dtype=np.float64)
    weights = np.asarray(explainer.baseline_weights_, dtype=np.float64)
    values = exp.values.to_numpy(dtype=np.float64)
    n, d = values.shape
    orders = {"top": np.argsort(-np.abs(values), axis=1, kind="stable")}
    draws = keyed_uniforms(row_keys(exp.values.index), seed, N_RANDOM_ORDERS * d).reshape(n, N_RANDOM_ORDERS, d)
    random_orders = np.argsort(draws, axis=2)
    prediction = exp.predictions.to_numpy(dtype=np.float64)

    def moved(order: np.ndarray) -> np.ndarray:
        """|f(x) - f(x with the first k columns of ``order`` at the baseline)| per row and k = 1 .. d."""
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(d)[None, :].repeat(n, 0), axis=1)
        # encoded column c is replaced at step k when its raw column's rank is below k
        replaced = rank[:, groups][:, None, :] < np.arange(1, d + 1)[None, :, None]  # (n, d, d_enc)
        points = np.where(replaced[:, :, None, :], baselines[None, None], encoded[:, None, None, :])
        outputs = model(points.reshape(-1, encoded.shape[1]), np.repeat(np.arange(n), d * len(baselines)))
        outputs = outputs.reshape(n, d, len(baselines)) @ weights
        return np.abs(prediction[:, None] - outputs)

    top = moved(orders["top"])
    random = np.mean([moved(random_orders[:, r]) for r in range(N_RANDOM_ORDERS)], axis=0)
    scale = float(np.abs(prediction - exp.base_values.to_numpy(dtype=np.float64)).mean()) or 1.0
    curves = pd.DataFrame(
        {"top-k columns": np.r_[0.0, top.mean(0)] / scale, "k random columns": np.r_[0.0, random.mean(0)] / scale},
        index=pd.RangeIndex(d + 1, name="k"),
    )
    areas = (top - random)[:, : max(d - 1, 1)].mean(axis=1) / scale  # at k = d both replace every column
    return curves, areas


def _mean_interval(samples: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(samples))
    if len(samples) < 2 or np.allclose(samples, samples[0]):
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(samples) - 1) * np.std(samples, ddof=1) / np.sqrt(len(samples)))
    return mean, mean - half, mean + half


# ------------------------------------------------------------------------------------------------ randomisation
def _layers(module: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The modules holding parameters of their own, in registration order (the input side first)."""
    return [
        (name, part) for name, part in module.named_modules() if next(part.parameters(recurse=False), None) is not None
    ]


def _reinitialise(part: torch.nn.Module) -> None:
    if hasattr(part, "reset_parameters"):
        part.reset_parameters()
        return
    with torch.no_grad():
        for parameter in part.parameters(recurse=False):
            parameter.normal_(0.0, float(parameter.std()) if parameter.numel() > 1 else 0.1)


def randomised_explanations(explainer, X: pd.DataFrame, seed: int):
    """Explanations of ``X`` by copies of the model whose top 1, 2, ... layers are re-initialised (cascading, as
    Adebayo et al., 2018), each as (layers re-initialised, Explanation). Empty for a model without weights."""
    randomised = private_copy(_adapter(explainer).module)
    layers = _layers(randomised)[::-1]
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for depth, (name, part) in enumerate(layers, start=1):
            _reinitialise(part)
            label = name or type(part).__name__
            other = _with_module(explainer, randomised)
            out.append((f"top {depth} of {len(layers)} layers (down to {label})", other.explain(X)))
    return out


def rank_correlation(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Mean over rows of the Spearman correlation of two attribution tables' |values| (rows where either table
    is constant are left out)."""
    left, right = np.abs(a.to_numpy(dtype=np.float64)), np.abs(b.to_numpy(dtype=np.float64))
    keep = (np.ptp(left, axis=1) > 0) & (np.ptp(right, axis=1) > 0)
    if not keep.any():
        return 1.0 if np.allclose(left, right) else float("nan")
    ranks_left, ranks_right = stats.rankdata(left[keep], axis=1), stats.rankdata(right[keep], axis=1)
    centred_left = ranks_left - ranks_left.mean(axis=1, keepdims=True)
    centred_right = ranks_right - ranks_right.mean(axis=1, keepdims=True)
    per_row = (centred_left * centred_right).sum(1) / np.sqrt((centred_left**2).sum(1) * (centred_right**2).sum(1))
    return float(per_row.mean())


# -------------------------------------------------------------------------------------------------- sensitivity
def perturbation_scale(explainer, X: pd.DataFrame) -> pd.Series:
    """Standard deviation of each numeric raw column: of the reference rows where the model reads raw columns
    (``noise_scale_``, as SmoothGrad's noise), else of ``X``; never of the rows one call happens to explain."""
    read, codes = _read_columns(explainer)
    numeric = [name for name in X.columns if str(name) in read and str(name) not in codes and _is_number(X[name])]
    if explainer.adapter_.numeric_input:
        scale = pd.Series(explainer.noise_scale_, index=explainer.get_feature_names_out())
        return scale.loc[[str(name) for name in numeric]].set_axis(numeric)
    return X[numeric].astype(np.float64).std(ddof=0).fillna(0.0)


def _read_columns(explainer) -> tuple[set[str], set[str]]:
    """The raw columns the explainer reads, and those among them looked up as codes (no number to perturb)."""
    names = np.asarray(explainer.get_feature_names_out(), dtype=object)
    code_columns = explainer.input_space_.code_columns
    codes = set()
    if len(code_columns) and len(names) == explainer.n_features_in_:  # raw features: codes are raw columns
        codes = {str(name) for name in names[np.unique(explainer.encoded_feature_groups_[code_columns])]}
    return {str(name) for name in names}, codes


def sensitivity(
    explainer, exp, seed: int, scale: pd.Series, radius: float = PERTURB_RADIUS, n_perturb: int = N_PERTURBATIONS
):
    """Each row's largest ||a(x + e) - a(x)|| / ||a(x)|| over ``n_perturb`` draws of ``e``, uniform in
    [-radius * scale, radius * scale] on the numeric raw columns of ``scale`` (Yeh et al., 2019; Captum's
    ``sensitivity_max`` with these perturbations).

    Draws are keyed per row label. Returns a Series indexed like ``exp``.
    """
    data = exp.data
    numeric = list(scale.index)
    scale = scale.to_numpy(dtype=np.float64)
    n, k = len(data), len(numeric)
    noise = 2 * keyed_uniforms(row_keys(data.index), seed, n_perturb * k).reshape(n, n_perturb, k) - 1
    base = exp.values.to_numpy(dtype=np.float64)
    norm = np.linalg.norm(base, axis=1)
    norm[norm == 0] = 1.0
    worst = np.zeros(n)
    for draw in range(n_perturb):
        moved = data.copy()
        moved[numeric] = data[numeric].astype(np.float64).to_numpy() + radius * scale * noise[:, draw]
        changed = explainer.explain(moved, target=exp.target.to_numpy()).values.to_numpy(dtype=np.float64)
        worst = np.maximum(worst, np.linalg.norm(changed - base, axis=1) / norm)
    return pd.Series(worst, index=data.index, name="sensitivity")


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


# --------------------------------------------------------------------------------------------------------- SHAP
def shap_agreement(explainer, exp, max_rows: int):
    """SHAP's PermutationExplainer on up to ``max_rows`` rows with the explainer's baseline rows as background:
    (mean per-row rank correlation, mean top-3 overlap), or a reason why it cannot run."""
    try:
        import shap
    except ImportError:
        return "shap is not installed (pip install shap)"
    if explainer.baseline_ is None or explainer.baseline_.isna().all(axis=None):
        return "the baseline has no raw form (features='encoded' or baseline='zero' through preprocessing)"
    if explainer._zero_vectors and explainer.baseline_.isna().any(axis=None):
        return "baseline='zero' is the zero vector of embedding space in the categorical columns, which no category is"
    if not np.allclose(explainer.baseline_weights_, explainer.baseline_weights_[0]):
        return "the baseline rows are weighted unequally; SHAP's background weighs its rows equally"
    rows = exp.iloc[: min(max_rows, len(exp))]
    model = _Output(explainer, rows)
    background = explainer.baseline_.astype(rows.data.dtypes)
    # SHAP's masker takes numbers: categorical columns travel as codes and are decoded for the model
    categories = {
        name: pd.Index(pd.unique(pd.concat([background[name], rows.data[name]]).astype(object)))
        for name in rows.data.columns
        if not _is_number(rows.data[name])
    }

    def as_numbers(frame: pd.DataFrame) -> np.ndarray:
        coded = frame.copy()
        for name, known in categories.items():
            coded[name] = known.get_indexer(frame[name].astype(object))
        return coded.to_numpy(dtype=np.float64)

    def outputs(array: np.ndarray, row: int) -> np.ndarray:
        frame = pd.DataFrame(array, columns=rows.data.columns)
        for name, known in categories.items():
            frame[name] = known[frame[name].to_numpy(dtype=np.int64)]
        encoded = np.asarray(_adapter(explainer).encode(frame.astype(rows.data.dtypes)), dtype=np.float64)
        return model(encoded, np.full(len(encoded), row))

    # SHAP's masked rows mix one row's values with the background's: few distinct ones, asked for many times
    seen: dict[tuple[int, bytes], float] = {}

    def f(array):
        array = np.ascontiguousarray(array, dtype=np.float64)
        keys = [(f.row, line.tobytes()) for line in array]
        new = [position for position, key in enumerate(keys) if key not in seen]
        if new:
            unique = dict.fromkeys(keys[position] for position in new)
            lines = np.array([np.frombuffer(key[1], dtype=np.float64) for key in unique])
            seen.update(zip(unique, outputs(lines, f.row), strict=True))
        return np.array([seen[key] for key in keys])

    masker = shap.maskers.Independent(as_numbers(background), max_samples=len(background))
    points = as_numbers(rows.data)
    targets = rows.target.to_numpy() if rows.target is not None else np.zeros(len(rows))
    values = np.zeros(rows.shape)
    # one call for the rows that share a target (SHAP batches them), since f knows one target at a time
    for target in pd.unique(targets):
        chosen = np.flatnonzero(targets == target)
        f.row = int(chosen[0])
        explained = shap.PermutationExplainer(f, masker, seed=0)(points[chosen], silent=True)
        values[chosen] = explained.values
    theirs = pd.DataFrame(values, index=rows.values.index, columns=rows.values.columns)
    k = min(3, rows.shape[1])
    mine_top = np.argsort(-np.abs(rows.values.to_numpy()), axis=1)[:, :k]
    their_top = np.argsort(-np.abs(values), axis=1)[:, :k]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(mine_top, their_top, strict=True)])
    return rank_correlation(rows.values, theirs), float(overlap), len(rows)


# ------------------------------------------------------------------------------------------------------ quality
def quality(explainer, X, *, max_rows: int = 200, shap_rows: int = 30, random_state=0) -> pd.DataFrame:
    """Faithfulness and sanity tests of ``explainer`` on ``X``, each as a number with what it is compared with and a
    verdict.

    - **deletion**: the area between two curves over k: how far f(x) moves when a row's k most attributed columns
      take the baseline's values, and when k random ones do (as shares of the ``mean |f(x) - f(baseline)|``). Passes
      when its 95% interval is above 0: the top attributions move the model more than other columns.
    - **model randomisation** (Adebayo et al., 2018): the rank correlation of ``|attributions|`` with those of copies
      whose top 1, 2, ... layers are re-initialised. Passes below 0.5: the explanation depends on what was learned.
    - **sensitivity** (Yeh et al., 2019; Captum's ``sensitivity_max``): the largest relative change of a row's
      attributions under 10 perturbations of 2% of each numeric column's standard deviation, median over rows.
      Passes below 0.2.
    - **agreement with SHAP** (when shap is installed): PermutationExplainer on up to ``shap_rows`` rows with the
      explainer's baseline rows as background; mean rank correlation (passes at 0.5 or more) and top-3 overlap.
    - **completeness**: ``max |delta|`` as a share of the ``mean |f(x) - f(baseline)|`` (passes at 1% or less).

    Parameters
    ----------
    explainer : Explainer
        A fitted explainer.
    X : DataFrame or array-like of shape (n_rows, n_features)
        Rows to test on; a seeded sample of ``max_rows`` of them when there are more.
    max_rows : int, default=200
        Most rows tested.
    shap_rows : int, default=30
        Rows SHAP explains (it needs many model calls per row).
    random_state : int, RandomState instance or None, default=0
        Seeds the sample, the random deletion orders, the perturbations and the re-initialised weights.

    Returns
    -------
    DataFrame
        One line per test (indexed by its name): ``value``, ``compared with``, ``verdict`` (``"pass"``, ``"fail"``
        or ``"n/a"``) and ``what it says``. ``attrs["deletion"]`` holds the two deletion curves.
    """
    check_is_fitted(explainer)
    if not isinstance(random_state, Integral):
        random_state = int(check_random_state(random_state).randint(2**31 - 1))
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X), columns=explainer.get_feature_names_out())
    if explainer.features == "encoded":
        raise ValueError("quality tests replace raw columns; use an explainer with features='raw'.")
    sample = _sample(X, max_rows, random_state)
    exp = explainer.explain(sample)
    results = {}

    curves, areas = deletion_curves(explainer, exp, random_state + _SEEDS["deletion"])
    area, low, high = _mean_interval(areas)
    results["deletion"] = _row(
        area,
        f"0 (random columns); 95% interval {low:.3f} to {high:.3f}",
        low > 0,
        "the most attributed columns move the model more than random ones"
        if low > 0
        else "the most attributed columns move the model no more than random ones",
    )

    stages = randomised_explanations(explainer, sample, random_state + _SEEDS["randomisation"])
    if not stages:
        results["model randomisation"] = _row(np.nan, "", None, "the model has no weights to re-initialise")
    for depth, (label, randomised) in enumerate(stages, start=1):
        correlation = rank_correlation(exp.values, randomised.values)
        last = depth == len(stages)  # the verdict is on the fully re-initialised model; the cascade shows the way
        results[f"model randomisation: {label}"] = _row(
            correlation,
            f"below {MAX_RANDOMISED_CORRELATION}" if last else "falls as more layers are re-initialised",
            correlation < MAX_RANDOMISED_CORRELATION if last else None,
            (
                "attributions change when the learned weights are destroyed"
                if correlation < MAX_RANDOMISED_CORRELATION
                else "attributions barely depend on the learned weights"
            )
            if last
            else "rank correlation with the real attributions, part of the way",
        )

    worst = sensitivity(explainer, exp, random_state + _SEEDS["sensitivity"], perturbation_scale(explainer, X))
    median = float(worst.median())
    results["sensitivity (max, median over rows)"] = _row(
        median,
        f"below {MAX_SENSITIVITY}",
        median < MAX_SENSITIVITY,
        f"a perturbation of {PERTURB_RADIUS:.0%} of a standard deviation changes attributions by {median:.1%} at most"
        " (median row)",
    )

    agreement = shap_agreement(explainer, exp, shap_rows)
    if isinstance(agreement, str):
        results["agreement with SHAP"] = _row(np.nan, "", None, agreement)
    else:
        correlation, overlap, n_rows = agreement
        results["agreement with SHAP: rank correlation"] = _row(
            correlation,
            f"at least {MIN_AGREEMENT}",
            correlation >= MIN_AGREEMENT,
            f"SHAP's PermutationExplainer ranks features alike on {n_rows} rows"
            if correlation >= MIN_AGREEMENT
            else f"SHAP's PermutationExplainer ranks features otherwise on {n_rows} rows",
        )
        results["agreement with SHAP: top-3 overlap"] = _row(
            overlap, "1 (same three features)", None, "share of the three most attributed features both methods name"
        )

    scale = float((exp.predictions - exp.base_values).abs().mean()) or 1.0
    share = float(exp.delta.abs().max()) / scale
    applies = completeness_applies(explainer)
    results["completeness: max |delta| / mean |f(x) - f(baseline)|"] = _row(
        share,
        "at most 0.01",
        None if applies is not None else share <= 0.01,
        applies or "attributions add up to prediction - base value",
    )
    table = pd.DataFrame.from_dict(results, orient="index", columns=_COLUMNS)
    table.index.name = "test"
    table.attrs["deletion"] = curves
    return table
