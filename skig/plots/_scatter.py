"""Scatter (dependence) plot: a feature's raw value against its attribution, optionally coloured by another feature.

SHAP's ``shap.plots.scatter``, drawn from a skig Explanation; categories are jittered columns with their names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._labels import missing_label, value_labels
from ._common import (
    BLUE,
    GREY,
    LINE_GREY,
    MAX_CATEGORIES,
    MISSING,
    add_colorbar,
    categories,
    category_ticks,
    clean_axes,
    feature_column,
    finish,
    format_number,
    format_value,
    is_numeric,
    legend_handles,
    new_axes,
    plain_text,
    point_colors,
    solid,
)
from ._interactions import strongest_partner

if TYPE_CHECKING:
    from matplotlib.axes import Axes

JITTER = 0.3


@plain_text
def scatter(
    exp,
    feature: str,
    color: str | None = None,
    *,
    ax: Axes | None = None,
    show: bool = False,
    size: float = 16,
    alpha: float = 1.0,
    max_categories: int = MAX_CATEGORIES,
) -> Axes:
    """Each row's value of ``feature`` (x) against its attribution for that feature (y).

    A numeric feature is drawn on its scale, rows where it is missing as grey ticks at the left edge (as SHAP does).
    A categorical feature gets one column per category, jittered sideways (seeded) so that points do not hide each
    other, named on the x axis; missing values are a grey last column "missing". With ``color``, points are coloured
    by that feature: numbers on the blue-red scale with a colour bar, categories with a legend, missing grey.

    Parameters
    ----------
    exp : Explanation
        The attributions of several rows.
    feature : str
        The feature drawn.
    color : str, default=None
        A feature to colour the points by. When None: the feature interacting most with ``feature`` (largest mean
        absolute interaction) if ``exp`` has interactions (``explain(X, interactions=True)``), as SHAP does for
        trees; else SHAP's blue.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    show : bool, default=False
        Call ``plt.show()`` after drawing.
    size : float, default=16
        Marker area in points squared.
    alpha : float, default=1.0
        Marker opacity.
    max_categories : int, default=6
        Categories of ``color`` named in the legend, at most 8 (the palette's size).

    Returns
    -------
    matplotlib Axes
        The Axes drawn on. ``ax.collections[0]`` holds the points with a value, ``ax.collections[1]`` (numeric
        features with missing values only) the missing ones.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import scatter
    >>> values = pd.DataFrame({"Income": [0.3, -0.2, 0.1], "Home": [0.1, -0.05, 0.0]})
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0, 1500.0], "Home": ["rent", "owner", "rent"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 3), values.sum(axis=1) + 0.2, data)
    >>> ax = scatter(exp, "Home", color="Income")
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['owner', 'rent']
    """
    from matplotlib.ticker import FuncFormatter

    if color is None:
        color = strongest_partner(exp, feature)
    values = feature_column(exp.data, feature)
    attributions = feature_column(exp.values, feature).to_numpy(dtype=np.float64)
    missing = values.isna().to_numpy()
    colors = point_colors(feature_column(exp.data, color), max_categories) if color is not None else None
    rgba = colors.rgba if colors is not None else solid(BLUE, len(values))
    n_columns = 0 if is_numeric(values) else len(categories(values)) + bool(missing.any())
    ax = new_axes(ax, (min(14.0, max(6.5, 1.8 + 0.2 * n_columns)), 5))

    if is_numeric(values):
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~missing
        ax.scatter(x[present], attributions[present], c=rgba[present], s=size, alpha=alpha, linewidth=0, zorder=3)
        if missing.any():
            # Missing values as ticks on the left edge, coloured like the others (grey without ``color``).
            low, high = (np.nanmin(x), np.nanmax(x)) if present.any() else (0.0, 1.0)
            edge = low - 0.05 * ((high - low) or 1.0)
            nan_rgba = rgba[missing] if colors is not None else solid(GREY, int(missing.sum()))
            ax.scatter(
                np.full(int(missing.sum()), edge),
                attributions[missing],
                c=nan_rgba,
                marker=1,
                s=size * 4,
                linewidth=2,
                zorder=3,
                label=f"{feature} {MISSING}",
            )
            ax.set_xlim(left=edge - 0.02 * ((high - low) or 1.0))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: format_number(value)))
    else:
        levels = categories(values)
        positions = np.full(len(values), float(len(levels)))
        for position, level in enumerate(levels):
            positions[(values == level).to_numpy(dtype=bool, na_value=False)] = position
        jitter = np.random.default_rng(0).uniform(-JITTER, JITTER, len(values))
        if colors is None:
            rgba[missing] = solid(GREY, 1)
        ax.scatter(positions + jitter, attributions, c=rgba, s=size, alpha=alpha, linewidth=0, zorder=3)
        names = value_labels(levels, format_value)
        names += [missing_label(names)] if missing.any() else []
        ax.set_xlim(-0.5, len(names) - 0.5)
        category_ticks(ax, names)

    ax.axhline(0, color=LINE_GREY, linewidth=0.8, zorder=-1)
    if colors is not None:
        legend = colors.legend_with_missing()
        where = {"ax": ax, "loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "title": color}
        if colors.norm is not None:
            colorbar = add_colorbar(ax, color, norm=colors.norm)
            # Only "missing" is left to name: under the colour bar, clear of the points.
            where = {"ax": colorbar.ax, "loc": "upper center", "bbox_to_anchor": (0.5, -0.02), "title": None}
        if legend:
            where.pop("ax").legend(handles=legend_handles(legend), frameon=False, borderaxespad=0, **where)
    ax.set_xlabel(feature)
    ax.set_ylabel(f"attribution of {feature}")
    clean_axes(ax, left=True)
    return finish(ax, show)
