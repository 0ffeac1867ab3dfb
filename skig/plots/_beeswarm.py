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
    MAX_CATEGORIES,
    MISSING,
    add_colorbar,
    clean_axes,
    collapse_features,
    feature_column,
    finish,
    is_numeric,
    new_axes,
    plain_text,
    point_colors,
    shorten,
    solid,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_HEIGHT = 0.4
N_BINS = 100
LEGEND_FONT_SIZE = 9
LEGEND_LINE_INCHES = 0.2
MIN_LABEL_CHARS = 14
HANDLE_EMS, TEXT_PAD_EMS, COLUMN_SPACING_EMS = 1.0, 0.4, 1.2


@plain_text
def beeswarm(
    exp,
    max_display: int = 10,
    *,
    ax: Axes | None = None,
    show: bool = False,
    color_bar: bool = True,
    size: float = 16,
    alpha: float = 1.0,
    max_categories: int = MAX_CATEGORIES,
) -> Axes:
    """One row of points per feature, most important at the top; each point is one explained row.

    A point's position is the row's attribution for the feature; points are spread vertically where they are dense.
    Numeric features are coloured by their value on SHAP's blue (low) to red (high) scale, trimmed at the 5th and
    95th percentiles, with a "Feature value" colour bar. Categorical features are named in a legend under the x axis
    label, one line per feature: the ``max_categories`` most frequent categories get a colour each (never repeated
    within the feature) and the rest are one light grey "other"; an ordered ``pd.Categorical`` runs instead along a
    sequential (viridis) map in its order, the legend naming evenly spaced levels from the first to the last.
    Missing values are grey. The "Sum of N other features" row, drawn when there are more features than
    ``max_display``, is grey: it has no single value to colour by. A new figure is made tall enough for the legend,
    so the rows keep their height.

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
    max_categories : int, default=6
        Categories named per categorical feature, at most 8 (the palette's size).

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
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0, 1500.0, 2500.0], "Home": ["rent", "owner", "rent", "owner"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 4), values.sum(axis=1) + 0.2, data)
    >>> ax = beeswarm(exp)
    >>> [label.get_text() for label in ax.get_yticklabels()]  # bottom to top
    ['Home', 'Income']
    >>> [text.get_text() for text in ax.get_legend().get_texts()]  # one line per categorical feature
    ['Home', 'owner', 'rent']
    """
    if len(exp) == 0:
        raise ValueError("beeswarm needs at least one row; the explanation is empty.")
    shown, names = collapse_features(exp.values, max_display)
    n_rows = shown.shape[1]
    colors = {label: point_colors(feature_column(exp.data, label), max_categories) for label in names}
    numeric = [label for label in names if is_numeric(feature_column(exp.data, label))]
    legend_rows = [(label, colors[label].legend_with_missing()) for label in names if label not in numeric]
    numbers_missing = [label for label in numeric if colors[label].has_missing]
    if numbers_missing:
        legend_rows.append((", ".join(numbers_missing), {MISSING: GREY}))
    legend_rows = legend_rows if color_bar else []
    n_lines = len(_legend_grid(legend_rows, 8 * 0.8 * 72))
    ax = new_axes(ax, (8, n_rows * ROW_HEIGHT + 1.5 + (n_lines * LEGEND_LINE_INCHES + 0.2) * bool(n_lines)))
    ax.axvline(0, color=LINE_GREY, zorder=-1)

    rng = np.random.default_rng(0)
    for rank, label in enumerate(shown.columns):
        y = n_rows - 1 - rank
        ax.axhline(y, color=GRID_GREY, linewidth=0.5, dashes=(1, 5), zorder=-1)
        attributions = shown[label].to_numpy(dtype=np.float64)
        rgba = colors[label].rgba if label in colors else solid(GREY, len(attributions))
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

    if legend_rows:  # before the colour bar takes its part of the width
        _legend_under_axis_label(ax, legend_rows)
    if color_bar and numeric:
        add_colorbar(ax, "Feature value", ticks={0: "Low", 1: "High"})
    ax.set_yticks(np.arange(n_rows), shown.columns[::-1])
    ax.set_ylim(-1, n_rows)
    ax.set_xlabel(f"attribution (impact on {exp.outcome or f'{exp.output} model output'})")
    clean_axes(ax)
    return finish(ax, show)


