"""Bar plot: global importance (mean |attribution|) per raw feature, cohorts side by side, or one row's attributions.

SHAP's ``shap.plots.bar``, drawn from a skig Explanation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._labels import InventedLabel
from ._common import (
    BLUE,
    GREY,
    LINE_GREY,
    OTHER_COLOR,
    RED,
    TEXT_GREY,
    clean_axes,
    collapse_features,
    finish,
    format_attribution,
    format_number,
    new_axes,
    palette_color,
    plain_text,
    row_labels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_HEIGHT = 0.5


@plain_text
def bar(exp, max_display: int = 10, *, row=None, ax: Axes | None = None, show: bool = False) -> Axes:
    """Horizontal bars of each feature's mean absolute attribution, most important at the top.

    Given several explanations (a dict, e.g. ``cohorts(exp, "Home")``), draws each cohort's bar side by side for
    every feature, features ordered by their importance over all the cohorts' rows; the legend, right of the axes,
    names each cohort with its size, "other" in light grey and "missing" in grey. Given one row (``exp.loc[label]``,
    ``exp.iloc[position]``, or ``row=label``), draws that row's signed attributions instead, increases red and
    decreases blue, its raw values in the labels.

    Parameters
    ----------
    exp : Explanation or dict of str to Explanation
        The attributions, or named cohorts of them.
    max_display : int, default=10
        Rows drawn; when there are more features, the least important are summed into a last row
        "Sum of N other features".
    row : index label, default=None
        The row to draw alone, by its label in ``exp``'s index (``exp.loc[row]``); for a position, pass
        ``exp.iloc[position]`` instead.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    show : bool, default=False
        Call ``plt.show()`` after drawing.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import bar, cohorts
    >>> values = pd.DataFrame({"Income": [0.3, -0.2, 0.1], "Home": [0.1, -0.05, 0.0]})
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0, 1500.0], "Home": ["rent", "owner", "rent"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 3), values.sum(axis=1) + 0.2, data)
    >>> ax = bar(exp)
    >>> [label.get_text() for label in ax.get_yticklabels()]  # bottom to top
    ['Home', 'Income']
    >>> ax = bar(cohorts(exp, "Home"))
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['owner (n=1)', 'rent (n=2)']
    """
    if isinstance(exp, Mapping):
        return _cohort_bars(dict(exp), max_display, ax, show)
    if row is not None:
        exp = exp.loc[row]
    if exp.is_row:
        return _row_bars(exp, max_display, ax, show)
    return _cohort_bars({"": exp}, max_display, ax, show)


def _cohort_bars(groups: dict, max_display: int, ax: Axes | None, show: bool) -> Axes:
    if not groups:
        raise ValueError("bar needs at least one explanation; got an empty dict of cohorts.")
    names = {tuple(part.feature_names) for part in groups.values()}
    if len(names) != 1:
        raise ValueError(f"all cohorts must explain the same features; got {sorted(names)}.")
    # Importance over all the cohorts' rows decides the order: the mean weighted by cohort size.
    means = pd.DataFrame({name: part.values.abs().mean(axis=0) for name, part in groups.items()}).T
    sizes = np.array([len(part) for part in groups.values()], dtype=np.float64)
    overall = means.mul(sizes, axis=0).sum(axis=0) / sizes.sum()
    order = [str(name) for name in overall.sort_values(ascending=False, kind="stable").index]
    # Summing mean |attributions| of the collapsed features is the mean of the per-row sums of |attributions|.
    shown, _ = collapse_features(means, max_display, order=order)
    n_rows, n_groups = shown.shape[1], len(groups)

    ax = new_axes(ax, (8 if n_groups == 1 else 9.5, n_rows * ROW_HEIGHT * (1 + 0.25 * (n_groups - 1)) + 1.5))
    # Rows bottom to top: the least important first.
    positions = np.arange(n_rows)
    height = 0.7 / n_groups
    single = n_groups == 1
    # skig's own "other" and "missing" cohorts are told by their type, never by their text: a user's category may be
    # called "other".
    named = [name for name in groups if not isinstance(name, InventedLabel)]
    invented = {"pooled": OTHER_COLOR, "missing": GREY}
    for offset, (name, part) in enumerate(groups.items()):
        widths = shown.loc[name].to_numpy(dtype=np.float64)[::-1]
        y = positions + (n_groups - 1) / 2 * height - offset * height
        if single:
            color = RED
        else:
            color = invented[name.kind] if isinstance(name, InventedLabel) else palette_color(named.index(name))
        label = "_nolegend_" if single else f"{name} (n={len(part)})"
        bars = ax.barh(y, widths, height=height * 0.9, color=color, label=label)
        if single or n_groups <= 3:
            ax.bar_label(bars, labels=[format_number(w) for w in widths], padding=3, color=color)
    ax.set_yticks(positions, shown.columns[::-1])
    ax.set_xlabel("mean(|attribution|)")
    ax.axvline(0, color=LINE_GREY, linewidth=0.8, zorder=-1)
    ax.set_xlim(0, ax.get_xlim()[1] * 1.12)
    clean_axes(ax)
    if not single:
        # Outside the axes: with many cohorts, a legend inside would cover the bars.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0)
    return finish(ax, show)


def _row_bars(exp, max_display: int, ax: Axes | None, show: bool) -> Axes:
    shown, names = collapse_features(exp.values, max_display)
    widths = shown.iloc[0].to_numpy(dtype=np.float64)[::-1]
    ax = new_axes(ax, (8, len(widths) * ROW_HEIGHT + 1.5))
    positions = np.arange(len(widths))
    colors = [RED if width >= 0 else BLUE for width in widths]
    bars = ax.barh(positions, widths, height=0.7, color=colors)
    ax.bar_label(bars, labels=[format_attribution(w) for w in widths], padding=3, color=TEXT_GREY)
    ax.set_yticks(positions, row_labels(exp, shown.columns, names)[::-1])
    ax.set_xlabel("attribution")
    ax.axvline(0, color=LINE_GREY, linewidth=0.8, zorder=-1)
    low, high = ax.get_xlim()
    ax.set_xlim(low - 0.1 * (high - low) * (low < 0), high + 0.1 * (high - low) * (high > 0))
    clean_axes(ax)
    return finish(ax, show)
