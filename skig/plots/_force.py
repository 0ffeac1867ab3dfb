"""Force plot: one row's contributions as a band of arrows, increases pushing right and decreases left, meeting at f(x).

A static matplotlib version of SHAP's ``shap.plots.force``, drawn from a one-row skig Explanation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._labels import distinct_label
from ._common import (
    BLUE,
    GREY,
    LINE_GREY,
    RED,
    TEXT_GREY,
    arrow_polygon,
    base_value_text,
    check_max_display,
    clip_to_probabilities,
    completeness_gap,
    feature_column,
    finish,
    format_number,
    format_value,
    new_axes,
    one_row,
    plain_text,
    points_per_unit,
    text_points,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BAND_HEIGHT = 0.3
HEAD_INCHES = 0.1
FONT_SIZE = 9
GAP_LABEL = "completeness gap"


@plain_text
def force(exp, max_display: int = 10, *, row=None, ax: Axes | None = None, show: bool = False) -> Axes:
    """One row's attributions as a band: red arrows push the output up to f(x), blue ones push it down to f(x).

    Increases are stacked left of ``f(x)`` and decreases right of it, the largest nearest to ``f(x)``; the red part
    starts where the base value minus all decreases lies, so the base value is marked inside the band, named as what
    it is (``exp.base_value_label``: ``f(baseline)`` or ``E[f(background)]``). The
    ``max_display`` largest arrows that are wide enough carry their feature and raw value underneath. A visible
    completeness error (``exp.delta``) is a grey arrow at the far end of its side. In probability space the axis stops
    at 0 and 1 unless the band itself crosses them.

    Parameters
    ----------
    exp : Explanation
        One row (``exp.loc[label]`` or ``exp.iloc[position]``), or several with ``row``.
    max_display : int, default=10
        Most arrows labelled with their feature and value.
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
        The Axes drawn on; its patches are the arrows, increases first.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import force
    >>> values = pd.DataFrame({"Income": [0.3, -0.2], "Home": [-0.1, 0.05], "Age": [0.02, 0.0]})
    >>> data = pd.DataFrame({"Income": [1250.0, 4000.0], "Home": ["rent", "owner"], "Age": [30, 51]})
    >>> exp = skig.Explanation(values, pd.Series([0.2, 0.2]), values.sum(axis=1) + 0.2, data)
    >>> ax = force(exp.iloc[0])
    >>> len(ax.patches)  # two increases, one decrease
    3
    >>> sorted(text.get_text() for text in ax.texts if text.get_text().startswith("f("))
    ['f(baseline) = 0.2', 'f(x) = 0.42']
    """
    exp = one_row(exp, row)
    max_display = check_max_display(max_display)
    contributions = {str(name): float(value) for name, value in exp.values.iloc[0].items() if value != 0}
    gap = completeness_gap(exp)
    base = float(exp.base_values.iloc[0])
    prediction = float(exp.predictions.iloc[0])
    increases = sorted((item for item in contributions.items() if item[1] > 0), key=lambda item: -item[1])
    decreases = sorted((item for item in contributions.items() if item[1] < 0), key=lambda item: item[1])
    # The gap's name is None here, never a text: a feature may be called "completeness gap".
    if gap > 0:
        increases.append((None, gap))
    elif gap < 0:
        decreases.append((None, gap))
    labelled = {name for name, _ in sorted(contributions.items(), key=lambda item: -abs(item[1]))[:max_display]}

    ax = new_axes(ax, (12, 2.4))
    total_up = sum(value for _, value in increases)
    total_down = -sum(value for _, value in decreases)
    low, high = prediction - total_up, prediction + total_down
    span = (high - low) or max(abs(prediction), 1.0)
    ax.set_xlim(min(low, base) - 0.05 * span, max(high, base) + 0.05 * span)
    clip_to_probabilities(ax, exp.output, min(low, base), max(high, base))
    ax.set_ylim(-0.75, 1.0)
    per_unit = points_per_unit(ax)
    head = HEAD_INCHES * 72 / per_unit

    # Each side is laid out from f(x) outwards: the arrow nearest f(x) is the largest.
    for side, items in ((-1, increases), (1, decreases)):
        edge = prediction
        for name, value in items:
            far = edge + side * abs(value)
            color = GREY if name is None else (RED if value > 0 else BLUE)
            patch = arrow_polygon(far, edge, 0.0, BAND_HEIGHT, head, notch=True)
            patch.set_facecolor(color)
            patch.set_edgecolor("white")
            patch.set_linewidth(0.8)
            ax.add_patch(patch)
            if name in labelled or name is None:
                value_text = "" if name is None else f"= {format_value(feature_column(exp.data, name).iloc[0])}"
                name = distinct_label(GAP_LABEL, contributions, "delta") if name is None else name
                width = max(text_points(name, FONT_SIZE), text_points(value_text, FONT_SIZE))
                if width < abs(value) * per_unit:
                    ax.text(
                        (far + edge) / 2,
                        -BAND_HEIGHT / 2 - 0.08,
                        f"{name}\n{value_text}".rstrip(),
                        ha="center",
                        va="top",
                        fontsize=FONT_SIZE,
                        color=color,
                    )
            edge = far

    ax.plot([prediction, prediction], [-BAND_HEIGHT / 2, BAND_HEIGHT / 2 + 0.12], color="black", linewidth=1)
    ax.text(
        prediction,
        BAND_HEIGHT / 2 + 0.15,
        f"f(x) = {format_number(prediction)}",
        ha="center",
        va="bottom",
        fontsize=12,
        fontweight="bold",
    )
    ax.plot([base, base], [BAND_HEIGHT / 2, BAND_HEIGHT / 2 + 0.45], color=LINE_GREY, linewidth=1)
    ax.text(
        base,
        BAND_HEIGHT / 2 + 0.48,
        base_value_text(exp),
        ha="center",
        va="bottom",
        fontsize=FONT_SIZE + 1,
        color=TEXT_GREY,
    )
    for side, text, color in ((-1, "higher \u2192", RED), (1, "\u2190 lower", BLUE)):
        ax.annotate(
            text,
            xy=(prediction, 0.95),
            xytext=(side * 8, 0),
            textcoords="offset points",
            ha="right" if side < 0 else "left",
            va="top",
            color=color,
            fontsize=FONT_SIZE + 1,
        )

    ax.set_yticks([])
    for spine in ("left", "right", "top"):
        ax.spines[spine].set_visible(False)
    ax.set_xlabel(exp.outcome or f"model output ({exp.output})")
    return finish(ax, show)
