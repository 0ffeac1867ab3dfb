"""The compliance report: one self-contained HTML file (images embedded) that documents an explanation.

Model and data, settings to reproduce it, a completeness audit, global importance, stability, groups, applicants.
"""

from __future__ import annotations

import base64
import copy
import datetime
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ._reason_codes import reason_codes

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1000px;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #008bfb; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f3f6fa; } td.text, th.text { text-align: left; }
.pass { color: #0a7d27; font-weight: bold; } .fail { color: #c4001f; font-weight: bold; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
"""


def _figure_html(draw, alt: str, size: tuple[float, float] = (8, 5)) -> str:
    """Draw with ``draw(ax)`` on a fresh Agg figure and embed it as a base64 PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    ax = figure.add_subplot()
    draw(ax)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _table(frame: pd.DataFrame, float_format: str = "{:.4g}", index: bool = True) -> str:
    def cell(value, tag="td"):
        if isinstance(value, (float, np.floating)):
            text = "NaN" if np.isnan(value) else float_format.format(value)
            return f"<{tag}>{text}</{tag}>"
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return f"<{tag}>{value}</{tag}>"
        return f'<{tag} class="text">{html.escape(str(value))}</{tag}>'

    head = ([cell(frame.index.name or "", "th")] if index else []) + [cell(str(c), "th") for c in frame.columns]
    rows = []
    for label, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        rows.append("<tr>" + (cell(label) if index else "") + "".join(cell(v) for v in values) + "</tr>")
    return f"<table><tr>{''.join(head)}</tr>{''.join(rows)}</table>"


def _spearman(a: pd.Series, b: pd.Series) -> float:
    a, b = a.align(b)
    if a.nunique() < 2 or b.nunique() < 2:
        return 1.0 if a.rank().equals(b.rank()) else float("nan")
    return float(a.rank().corr(b.rank()))


def _stability(explainer, X, exp, max_rows: int) -> pd.DataFrame:
    """Rank correlation of the global importance when only the seed, or only the step count, changes.

    The fitted state (baselines, background) is kept: only what the explaining pass reads changes. ``exp`` is the
    report's explanation of ``X``, reused as the reference when no sample is needed.
    """
    if len(X) <= max_rows:
        sample, reference = X, exp.importance()
    else:
        sample = X.sample(max_rows, random_state=0)
        reference = explainer.explain(sample).importance()
    seed = explainer.random_state if isinstance(explainer.random_state, (int, np.integer)) else 0
    changes = [("random_state", seed + 1), ("random_state", seed + 2)]
    if isinstance(explainer.n_steps, (int, np.integer)):
        changes += [("n_steps", n) for n in sorted({max(2, explainer.n_steps // 2), explainer.n_steps * 2})]
    rows = []
    for name, value in changes:
        other = copy.copy(explainer).set_params(**{name: value})
        rows.append((name, value, _spearman(reference, other.explain(sample).importance())))
    return pd.DataFrame(rows, columns=["changed", "to", "rank correlation with the report's importance"])


def report(
    explainer,
    X,
    path,
    *,
    rows=None,
    group=None,
    title: str = "Model explanation report",
    tolerance: float = 0.01,
    max_stability_rows: int = 500,
) -> Path:
    """Write a self-contained HTML compliance report of ``explainer`` on ``X``.

    Parameters
    ----------
    explainer : Explainer
        A fitted explainer; its settings are recorded so that the result can be reproduced.
    X : DataFrame or array-like of shape (n_rows, n_features)
        Rows to explain, with the columns the explainer was fitted on.
    path : str or Path
        Where to write the ``.html`` file.
    rows : list of row labels, default=None
        Rows (labels of ``X``'s index) that get their own section: prediction, waterfall and reason codes.
    group : str or array-like of shape (n_rows,), default=None
        A column of ``X``, or one label per row in ``X``'s order (a named Series gives the section its name): a
        protected attribute such as an age band, whether or not the model reads it. The report gives the mean
        attribution per feature by group and the features whose attributions differ most between groups.
    title : str, default="Model explanation report"
        The report's title.
    tolerance : float, default=0.01
        Completeness passes when max |delta| is at most ``tolerance`` times the mean |prediction - base value|.
    max_stability_rows : int, default=500
        Rows re-explained (a seeded sample) for the stability checks.

    Returns
    -------
    Path
        The file written.
    """
    import torch

    from .. import __version__
    from ..plots import bar, beeswarm, waterfall

    check_is_fitted(explainer)
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X), columns=explainer.get_feature_names_out())
    group_labels = None
    if group is not None:
        if isinstance(group, str):
            if group not in X.columns:
                raise ValueError(f"group {group!r} is not a column of X; columns: {list(X.columns)}.")
            group_labels, group_name = X[group], group
        else:
            if len(group) != len(X):
                raise ValueError(f"group has {len(group)} labels for {len(X)} rows.")
            group_name = getattr(group, "name", None) or "group"
            group_labels = pd.Series(np.asarray(group, dtype=object), index=X.index)
    rows = [] if rows is None else list(rows)
    missing = [row for row in rows if row not in X.index]
    if missing:
        raise ValueError(f"rows {missing} are not labels of X's index.")

    exp = explainer.explain(X)
    importance = exp.importance()
    abs_delta = exp.delta.abs()
    scale = float((exp.predictions - exp.base_values).abs().mean()) or 1.0
    passed = float(abs_delta.max()) <= tolerance * scale
    params = {k: v for k, v in explainer.get_params(deep=False).items() if k != "model"}
    params = {k: (f"{type(v).__name__} of shape {np.shape(v)}" if np.ndim(v) > 0 else v) for k, v in params.items()}

    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append(
        '<p class="note">Generated by skig with Integrated Gradients. Attributions add up to the difference between '
        "each row's prediction and the base value (the model's output at the baseline), up to the completeness "
        "error delta audited below.</p>"
    )
    summary = pd.DataFrame(
        {
            "value": [
                explainer.adapter_.model.description,
                f"{explainer.n_features_in_}: {', '.join(map(str, explainer.get_feature_names_out()))}",
                f"{len(explainer.encoded_feature_names_)}",
                f"{len(exp):,}",
                explainer.output_,
                __version__,
                torch.__version__,
                datetime.date.today().isoformat(),
            ]
        },
        index=pd.Index(
            ["model", "features", "encoded columns", "rows explained", "output space", "skig", "torch", "date"],
            name="item",
        ),
    )
    parts += ['<h2 id="summary">Model and data</h2>', _table(summary)]
    settings = pd.DataFrame({"value": [repr(v) for v in params.values()]}, index=pd.Index(params, name="parameter"))
    parts += ['<h2 id="settings">Method and settings</h2>', _table(settings)]

    audit = pd.DataFrame(
        {
            "value": [float(abs_delta.max()), float(abs_delta.mean()), scale, tolerance * scale],
        },
        index=pd.Index(
            ["max |delta|", "mean |delta|", "mean |prediction - base value|", "tolerance (max |delta| allowed)"],
            name="completeness",
        ),
    )
    verdict = '<p class="pass">PASS</p>' if passed else '<p class="fail">FAIL: raise n_steps or change the rule</p>'
    parts += ['<h2 id="completeness">Completeness audit</h2>', _table(audit), verdict]

    top = importance.to_frame("mean |attribution|")
    top.index.name = "feature"
    parts += ['<h2 id="importance">Global importance</h2>', _table(top)]
    parts.append(_figure_html(lambda ax: bar(exp, ax=ax), "global importance bar chart"))
    parts.append(_figure_html(lambda ax: beeswarm(exp, ax=ax), "beeswarm of attributions", (9, 6)))

    stability = _stability(explainer, X, exp, max_stability_rows)
    parts += ['<h2 id="stability">Stability</h2>', _table(stability, index=False)]
    parts.append(
        '<p class="note">Spearman rank correlation between the global importance of this report and that obtained '
        "when only the named setting changes (on up to "
        f"{max_stability_rows} rows). Values near 1 mean the ranking does not hinge on that setting.</p>"
    )

    if group_labels is not None:
        group_labels = group_labels.astype(object).where(group_labels.notna(), "missing").astype(str)
        by_group = exp.values.groupby(group_labels.to_numpy()).mean().T
        by_group.index.name = "feature"
        spread = (by_group.max(axis=1) - by_group.min(axis=1)).sort_values(ascending=False)
        differ = spread.to_frame("largest difference between groups")
        differ.index.name = "feature"
        counts = group_labels.value_counts().sort_index()
        parts += [
            f'<h2 id="groups">Attributions by {html.escape(str(group_name))}</h2>',
            "<p>Rows per group: " + ", ".join(f"{html.escape(k)}: {v}" for k, v in counts.items()) + "</p>",
            _table(by_group.loc[importance.index]),
            "<h3>Features whose attributions differ most between groups</h3>",
            _table(differ),
        ]

    if rows:
        parts.append('<h2 id="applicants">Applicants</h2>')
        codes = reason_codes(exp, n=4)
        for row in rows:
            position = X.index.get_loc(row)
            one = exp.iloc[position]
            parts.append(f'<h3 id="row-{html.escape(str(row))}">Row {html.escape(str(row))}</h3>')
            parts.append(
                f"<p>prediction {one.predictions.iloc[0]:.4g}, base value {one.base_values.iloc[0]:.4g}, "
                f"delta {one.delta.iloc[0]:.2g}</p>"
            )
            parts.append(_figure_html(lambda ax, one=one: waterfall(one, ax=ax), f"waterfall of row {row}"))
            mine = codes[codes["row"] == row].drop(columns="row").set_index("rank")
            parts.append(_table(mine) if len(mine) else "<p>No feature raises the output above the base value.</p>")

    document = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = Path(path)
    path.write_text(document, encoding="utf-8")
    return path
