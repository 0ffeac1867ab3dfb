"""Beeswarm plot: every row's attribution for each feature, points swarmed by density and coloured by the value.

SHAP's ``shap.plots.beeswarm``, drawn from a skig Explanation, with categories coloured and named in a legend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import (
    GREY,
    GRID_GREY,
    LINE_GREY,
    MISSING,
    add_colorbar,
    clean_axes,
    collapse_features,
    feature_column,
    finish,
    is_numeric,
    legend_handles,
    new_axes,
    point_colors,
    solid,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_HEIGHT = 0.4
N_BINS = 100


def beeswarm(
    exp,
    max_display: int = 10,
    *,
    ax: Axes | None = None,
    show: bool = False,
    color_bar: bool = True,
    size: float = 16,
    alpha: float = 1.0,
) -> Axes:
    """One row of points per feature, most important at the top; each point is one explained row.

    A point's position is the row's attribution for the feature; points are spread vertically where they are dense.
    Numeric features are coloured by their value on SHAP's blue (low) to red (high) scale, trimmed at the 5th and
    95th percentiles, with a "Feature value" colour bar; categorical features get one colour per category, named in a
    legend ("Home = rent"). Missing values are grey. The "Sum of N other features" row, drawn when there are more
    features than ``max_display``, is grey: it has no single value to colour by.

    Parameters
    ----------
    exp : Explanation
        The attributions of several rows.
    max_display : int, default=10
        Feature rows drawn, the last one summing the features left out.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    show : bool, default=False
        Call ``plt.show()`` after drawing.
    color_bar : bool, default=True
        Draw the colour bar of numeric features (and the legend of categorical ones).
    size : float, default=16
        Marker area in points squared.
    alpha : float, default=1.0
        Marker opacity.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on. Each feature row is one collection in ``ax.collections``, top row first.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import beeswarm
    >>> values = pd.DataFrame({"Income": [0.3, -0.2, 0.1, -0.1], "Home": [0.1, -0.05, 0.0, 0.02]})
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0, None, 2500.0], "Home": ["rent", "owner", "rent", "owner"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 4), values.sum(axis=1) + 0.2, data)
    >>> ax = beeswarm(exp)
    >>> [label.get_text() for label in ax.get_yticklabels()]  # bottom to top
    ['Home', 'Income']
    """
    if len(exp) == 0:
        raise ValueError("beeswarm needs at least one row; the explanation is empty.")
    shown, names = collapse_features(exp.values, max_display)
    n_rows = shown.shape[1]
    ax = new_axes(ax, (8, n_rows * ROW_HEIGHT + 1.5))
    ax.axvline(0, color=LINE_GREY, zorder=-1)

    rng = np.random.default_rng(0)
    legend: dict[str, str] = {}
    any_numeric = any_missing = False
    for rank, label in enumerate(shown.columns):
        y = n_rows - 1 - rank
        ax.axhline(y, color=GRID_GREY, linewidth=0.5, dashes=(1, 5), zorder=-1)
        attributions = shown[label].to_numpy(dtype=np.float64)
        if label in names:
            values = feature_column(exp.data, label)
            colors = point_colors(values, first_color=len(legend), legend_prefix=f"{label} = ")
            any_numeric |= is_numeric(values)
            any_missing |= colors.has_missing
            legend.update(colors.legend)
            rgba = colors.rgba
        else:
            rgba = solid(GREY, len(attributions))
        # Draw in a random (seeded) order so that no value systematically hides the others.
        order = rng.permutation(len(attributions))
        ax.scatter(
            attributions[order],
            y + swarm_offsets(attributions[order]),
            c=rgba[order],
            s=size,
            alpha=alpha,
            linewidth=0,
            zorder=3,
            rasterized=len(attributions) > 500,
            label=f"_{label}",
        )

    if any_missing:
        legend[MISSING] = GREY
    if color_bar and any_numeric:
        add_colorbar(ax, "Feature value", ticks={0: "Low", 1: "High"})
    if color_bar and legend:
        ax.legend(
            handles=legend_handles(legend),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.15),
            ncol=min(4, len(legend)),
            frameon=False,
        )
    ax.set_yticks(np.arange(n_rows), shown.columns[::-1])
    ax.set_ylim(-1, n_rows)
    ax.set_xlabel(f"attribution (impact on {exp.output} model output)")
    clean_axes(ax)
    return finish(ax, show)


def swarm_offsets(values: np.ndarray, row_height: float = ROW_HEIGHT) -> np.ndarray:
    """Vertical offsets that stack points of nearby values into layers alternating above and below the row.

    SHAP's binning swarm: values fall into ``N_BINS`` bins across their range; the k-th point of a bin goes to layer
    ``ceil(k / 2)``, above for odd k and below for even k; layers are scaled so the widest bin fills the row.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0)
    span = values.max() - values.min()
    bins = np.round(N_BINS * (values - values.min()) / (span + 1e-8))
    offsets = np.zeros(n)
    layer = 0
    previous = None
    for index in np.argsort(bins, kind="stable"):
        layer = 0 if bins[index] != previous else layer + 1
        offsets[index] = np.ceil(layer / 2) * (1 if layer % 2 else -1)
        previous = bins[index]
    return offsets * 0.9 * (row_height / np.max(offsets + 1))
