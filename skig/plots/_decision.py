"""Decision plot: each row's path from the base value to its prediction, adding features from the least important.

SHAP's ``shap.plots.decision``, drawn from a skig Explanation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import (
    GRID_GREY,
    LINE_GREY,
    TEXT_GREY,
    base_value_text,
    clean_axes,
    clip_to_probabilities,
    collapse_features,
    finish,
    new_axes,
    plain_text,
    red_blue,
    row_labels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_HEIGHT = 0.4


@plain_text
def decision(
    exp, max_display: int = 20, *, row=None, ax: Axes | None = None, show: bool = False, alpha: float = 1.0
) -> Axes:
    """One line per row, from its base value at the bottom up to its prediction at the top.

    Features are stacked by global importance, the most important at the top; each line moves right or left by the
    row's attribution of the feature it crosses, so where lines fan out shows which features separate the rows.
    Lines are coloured by prediction on SHAP's blue (low) to red (high) scale. Beyond ``max_display``, the least
    important features are summed into "Sum of N other features" at the bottom. For one row, labels carry its values.
    The base value's line is named under the axis as what it is (``exp.base_value_label``: ``f(baseline)`` or
    ``E[f(background)]``, "mean" first when rows explained for different classes start from different ones); the
    output scale is read on top, where the paths end. In probability space the scale stops at 0 and 1 unless a path
    crosses them (a path's partial sums may).

    Parameters
    ----------
    exp : Explanation
        The attributions of one or several rows.
    max_display : int, default=20
        Feature steps drawn, the lowest one summing the features left out.
    row : index label, default=None
        One row to draw alone, by its label in ``exp``'s index (``exp.loc[row]``); for a position, pass
        ``exp.iloc[position]`` as ``exp`` instead.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    show : bool, default=False
        Call ``plt.show()`` after drawing.
    alpha : float, default=1.0
        Line opacity; lower it for many rows.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on; each row's path is one of ``ax.lines`` (after the base value line), ending at x =
        base value + sum of attributions.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import decision
    >>> values = pd.DataFrame({"Income": [0.3, -0.2, 0.1], "Home": [0.1, -0.05, 0.0]})
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0, 1500.0], "Home": ["rent", "owner", "rent"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 3), values.sum(axis=1) + 0.2, data)
    >>> ax = decision(exp)
    >>> [round(float(line.get_xdata()[-1]), 2) for line in ax.lines[1:]]
    [0.6, -0.05, 0.3]
    """
    from matplotlib.colors import Normalize

    if row is not None:
        exp = exp.loc[row]
    if len(exp) == 0:
        raise ValueError("decision needs at least one row; the explanation is empty.")
    shown, names = collapse_features(exp.values, max_display)
    # Bottom to top: the least important step first, so the paths end with the features that matter most.
    steps = shown.to_numpy(dtype=np.float64)[:, ::-1]
    base = exp.base_values.to_numpy(dtype=np.float64)
    paths = np.column_stack([base, base[:, None] + np.cumsum(steps, axis=1)])
    n_steps = steps.shape[1]

    ax = new_axes(ax, (8, n_steps * ROW_HEIGHT + 1.5))
    ax.axvline(float(base.mean()), color=LINE_GREY, zorder=-1)
    ax.hlines(
        range(n_steps + 1), 0, 1, transform=ax.get_yaxis_transform(), color=GRID_GREY, linewidth=0.5, linestyles=":"
    )
    ends = paths[:, -1]
    norm = Normalize(ends.min(), ends.max()) if ends.max() > ends.min() else Normalize(ends.min() - 1, ends.max() + 1)
    colormap = red_blue()
    heights = np.arange(n_steps + 1)
    for path, end in zip(paths, ends, strict=True):
        ax.plot(path, heights, color=colormap(norm(end)), alpha=alpha, linewidth=1)

    clip_to_probabilities(ax, exp.output, float(paths.min()), float(paths.max()))
    labels = row_labels(exp, shown.columns, names) if len(exp) == 1 else list(shown.columns)
    ax.set_yticks(np.arange(n_steps) + 0.5, labels[::-1])
    ax.set_ylim(0, n_steps)
    clean_axes(ax)
    # SHAP's decision plot reads its output scale on top, where the paths end; the base value is named at the bottom.
    ax.tick_params(axis="x", top=True, labeltop=True)
    ax.xaxis.set_label_position("top")
    ax.set_xlabel(exp.outcome or f"model output ({exp.output})")
    ax.annotate(
        base_value_text(exp),
        xy=(float(base.mean()), 0.0),
        xycoords=ax.get_xaxis_transform(),
        xytext=(0, -22),
        textcoords="offset points",
        ha="center",
        va="top",
        color=TEXT_GREY,
    )
    return finish(ax, show)
