"""Waterfall plot: one row's walk from the base value to its prediction, one arrow per feature.

SHAP's ``shap.plots.waterfall``, drawn from a one-row skig Explanation, with the raw values in the labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._common import (
    BLUE,
    GREY,
    GRID_GREY,
    LINE_GREY,
    RED,
    arrow_polygon,
    base_value_text,
    clean_axes,
    collapse_features,
    completeness_gap,
    feature_order,
    finish,
    format_attribution,
    format_number,
    new_axes,
    one_row,
    plain_text,
    points_per_unit,
    row_labels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ROW_HEIGHT = 0.5
BAR_HEIGHT = 0.8
HEAD_INCHES = 0.08
FONT_SIZE = 12
LABEL_PAD_POINTS = 5
GAP_LABEL = "completeness gap"


@plain_text
def waterfall(exp, max_display: int = 10, *, row=None, ax: Axes | None = None, show: bool = False) -> Axes:
    """From the base value at the bottom to the prediction at the top, one arrow per feature.

    Arrows that increase the output are red (SHAP's #ff0051), those that decrease it blue (#008bfb); each carries its
    signed attribution and each row its feature and raw value ("Home = rent", "Income = 1,250"). Features are
    ordered by the size of their attribution in this row, the largest at the top; beyond ``max_display`` the rest
    are summed into "N other features" at the bottom. The base value is marked below the axis under the name of
    what it is (``exp.base_value_label``: ``f(baseline)`` for one baseline row, ``E[f(background)]`` for the
    weighted mean over a background) and the prediction ``f(x)`` above it. When the attributions leave a visible
    part of ``f(x)`` minus the base value unexplained (the completeness error ``exp.delta`` of a coarse
    integration), a grey "completeness gap" arrow closes it.

    Parameters
    ----------
    exp : Explanation
        One row (``exp.loc[label]`` or ``exp.iloc[position]``), or several with ``row``.
    max_display : int, default=10
        Feature arrows drawn, the last one summing the features left out.
    row : index label, default=None
        The row to draw when ``exp`` has several, by its label in ``exp``'s index (``exp.loc[row]``), e.g. an
        applicant id; never a position: for the i-th row, pass ``exp.iloc[i]`` as ``exp`` instead.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    show : bool, default=False
        Call ``plt.show()`` after drawing.

    Returns
    -------
    matplotlib Axes
        The Axes drawn on; the arrows are its patches, bottom to top.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import waterfall
    >>> values = pd.DataFrame({"Income": [0.3, -0.2], "Home": [-0.1, 0.05]})
    >>> data = pd.DataFrame({"Income": [1250.0, 4000.0], "Home": ["rent", "owner"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2, 0.2]), values.sum(axis=1) + 0.2, data)
    >>> ax = waterfall(exp.iloc[0])
    >>> [label.get_text() for label in ax.get_yticklabels()]  # bottom to top
    ['Home = rent', 'Income = 1,250']
    >>> [text.get_text() for text in ax.texts][-2:]
    ['f(baseline) = 0.2', 'f(x) = 0.4']
    """
    exp = one_row(exp, row)
    shown, names = collapse_features(
        exp.values, max_display, order=feature_order(exp.values), label="{n} other features"
    )
    labels = row_labels(exp, shown.columns, names)
    widths = list(shown.iloc[0].to_numpy(dtype=np.float64))
    gap = completeness_gap(exp)
    if gap:
        labels.append(GAP_LABEL)
        widths.append(gap)
    # Bottom to top: the gap, the collapsed features, then the features from the smallest to the largest.
    labels, widths = labels[::-1], np.array(widths[::-1])
    base = float(exp.base_values.iloc[0])
    prediction = float(exp.predictions.iloc[0])
    ends = base + np.cumsum(widths)
    starts = ends - widths

    n_rows = len(widths)
    ax = new_axes(ax, (8, n_rows * ROW_HEIGHT + 1.5))
    points = np.concatenate([starts, ends, [base, prediction]])
    span = float(points.max() - points.min()) or max(abs(base), 1.0)
    ax.set_xlim(points.min() - 0.12 * span, points.max() + 0.12 * span)
    ax.set_ylim(-0.6, n_rows - 0.4)
    ax.set_yticks(np.arange(n_rows), labels, fontsize=12)
    clean_axes(ax)
    texts = [format_attribution(width) for width in widths]
    inside = _fit_value_labels(ax, starts, ends, texts)
    head = HEAD_INCHES * 72 / points_per_unit(ax)

    for y, (start, end, width, text) in enumerate(zip(starts, ends, widths, texts, strict=True)):
        color = GREY if gap and y == 0 else (RED if width >= 0 else BLUE)
        patch = arrow_polygon(start, end, y, BAR_HEIGHT, head)
        patch.set_facecolor(color)
        patch.set_edgecolor("none")
        ax.add_patch(patch)
        if inside[y]:
            # Centred on the arrow's body, before its head.
            neck = end - np.sign(width) * min(head, abs(width))
            ax.text((start + neck) / 2, y, text, ha="center", va="center", color="white", fontsize=FONT_SIZE)
        else:
            side = 1 if width >= 0 else -1
            ax.annotate(
                text,
                xy=(end, y),
                xytext=(side * LABEL_PAD_POINTS, 0),
                textcoords="offset points",
                ha="left" if side > 0 else "right",
                va="center",
                color=color,
                fontsize=FONT_SIZE,
            )
        ax.axhline(y, color=GRID_GREY, linewidth=0.5, dashes=(1, 5), zorder=-1)
        if y + 1 < n_rows:
            # Where this arrow ends, the next one starts.
            ax.plot([end, end], [y - 0.4, y + 1 + 0.4], color=LINE_GREY, linestyle="--", linewidth=0.5, zorder=-1)

    ax.axvline(base, 0, 0.5 / n_rows, color=LINE_GREY, linestyle="--", linewidth=0.5, zorder=-1)
    ax.axvline(prediction, color=LINE_GREY, linestyle="--", linewidth=0.5, zorder=-1)
    # The base value below the x tick labels, f(x) above the axes at the prediction.
    marks = [
        (base, 0.0, -24, "top", base_value_text(exp)),
        (prediction, 1.0, 4, "bottom", f"f(x) = {format_number(prediction)}"),
    ]
    for x, y_axes, offset, va, text in marks:
        ax.annotate(
            text,
            xy=(x, y_axes),
            xycoords=ax.get_xaxis_transform(),
            xytext=(0, offset),
            textcoords="offset points",
            ha="center",
            va=va,
            fontsize=12,
        )
    return finish(ax, show)


def _fit_value_labels(ax: Axes, starts: np.ndarray, ends: np.ndarray, texts: list[str]) -> list[bool]:
    """Which value labels fit inside their arrow's body (white), the others going past its tip; the x limits are
    widened until every label past a tip stays inside the axes, clear of the feature names left of them.

    Measured on the page after the figure's layout has placed the axes: text widths from the font, arrow lengths
    in points from the axes' width, so a label that is written inside an arrow never spills out of it.
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    ax.figure.draw_without_rendering()  # the layout engine sizes the axes around the feature names first
    font = FontProperties(size=FONT_SIZE)
    measure = TextToPath()  # in points, on any canvas (a report's figure has no renderer of its own)
    text_widths = np.array([measure.get_text_width_height_descent(text, font, ismath=False)[0] for text in texts])
    axes_points = ax.get_position().width * ax.figure.get_figwidth() * 72
    widths = ends - starts
    head = HEAD_INCHES * 72
    for _ in range(20):
        low, high = ax.get_xlim()
        per_unit = axes_points / (high - low)
        body = np.abs(widths) * per_unit - np.minimum(head, np.abs(widths) * per_unit)
        inside = text_widths + 2 * LABEL_PAD_POINTS <= body
        # Points each outside label needs beyond its tip, and the points there are between the tip and the edge.
        needed = np.where(inside, 0.0, LABEL_PAD_POINTS + text_widths + 2)
        room = np.where(widths >= 0, (high - ends) * per_unit, (ends - low) * per_unit)
        short = needed > room
        if not short.any():
            return list(inside)
        # Widen by what the shortest of room needs, in data units at the current scale; repeat as the scale changes.
        grow = (needed - room) / per_unit
        new_low = low - grow[short & (widths < 0)].max(initial=0.0)
        new_high = high + grow[short & (widths >= 0)].max(initial=0.0)
        ax.set_xlim(new_low, new_high)
    return list(inside)
