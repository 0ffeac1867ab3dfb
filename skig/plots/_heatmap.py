"""Heatmap plot: the rows x features matrix of attributions, with the prediction line above and importance beside.

SHAP's ``shap.plots.heatmap``, drawn from a skig Explanation; rows ordered by prediction or by clustering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import LINE_GREY, add_colorbar, collapse_features, finish, format_number, new_axes, plain_text, red_blue

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_HEIGHT = 0.5
_AXIS_LABELS = {"prediction": "rows, by increasing prediction", "cluster": "rows, clustered by attributions"}


@plain_text
def heatmap(exp, order="prediction", max_display: int = 10, *, ax: Axes | None = None, show: bool = False) -> Axes:
    """Attributions as colours, one column per explained row and one line per feature (most important at the top).

    Above the matrix, the line ``f(x)`` follows each row's prediction (relative to the mean base value, dashed), read
    on its own scale right of it; to the right of the matrix, black bars give each feature's mean absolute
    attribution. Colours are SHAP's blue (lowers the output)
    to red (raises it), symmetric around zero and clipped at the 1st and 99th percentiles.

    Parameters
    ----------
    exp : Explanation
        The attributions of several rows.
    order : {"prediction", "cluster"} or array-like of int, default="prediction"
        Order of the rows (the x axis): by increasing prediction, by hierarchical clustering of their attributions
        (scipy, Ward linkage with optimal leaf ordering, so similar rows are neighbours), or these positions.
    max_display : int, default=10
        Feature lines drawn, the last one summing the features left out.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    show : bool, default=False
        Call ``plt.show()`` after drawing.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on; the matrix is ``ax.images[0]``, the f(x) line ``ax.lines[-1]``.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import heatmap
    >>> values = pd.DataFrame({"Income": [0.3, -0.2, 0.1], "Home": [0.1, -0.05, 0.0]})
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0, 1500.0], "Home": ["rent", "owner", "rent"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 3), values.sum(axis=1) + 0.2, data)
    >>> ax = heatmap(exp, order="prediction")
    >>> ax.images[0].get_array().shape  # features x rows
    (2, 3)
    """
    if len(exp) == 0:
        raise ValueError("heatmap needs at least one row; the explanation is empty.")
    positions = row_order(exp, order)
    shown, _ = collapse_features(exp.values, max_display)
    matrix = shown.to_numpy(dtype=np.float64)[positions].T
    n_features, n_rows = matrix.shape

    ax = new_axes(ax, (8, n_features * ROW_HEIGHT + 2.5))
    low, high = np.nanpercentile(matrix, [1, 99])
    limit = max(abs(low), abs(high)) or 1.0
    image = ax.imshow(
        matrix, aspect="auto", interpolation="nearest", cmap=red_blue(white_middle=True), vmin=-limit, vmax=limit
    )

    # f(x) in the band above the matrix: its dashed centre is the mean base value.
    base = float(exp.base_values.mean())
    predictions = exp.predictions.to_numpy(dtype=np.float64)[positions]
    scale = np.abs(predictions - base).max() or 1.0
    ax.axhline(-1.5, color=LINE_GREY, linestyle="--", linewidth=0.5)
    ax.plot(np.arange(n_rows), -1.5 - (predictions - base) / scale, color="black", linewidth=1)
    _fx_scale(ax, base, scale, predictions)

    importance = np.abs(matrix).mean(axis=1)
    bars = ax.barh(
        np.arange(n_features),
        importance / (importance.max() or 1.0) * n_rows / 20,
        left=n_rows - 0.5,
        height=0.7,
        color="black",
    )
    for patch in bars:
        patch.set_clip_on(False)

    ax.set_xlim(-0.5, n_rows - 0.5)
    ax.set_ylim(n_features - 0.5, -3)
    ax.set_yticks([-1.5, *range(n_features)], ["f(x)", *shown.columns])
    ax.yaxis.get_ticklines()[0].set_visible(False)
    ax.set_xlabel(_AXIS_LABELS[order] if isinstance(order, str) else "rows")
    ax.spines[["top", "bottom"]].set_visible(False)
    ax.spines[["left", "right"]].set_bounds(n_features - 0.5, -0.5)
    add_colorbar(
        ax,
        "attribution",
        norm=image.norm,
        ticks={-limit: format_number(-limit), 0: "0", limit: format_number(limit)},
        white_middle=True,
        pad=0.12,
    )
    return finish(ax, show)


def _fx_scale(ax: Axes, base: float, scale: float, predictions: np.ndarray) -> None:
    """The f(x) band's own scale, right of it (where the importance bars leave room): ticks between the lowest and
    the highest prediction, mapped as the line is (the dashed centre is ``base``, the band's half height ``scale``).
    """
    from matplotlib.ticker import MaxNLocator

    band = ax.secondary_yaxis(
        "right", functions=(lambda y: base - (y + 1.5) * scale, lambda value: -1.5 - (value - base) / scale)
    )
    low, high = float(predictions.min()), float(predictions.max())
    ticks = [t for t in MaxNLocator(3).tick_values(low, high) if low - 1e-12 <= t <= high + 1e-12]
    if len(ticks) < 2:
        ticks = sorted({low, high})
    band.set_yticks(ticks, [format_number(tick) for tick in ticks], fontsize=8)
    band.tick_params(length=3, pad=2)
    band.spines["right"].set_bounds(low, high)


def row_order(exp, order) -> np.ndarray:
    """Row positions in drawing order for ``order`` ("prediction", "cluster" or explicit positions)."""
    if isinstance(order, str):
        if order == "prediction":
            return np.argsort(exp.predictions.to_numpy(dtype=np.float64), kind="stable")
        if order == "cluster":
            values = exp.values.to_numpy(dtype=np.float64)
            if len(values) < 3:
                return np.arange(len(values))
            from scipy.cluster.hierarchy import leaves_list, linkage

            return leaves_list(linkage(values, method="ward", optimal_ordering=True))
        raise ValueError(f"order must be one of {list(_AXIS_LABELS)} or an array of row positions, got {order!r}.")
    positions = np.asarray(order)
    if positions.dtype.kind not in "iu" or sorted(positions.tolist()) != list(range(len(exp))):
        raise ValueError(f"order as positions must be a permutation of 0..{len(exp) - 1}, got {order!r}.")
    return positions