def _legend_grid(rows: list[tuple[str, dict[str, str]]], width_points: float) -> list[list[tuple[str, str | None]]]:
    """Legend cells line by line: each feature's name, then its colours, wrapped to lines as wide as the axes.

    The widest grid whose columns (each as wide as its longest text, as matplotlib lays them out) fit the width.
    """
    if not rows:
        return []
    for n_columns in range(1 + max(len(entries) for _, entries in rows), 1, -1):
        grid = _legend_lines(rows, n_columns)
        if _legend_width(grid) <= width_points:
            return grid
    # Two columns of whole names are too wide: cut the longest names (never two alike) until they fit.
    for max_chars in range(max(len(text) for cells in grid for text, _ in cells) - 1, MIN_LABEL_CHARS - 1, -1):
        headers = shorten([header for header, _ in rows], max_chars)
        shortened = [
            (header, dict(zip(shorten(list(entries), max_chars), entries.values(), strict=True)))
            for header, (_, entries) in zip(headers, rows, strict=True)
        ]
        grid = _legend_lines(shortened, 2)
        if _legend_width(grid) <= width_points:
            break
    return grid


def _legend_lines(rows: list[tuple[str, dict[str, str]]], n_columns: int) -> list[list[tuple[str, str | None]]]:
    """Each feature's name then its entries, wrapped every ``n_columns`` cells, later lines indented by one cell."""
    grid = []
    for header, entries in rows:
        line = [(header, None)]
        for label, color in entries.items():
            if len(line) == n_columns:
                grid.append(line)
                line = [("", None)]
            line.append((label, color))
        grid.append(line + [("", None)] * (n_columns - len(line)))
    return grid


def _legend_width(grid: list[list[tuple[str, str | None]]]) -> float:
    """Width in points of a legend of these lines: each column's widest text, marker and spacing (in ems)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure = TextToPath()
    width = 0.0
    for column, cells in enumerate(zip(*grid, strict=True)):
        font = FontProperties(size=LEGEND_FONT_SIZE, weight="bold" if column == 0 else "normal")
        text = max(measure.get_text_width_height_descent(label, font, ismath=False)[0] for label, _ in cells)
        width += text + (HANDLE_EMS + TEXT_PAD_EMS + COLUMN_SPACING_EMS) * LEGEND_FONT_SIZE
    return width


def _legend_under_axis_label(ax: Axes, rows: list[tuple[str, dict[str, str]]]) -> None:
    """The categories' legend, one line per feature, placed a fixed distance below the x axis label.

    The distance is in points (tick labels and axis label have fixed sizes in points), so it holds whatever the
    figure's size or layout engine; constrained and tight layouts then make room for the legend.
    """
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D
    from matplotlib.transforms import ScaledTranslation

    width = ax.get_position().width * ax.figure.get_figwidth() * 72
    grid = _legend_grid(rows, width)
    rc = mpl.rcParams
    tick_size = FontProperties(size=rc["xtick.labelsize"]).get_size_in_points()
    label_size = FontProperties(size=rc["axes.labelsize"]).get_size_in_points()
    below = rc["xtick.major.size"] + rc["xtick.major.pad"] + 1.4 * tick_size + rc["axes.labelpad"]
    below += 1.4 * label_size + 4
    handles = [
        Line2D(
            [],
            [],
            marker="o" if color else "",
            linestyle="",
            markersize=7,
            markerfacecolor=color or "none",
            markeredgewidth=0,
            label=label,
        )
        # matplotlib fills a legend column by column: hand it the grid transposed so that each line reads across.
        for column in range(len(grid[0]))
        for label, color in (line[column] for line in grid)
    ]
    legend = ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=ax.transAxes + ScaledTranslation(0, -below / 72, ax.figure.dpi_scale_trans),
        ncol=len(grid[0]),
        frameon=False,
        fontsize=LEGEND_FONT_SIZE,
        handlelength=HANDLE_EMS,
        handletextpad=TEXT_PAD_EMS,
        columnspacing=COLUMN_SPACING_EMS,
        borderaxespad=0,
    )
    for handle, text in zip(handles, legend.get_texts(), strict=True):
        if handle.get_marker() in ("", "None", None) and text.get_text():
            text.set_fontweight("bold")


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
