"""The compliance report: one self-contained HTML file (images embedded) that documents an explanation.

Model and data, the settings that apply, a completeness audit, importance, stability, groups, reasons, applicants.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_list_like
from sklearn.utils.validation import check_is_fitted

from .._explanation import with_weights
from . import _format as fmt
from ._drift import drift, is_summary
from ._evidence_html import drift_section, performance_section, quality_section
from ._fingerprint import fingerprint
from ._groups import N_RESAMPLES, compare_groups, group_labels, group_means, labelled_columns, pool_groups
from ._options import Groups, Reasons, ReportSettings
from ._page import document, escape, figure, heading, paragraph, table
from ._performance import performance
from ._quality import quality
from ._reason_codes import ranked_reasons, reason_text, unmapped_features, warn_unmapped
from ._settings import (
    METHOD_NAMES,
    applicable_settings,
    completeness_applies,
    completeness_hint,
    meaning,
    no_stability_reason,
    stability,
)


def report(
    explainer,
    X,
    path,
    *,
    y=None,
    threshold: float | None = None,
    reference=None,
    outcome: str | None = None,
    rows=None,
    group=None,
    reasons=None,
    title: str = "Model explanation report",
    settings: ReportSettings | None = None,
) -> Path:
    """Write a self-contained HTML compliance report of ``explainer`` on ``X``.

    Parameters
    ----------
    explainer : Explainer
        A fitted explainer; the settings that apply to its method are recorded so the result can be reproduced.
    X : DataFrame, array-like of shape (n_rows, n_features), or Spark / Dask DataFrame
        Rows to explain, with the columns the explainer was fitted on. It may also hold the ``group`` column when
        the model does not read it (a protected attribute); that column is then used to audit, never explained.
        A Spark or Dask DataFrame is explained on its engine: the importance table, the completeness audit and
        the group means come from all its rows (without collecting their attributions), and
        ``settings.sample_size`` rows explained on this machine give the plots, the stability and faithfulness
        checks, the group gaps and the applicants.
    path : str or Path
        Where to write the ``.html`` file.
    y : str, Series or array-like of shape (n_rows,), default=None
        Observed outcomes (1 = the event the output measures, e.g. default; or the explained class's label): a
        column of ``X`` (never explained), a Series aligned on ``X``'s index by label, or an array in row order.
        Adds a performance section: AUC, KS, Brier score and calibration by decile, and per audit group.
        Not taken with a Spark or Dask ``X``.
    threshold : float, default=None
        Decision threshold on the probability (the raw output when there is none): with ``y``, the decision rate
        and the adverse impact ratio of each group. The adverse side is ``reasons``' direction.
    reference : Explanation or Summary, default=None
        The explanation of an earlier period (or a Spark / Dask summary of it): adds an attribution drift section
        (:func:`skig.drift`).
    outcome : str, default=None
        What the explained output means, as the report's reader says it (``"probability of default"``); None takes
        the explainer's ``outcome``, and failing that the output space and class ("the probability of class 1").
    rows : index label, list of labels, or Explanation, default=None
        Applicants that get their own section (prediction, waterfall, principal reasons), given by **index label**
        of ``X`` (``X.loc`` semantics, not positions). A one-row Explanation (``exp.loc[label]``) stands for its
        row, in the list or alone; a several-row Explanation stands for all its rows.
    group : str, Series, array-like or Groups, default=None
        Rows' groups to compare attributions and performance across (an age band, marital status, a state): a
        column of ``X`` (read by the model or not); a Series, aligned on ``X``'s index **by label**; an array or
        list in ``X``'s row order; or :class:`Groups` to choose how small groups are pooled. Missing values form a
        ``"missing"`` group.
    reasons : mapping, callable or Reasons, default=None
        Adverse-action reason texts per feature, as :func:`reason_codes` takes them, or :class:`Reasons` to also
        set how many reasons, the adverse direction and the smallest contribution listed. With texts, the
        applicants' tables list them, and the report lists every feature with its text, flagging those without.
    title : str, default="Model explanation report"
        The report's title.
    settings : ReportSettings, default=None
        How the checks are computed (completeness tolerance, rows re-explained for stability and faithfulness,
        the seed) and how a Spark or Dask ``X`` is sampled; None: ``ReportSettings()``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If a row label is not in ``X``'s index, ``group`` or ``y`` is not a column of ``X`` or does not label every
        row, or an argument is out of range.
    """
    import torch

    from .._version import __version__
    from ..plots import bar, beeswarm, waterfall

    check_is_fitted(explainer)
    from .._distributed import is_distributed, report_data

    settings = ReportSettings() if settings is None else settings
    policy, audit = Reasons.of(reasons), Groups.of(group)
    group = None if audit is None else audit.by
    full, exp = None, None
    if is_distributed(X):
        if group is not None and not isinstance(group, str):
            raise TypeError("with a Spark or Dask X, group must be the name of one of its columns.")
        if y is not None:
            raise TypeError("y is not taken with a Spark or Dask X: report on a collected sample with its outcomes.")
        data = report_data(
            explainer,
            X,
            sample_size=settings.sample_size,
            key=settings.key,
            by=group,
            random_state=settings.random_state,
            reasons=policy.drift_options(),
        )
        X, exp, full = data.sample, data.explanation, data.summary
        group = data.group
    elif not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X), columns=explainer.get_feature_names_out())
    labels = _row_labels(rows, X)
    group_name, grouping = None, None
    if group is not None:
        grouping, group_name, group_values = group_labels(group, X)
        if full is not None and full.group_mean is not None:  # its columns are values: name them as the rows are
            full = replace(full, group_mean=labelled_columns(full.group_mean, group_values))
        if isinstance(group, str) and group not in _model_columns(explainer):
            X = X.drop(columns=group)  # an audit column the model does not read: never explained
    if isinstance(y, str):
        if y not in X.columns:
            raise ValueError(f"y {y!r} is not a column of X; columns: {[str(c) for c in X.columns]}.")
        y, X = X[y], X.drop(columns=y)  # outcomes are never explained

    if exp is None:
        exp = explainer.explain(X)
    if outcome is not None:
        exp.outcome = outcome  # the plots name it too
    units = fmt.Units(exp.output)
    outcome = fmt.outcome_text(exp, outcome)
    importance = exp.importance() if full is None else full.importance
    parts = [heading(1, title)]
    parts.append(
        paragraph(
            f"Generated by skig {__version__} on {datetime.date.today().isoformat()} with "
            f"{METHOD_NAMES.get(exp.method, exp.method)}. Each attribution is a feature's share of the difference "
            f"between a row's prediction and the base value ({exp.base_value_label}: the model's output at the "
            f"baseline), for {outcome}, in {units.change_unit}; the completeness audit says how exactly they add up.",
            "note",
        )
    )

    summary = pd.DataFrame(
        {
            "value": [
                explainer.adapter_.model.description,
                f"{explainer.n_features_in_}: {', '.join(map(str, explainer.get_feature_names_out()))}",
                fmt.count(len(explainer.encoded_feature_names_)),
                fmt.count(len(exp))
                if full is None
                else f"{fmt.count(full.rows)} (a sample of {fmt.count(len(exp))} explained here for the plots, "
                "stability, group gaps and applicants)",
                outcome,
                f"{units.level_unit} (predictions, base values); {units.change_unit} (attributions)",
                __version__,
                torch.__version__,
            ]
        },
        index=pd.Index(
            ["model", "features", "encoded columns", "rows explained", "output explained", "units", "skig", "torch"],
            name="item",
        ),
    )
    parts += [
        heading(2, "Model and data", "summary"),
        table(summary, "What was explained: the model, the columns it reads, the rows and the output space."),
    ]
    parts += _fingerprint_section(explainer, X, sampled=full is not None)
    parts += _settings_section(explainer, exp, units)
    parts += _completeness_section(explainer, exp, units, settings.tolerance, full)

    top = pd.DataFrame(
        {
            "mean |attribution|": [units.change(v, signed=False) for v in importance],
            "share of total": [fmt.proportion(v) for v in importance / (importance.sum() or 1.0)],
        },
        index=pd.Index(importance.index, name="feature"),
    )
    parts += [
        heading(2, "Global importance", "importance"),
        table(
            top,
            f"How far each feature moves {outcome} on average (mean absolute attribution, in "
            f"{units.change_unit}), most important first.",
            numeric=top.columns,
        ),
        figure(lambda ax: bar(exp, ax=ax), "global importance bar chart", "The table's importances as bars."),
        figure(
            lambda ax: beeswarm(exp, ax=ax),
            "beeswarm of attributions",
            "One dot per row and feature: its attribution (x) coloured by the feature's value (red high, blue low).",
            (9, 6),
        ),
    ]
    parts += _stability_section(explainer, X, exp, settings.stability_rows, settings.random_state)
    if settings.quality_rows and explainer.features == "raw":
        parts += quality_section(
            quality(explainer, X, max_rows=settings.quality_rows, random_state=settings.random_state)
        )
    pooled = None
    if grouping is not None:
        pooled = pool_groups(grouping.loc[exp.values.index], min_size=audit.min_size, max_groups=audit.max_groups)
    if y is not None:
        event = _explained_class(explainer, exp)
        measured = performance(
            exp,
            y,
            event=event,
            threshold=threshold,
            direction=policy.direction,
            groups=None if pooled is None else pooled.labels,
        )
        parts += performance_section(measured, units, outcome, group_name)
    if reference is not None:
        current = full if full is not None and is_summary(reference) else exp
        parts += drift_section(
            drift(reference, current, **policy.drift_options(), random_state=settings.random_state), units
        )
    if grouping is not None:
        parts += _group_section(
            exp,
            grouping,
            group_name,
            units,
            outcome,
            importance,
            audit.min_size,
            audit.max_groups,
            settings.random_state,
            full,
        )
    if policy.texts is not None:
        parts += _reasons_section(exp, policy.texts)
    if labels:
        parts += _applicants_section(exp, labels, units, outcome, policy, waterfall)

    path = Path(path)
    path.write_text(document(title, parts), encoding="utf-8")
    return path


#: Rows SHAP explains for the report's agreement test (each costs hundreds of model calls).
_SHAP_ROWS = 10


def _explained_class(explainer, exp):
    """The class label the output measures (the event of ``y``), or None when the explanation is of no class."""
    classes = getattr(explainer, "classes_", None)
    if classes is None or exp.target is None:
        return None
    targets = exp.target.unique()
    if len(targets) != 1:
        raise ValueError(
            "performance needs one explained class, but each row explains its predicted class; set target= to the "
            "class the outcomes y record (e.g. the default class)."
        )
    return targets[0]


def _model_columns(explainer) -> set[str]:
    names = getattr(explainer, "feature_names_in_", None)
    return set() if names is None else {str(name) for name in names}


def _row_labels(rows, X: pd.DataFrame) -> list:
    """Index labels of the applicants: labels as given, one per row of an Explanation."""
    from .._explanation import Explanation

    if rows is None:
        return []
    if isinstance(rows, Explanation) or not is_list_like(rows):
        rows = [rows]
    labels = []
    for row in rows:
        labels += list(row.values.index) if isinstance(row, Explanation) else [row]
    if labels and not X.index.is_unique:
        duplicated = X.index[X.index.duplicated()].unique().tolist()[:5]
        raise ValueError(
            f"X's index has duplicated labels {duplicated}; rows are chosen by label, so it must be unique."
        )
    missing = [label for label in labels if label not in X.index]
    if missing:
        raise ValueError(
            f"rows {missing} are not labels of X's index (e.g. {X.index[:5].tolist()}); rows are index labels, as "
            "in X.loc, not positions."
        )
    return list(dict.fromkeys(labels))


def _fingerprint_section(explainer, X, sampled: bool) -> list[str]:
    record = fingerprint(explainer, X)
    versions = record["versions"]
    items = {
        "model (SHA-256)": record["model"],
        ("rows explained here, a sample (SHA-256)" if sampled else "data explained (SHA-256)"): record["data"],
        "reference rows of fit (SHA-256)": record["reference_data"],
        "settings (SHA-256)": record["settings"],
        "random_state": "None" if record["random_state"] is None else str(record["random_state"]),
        "versions": ", ".join(f"{name} {number}" for name, number in versions.items()),
        "fitted at (UTC)": record["created"],
    }
    frame = pd.DataFrame({"value": list(items.values())}, index=pd.Index(list(items), name="fingerprint"))
    parts = [
        heading(3, "Fingerprint", "fingerprint"),
        table(
            frame,
            "What identifies these results: SHA-256 digests of the model's parameters and buffers (a Pipeline's "
            "fitted steps), of the data and of the settings; the same model gives the same digest in any process, "
            "and any changed weight another.",
        ),
    ]
    if record["model_changed_since_fit"]:
        parts.append(
            paragraph(
                "The model's weights changed after the explainer was fitted (then SHA-256 "
                f"{record['model_at_fit']}): these explanations are of the model as it is now, while the baselines "
                "were learned with the earlier one. Fit the explainer again.",
                "flag",
            )
        )
    return parts


def _setting_text(value) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    if np.ndim(value) > 0:
        return f"{type(value).__name__} of shape {np.shape(value)}"
    return str(value)


def _settings_section(explainer, exp, units: fmt.Units) -> list[str]:
    settings = applicable_settings(explainer)
    if settings.get("output") == "auto":
        settings["output"] = f"auto ({exp.output})"
    if settings.get("target", 0) is None and exp.target is not None:
        settings["target"] = f"None (explains {', '.join(map(str, exp.target.unique()[:5]))})"
    frame = pd.DataFrame(
        {
            "value": [_setting_text(value) for value in settings.values()],
            "what it sets": [meaning(name, explainer.method) for name in settings],
        },
        index=pd.Index(list(settings), name="setting"),
    )
    parts = [
        heading(2, "Method and settings", "settings"),
        table(
            frame,
            f"The settings that determine these numbers for {explainer.method}; settings that do not apply to this "
            "method (and those that only change speed) are left out.",
        ),
    ]
    if explainer.plan_.method.stochastic and explainer.random_state is None:
        parts.append(
            paragraph(
                "random_state is None: this method draws at random, so another run gives other numbers. "
                "Set random_state to an integer to make the report reproducible.",
                "flag",
            )
        )
    parts += _baseline_section(explainer, exp, units)
    return parts


#: How the report writes a categorical column of ``baseline="zero"``: the zero vector, not a missing value.
_ZERO_VECTOR = "zero vector (no category)"


def _baseline_section(explainer, exp, units: fmt.Units) -> list[str]:
    base = exp.base_values.iloc[0] if exp.base_values.nunique() == 1 else None
    at = f" The model's output there, {exp.base_value_label}, is {units.level(base)}." if base is not None else ""
    if exp.baseline is not None:
        rows, space = exp.baseline, "in the data's own terms"
    else:
        rows = with_weights(explainer.encoded_baseline_, explainer.baseline_weights_)
        space = "in the encoded columns the model reads (this explanation has no raw form of it)"
    weight = rows.columns[-1]  # the weights are the last column, whatever its name (see with_weights)
    rows = rows.sort_values(weight, ascending=False, kind="stable") if len(rows) > 1 else rows
    shown = rows.head(10)
    # baseline="zero" looks categorical columns up as the zero vector of embedding space, which no category is.
    virtual = explainer._zero_vectors and exp.baseline is not None
    cells = shown.iloc[:, :-1].T.map(lambda value: _ZERO_VECTOR if virtual and pd.isna(value) else fmt.raw_value(value))
    cells.columns = [f"row {i + 1} (weight {fmt.proportion(w)})" for i, w in enumerate(shown[weight])]
    if len(rows) == 1:
        cells.columns = ["baseline"]
    cells.index.name = "feature"
    more = f" The {len(rows)} rows are weighted; the {len(shown)} heaviest are shown." if len(rows) > 1 else ""
    return [
        heading(3, "Baseline", "baseline"),
        table(
            cells,
            f"The baseline every attribution is measured against, {space}.{more}{at}",
            numeric=[c for c in cells.columns],
        ),
    ]


def _completeness_section(explainer, exp, units: fmt.Units, tolerance: float, full=None) -> list[str]:
    abs_delta = exp.delta.abs()
    if full is None:
        largest, mean, scale = (
            float(abs_delta.max()),
            float(abs_delta.mean()),
            float((exp.predictions - exp.base_values).abs().mean()),
        )
    else:  # all rows of a distributed frame, from its summary
        figures = full.completeness
        largest, mean, scale = (
            float(figures[name]) for name in ("max |delta|", "mean |delta|", "mean |prediction - base value|")
        )
    scale = scale or 1.0
    allowed = tolerance * scale
    items = {
        "max |delta|": units.change(largest, signed=False),
        "mean |delta|": units.change(mean, signed=False),
        "mean |prediction - base value|": units.change(scale, signed=False),
        f"tolerance ({fmt.plain(100 * tolerance, 1)}% of the line above)": units.change(allowed, signed=False),
    }
    if full is None:
        items["rows with |delta| above the tolerance"] = fmt.count((abs_delta > allowed).sum())
    else:
        items["rows audited"] = fmt.count(full.rows)
    if exp.n_steps is not None and explainer.plan_.integrator.adaptive:
        steps = exp.n_steps
        items["steps used per row (min / median / max)"] = (
            f"{int(steps.min())} / {int(steps.median())} / {int(steps.max())}"
        )
    audit = pd.DataFrame({"value": list(items.values())}, index=pd.Index(list(items), name="completeness"))
    parts = [
        heading(2, "Completeness audit", "completeness"),
        table(
            audit,
            "delta is how far a row's attributions plus the base value miss its prediction (0 is exact); the audit "
            "passes when the largest |delta| is within the tolerance.",
            numeric=["value"],
        ),
    ]
    why_not = completeness_applies(explainer)
    if why_not is not None:
        parts.append(f'<p><span class="na">NOT APPLICABLE</span>: {escape(why_not)}</p>')
    elif largest <= allowed:
        parts.append('<p class="pass">PASS</p>')
    else:
        parts.append(f'<p class="fail">FAIL: {escape(completeness_hint(explainer, exp))}</p>')
    return parts


def _stability_section(explainer, X, exp, max_rows: int, random_state) -> list[str]:
    parts = [heading(2, "Stability", "stability")]
    checks = stability(explainer, X, exp, max_rows, random_state)
    if checks.empty:
        return parts + [paragraph(no_stability_reason(explainer))]
    cells = checks.assign(
        **{
            "from": checks["from"].map(_setting_text),
            "to": checks["to"].map(_setting_text),
            "rank correlation": checks["rank correlation"].map(lambda v: fmt.plain(v, 3)),
        }
    )
    return parts + [
        table(
            cells,
            f"Spearman rank correlation between this report's feature ranking and the one obtained when only the named "
            f"setting changes (on up to {fmt.count(max_rows)} rows); near 1 means the ranking does not hinge on it.",
            numeric=["rank correlation"],
            index=False,
        )
    ]


def _group_section(
    exp, grouping, name, units: fmt.Units, outcome, importance, min_size, max_groups, random_state, full=None
) -> list[str]:
    pooled = pool_groups(grouping.loc[exp.values.index], min_size=min_size, max_groups=max_groups)
    sizes = pooled.sizes.assign(
        share=(pooled.sizes["rows"] / pooled.sizes["rows"].sum()).map(fmt.proportion),
        rows=pooled.sizes["rows"].map(fmt.count),
    )[["rows", "share", "note"]]
    pooling = (
        f" Groups under {min_size} rows, and any beyond the {max_groups} largest, are pooled as {pooled.other!r}."
        if pooled.other
        else ""
    )
    parts = [
        heading(2, f"Attributions by {name}", "groups"),
        table(sizes, f"Rows in each group of {name}, largest first.{pooling}", numeric=["rows", "share"]),
    ]
    order = list(pooled.sizes.index)
    if len(order) < 2:
        return parts + [
            paragraph(f"Only one group remains after pooling, so attributions cannot be compared across {name}.")
        ]
    means = group_means(exp.values, pooled.labels, order).loc[importance.index]
    scope = ""
    if full is not None and full.group_mean is not None:
        # all rows of the distributed frame, for the groups shown (a pooled "other" has no full-data mean)
        shown = [group for group in order if group in full.group_mean.columns]
        means = full.group_mean.loc[importance.index, shown]
        order, scope = shown, f" Computed on all {fmt.count(full.rows)} rows."
    parts.append(
        table(
            means.map(units.change),
            f"Mean attribution of each feature (rows, most important first) in each group (columns), in "
            f"{units.change_unit}: how much the feature moves {outcome} for that group on average.{scope}",
            numeric=order,
        )
    )
    differ = compare_groups(exp.values, pooled.labels, random_state=random_state)
    cells = pd.DataFrame(
        {
            "highest mean": differ["highest"],
            "lowest mean": differ["lowest"],
            "difference": differ["difference"].map(lambda v: units.change(v, signed=False)),
            "95% interval": [
                f"{units.change(lo)} to {units.change(hi)}"
                for lo, hi in zip(differ["low"], differ["high"], strict=True)
            ],
            "p-value": differ["p_value"].map(fmt.p_value),
        },
        index=differ.index,
    )
    pairs = differ.attrs["n_pairs"]
    adjusted = f", both adjusted for picking the pair out of the {pairs} pairs of groups" if pairs > 1 else ""
    return parts + [
        heading(3, "Features whose attributions differ most between groups"),
        table(
            cells,
            "Each feature's gap between its highest and lowest group mean, with a 95% bootstrap interval "
            f"({N_RESAMPLES} resamples within each group) and a permutation p-value ({N_RESAMPLES} shuffles of the "
            f"two groups' rows){adjusted}; an interval that contains 0, or a p-value above 0.05, means chance alone "
            "could give a gap this large."
            + (f" On the {fmt.count(len(exp))} rows explained here." if full is not None else ""),
            numeric=["difference", "95% interval", "p-value"],
            flagged=list(differ["p_value"] < 0.05),
        ),
        paragraph("Highlighted: p-value below 0.05.", "note"),
    ]


def _reasons_section(exp, reasons) -> list[str]:
    parts = [heading(2, "Adverse-action reason texts", "reasons")]
    if not isinstance(reasons, Mapping):
        return parts + [
            paragraph(
                "Reason texts come from a function of (feature, value), so they are shown with each applicant; a "
                "feature for which it gives no text is flagged there."
            )
        ]
    missing = unmapped_features(reasons, exp.feature_names)
    if missing:
        parts.append(
            paragraph(
                f"No reason text for {len(missing)} feature{'s' * (len(missing) > 1)}: {', '.join(missing)}. A notice "
                "would show the feature's name instead; add a text for each before using these reasons.",
                "flag",
            )
        )
    texts = pd.DataFrame(
        {"reason text": [_reason_entry(reasons, feature) for feature in exp.feature_names]},
        index=pd.Index(exp.feature_names, name="feature"),
    )
    caption = "The reason text an applicant's notice gives for each feature; highlighted features have none."
    return parts + [table(texts, caption, flagged=[f in set(missing) for f in exp.feature_names])]


def _reason_entry(reasons: Mapping, feature: str) -> str:
    """A feature's reason text as the report lists it, with the missing-value case's own text when there is one."""
    text = reason_text(reasons, feature, None, missing=False) or "(none: the feature name is used)"
    when_missing = reason_text(reasons, feature, None, missing=True)
    return text if when_missing in (None, text) else f"{text}; when missing: {when_missing}"


def _applicants_section(exp, labels, units: fmt.Units, outcome, policy: Reasons, waterfall) -> list[str]:
    parts = [heading(2, "Applicants", "applicants")]
    chosen = exp.loc[labels]
    reasons, n, direction = policy.texts, policy.n, policy.direction
    ranked = ranked_reasons(chosen, n, direction, reasons, policy.min_contribution)
    if reasons is not None:
        warn_unmapped(sorted(set(ranked.loc[~ranked["mapped"], "feature"].astype(str))))
    moved = "raised" if direction == "increase" else "lowered"
    for label in labels:
        one = exp.loc[label]
        prediction, base = one.predictions.iloc[0], one.base_values.iloc[0]
        parts.append(f'<div class="applicant-head">{heading(3, f"Applicant {label}", f"row-{label}")}')
        parts.append(
            paragraph(
                f"Prediction {units.level(prediction)} ({outcome}); base value {exp.base_value_label} "
                f"{units.level(base)}; attributions add up to {units.change(prediction - base)}, with a completeness "
                f"error (delta) of {units.change(one.delta.iloc[0], signed=False)}."
            )
            + "</div>"
        )
        parts.append(
            figure(
                lambda ax, one=one: waterfall(one, ax=ax),
                f"waterfall of applicant {label}",
                "From the base value (bottom) to the prediction (top): each bar is one feature's attribution, red "
                f"when it raised {outcome} and blue when it lowered it.",
            )
        )
        mine = ranked[ranked["row"] == label]
        material = (
            f" by at least {units.change(policy.min_contribution, signed=False)}" if policy.min_contribution else ""
        )
        parts.append(
            heading(4, f"Principal reasons: up to {n}, the features that {moved} {outcome} the most{material}")
        )
        if mine.empty:
            parts.append(paragraph(f"None: no feature {moved} {outcome} relative to the base value."))
            continue
        cells = pd.DataFrame(
            {
                "reason": mine["reason"].to_numpy() if reasons is not None else mine["feature"].to_numpy(),
                "feature": mine["feature"].to_numpy(),
                "value": mine["value"].map(fmt.raw_value).to_numpy(),
                "contribution": mine["contribution"].map(units.change).to_numpy(),
            },
            index=pd.Index(mine["rank"].to_numpy(), name="rank"),
        )
        if reasons is None:
            cells = cells.drop(columns="reason")
        caption = (
            f"The applicant's principal reasons, most adverse first: the feature's value and how much it {moved} "
            f"{outcome} (in {units.change_unit})"
            + ("; highlighted rows have no reason text." if reasons is not None else "; no reason texts were given.")
        )
        flagged = list(~mine["mapped"]) if reasons is not None else None
        parts.append(table(cells, caption, numeric=["value", "contribution"], flagged=flagged))
    return parts
