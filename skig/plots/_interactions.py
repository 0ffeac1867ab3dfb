"""Interaction heatmap: which pairs of features act together (``explain(X, interactions=True)``).

Several rows: the mean absolute interaction of every pair; one row (``exp.loc[label]``): its signed matrix. The
diagonal (each feature's own, non-interacting part) is left blank so that the pairs set the colour scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import check_max_display, finish, format_number, new_axes, plain_text, red_blue, shorten

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@plain_text
def interaction_heatmap(exp, max_display: int = 10, *, ax: Axes | None = None, show: bool = False) -> Axes:
    """Pairwise interactions as a square of colours, the most interacting features first.

    For several rows each cell is the mean absolute interaction of the pair (white to red); for one row
    (``exp.loc[label]``) it is the row's signed interaction, blue (together they lower the output) to red. Features
    are ordered by their summed off-diagonal interactions; cells hold their number when at most 12 features show.

    Parameters
    ----------
    exp : Explanation
        Explained with ``interactions=True``.
    max_display : int, default=10
        Features shown.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    show : bool, default=False
        Call ``plt.show()`` after drawing.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on; the matrix is ``ax.images[0]`` (NaN on the diagonal).

    Raises
    ------
    ValueError
        If the explanation has no interactions.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import skig
    >>> from skig.plots import interaction_heatmap
    >>> values = pd.DataFrame({"Income": [0.3, -0.2], "Home": [0.1, -0.05]})
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0], "Home": ["rent", "owner"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 2), values.sum(axis=1) + 0.2, data)
    >>> exp.set_interactions(np.array([[[0.2, 0.1], [0.1, 0.0]], [[-0.25, 0.05], [0.05, -0.1]]]))
    >>> ax = interaction_heatmap(exp)
    >>> ax.images[0].get_array().shape
    (2, 2)
    """
    matrices = getattr(exp, "_interactions", None)
    if matrices is None:
        raise ValueError("this explanation has no interactions: explain the rows with interactions=True.")
    max_display = check_max_display(max_display)
    one_row = bool(exp.is_row) or len(matrices) == 1
    matrix = matrices[0] if one_row else np.abs(matrices).mean(axis=0)
    off = np.abs(matrix) * (1 - np.eye(len(matrix)))
    order = np.argsort(-off.sum(axis=1), kind="stable")[:max_display]
    shown = matrix[np.ix_(order, order)].copy()
    np.fill_diagonal(shown, np.nan)
    names = [str(exp.values.columns[i]) for i in order]
    n_shown = len(order)

    ax = new_axes(ax, (1.6 + 0.6 * n_shown, 1.0 + 0.6 * n_shown))
    limit = float(np.nanmax(np.abs(shown))) if n_shown > 1 and np.isfinite(shown).any() else 1.0
    limit = limit or 1.0
    if one_row:
        image = ax.imshow(shown, cmap=red_blue(white_middle=True), vmin=-limit, vmax=limit, interpolation="nearest")
    else:
        image = ax.imshow(shown, cmap="Reds", vmin=0.0, vmax=limit, interpolation="nearest")
    if n_shown <= 12:
        for row in range(n_shown):
            for column in range(n_shown):
                if row != column:
                    ax.text(column, row, format_number(shown[row, column]), ha="center", va="center", fontsize=8)
    labels = shorten(names, 24)
    ax.set_xticks(range(n_shown), labels, rotation=45, ha="right")
    ax.set_yticks(range(n_shown), labels)
    ax.set_title("interaction" if one_row else "mean |interaction|")
    colorbar = ax.figure.colorbar(image, ax=ax, aspect=30, pad=0.02)
    colorbar.set_label("interaction" if one_row else "mean |interaction|")
    colorbar.outline.set_visible(False)
    return finish(ax, show)


def strongest_partner(exp, feature: str) -> str | None:
    """The feature with the largest mean absolute interaction with ``feature`` (None without interactions)."""
    matrices = getattr(exp, "_interactions", None)
    if matrices is None or matrices.shape[1] < 2:
        return None
    columns = [str(name) for name in exp.values.columns]
    position = columns.index(str(feature))
    strength = np.abs(matrices[:, position, :]).mean(axis=0)
    strength[position] = -np.inf
    return exp.values.columns[int(np.argmax(strength))]
