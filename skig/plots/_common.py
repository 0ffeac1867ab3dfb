"""What every plot shares: SHAP's colours, value formatting, feature ordering and collapsing, and ``ax``/``show``.

matplotlib is imported inside the functions that need it, so that importing skig never loads pyplot.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._labels import MISSING, distinct_label, missing_label, pooled_label, value_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap, Normalize

# SHAP's colours: increases, decreases, missing values, and the guide lines.
RED = "#ff0051"
BLUE = "#008bfb"
GREY = "#777777"
LINE_GREY = "#999999"
GRID_GREY = "#cccccc"
TEXT_GREY = "#666666"
# Categories beyond the most frequent ones share one colour and one name; lighter than missing grey.
OTHER_COLOR = "#c8c8c8"
# Ordered categories run along a sequential map (stopping short of viridis' palest yellow, hard to see on white).
SEQUENTIAL = "viridis"
SEQUENTIAL_END = 0.92

# Samples of SHAP's red-blue colormap (perceptually uniform in Lch, blue to red); linear interpolation between them
# is close enough to read the same.
_RED_BLUE = (
    "#008bfb",
    "#007df5",
    "#236cea",
    "#625adb",
    "#8443c6",
    "#9c23ad",
    "#bb00a0",
    "#d5008f",
    "#e9007c",
    "#f90067",
    "#ff0051",
)
# Categories and cohorts: colours far from the red-blue scale (and from missing grey), so that a category is never
# read as a low or high number.
PALETTE = ("#2ca02c", "#ff7f0e", "#17becf", "#8c564b", "#bcbd22", "#e377c2", "#1b4332", "#f4a261")
# Categories named (and coloured) on their own in a legend; the others are "other".
MAX_CATEGORIES = 6


def plain_text(plot):
    """``plot`` drawing its texts as written: matplotlib's mathtext is off for the texts it makes.

    A user's dollar signs in a feature name, a category or the outcome (``"amount ($) / income ($)"``) were read as
    math: the dollars vanished and the text between them was set in italics. No plot of skig's writes math.
    """

    @functools.wraps(plot)
    def drawn(*args, **kwargs):
        import matplotlib as mpl

        with mpl.rc_context({"text.parse_math": False}):
            return plot(*args, **kwargs)

    return drawn


def red_blue(white_middle: bool = False) -> Colormap:
    """SHAP's blue (low) to red (high) colormap look-alike, grey for NaN.

    With ``white_middle``, SHAP's red-white-blue for signed attributions: zero is white, not the scale's purple.
    """
    from matplotlib.colors import LinearSegmentedColormap

    anchors = (BLUE, "#ffffff", RED) if white_middle else _RED_BLUE
    name = "skig_red_white_blue" if white_middle else "skig_red_blue"
    return LinearSegmentedColormap.from_list(name, anchors).with_extremes(bad=GREY)


def palette_color(position: int) -> str:
    """The ``position``-th categorical colour, cycling when there are more categories than colours."""
    return PALETTE[position % len(PALETTE)]


def format_number(value: float, signed: bool = False, digits: int = 3) -> str:
    """A number with thousands separators and ``digits`` significant digits, never fewer than its integer part.

    >>> format_number(1250), format_number(0.123456), format_number(-12345.678), format_number(0.05204, True, 2)
    ('1,250', '0.123', '-12,346', '+0.052')
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    decimals = min(max(0, digits - 1 - math.floor(math.log10(abs(value)))), 10)
    text = f"{value:{'+' if signed else ''},.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "+0") else text


def format_attribution(value: float) -> str:
    """An attribution as drawn next to its bar: signed, two significant digits (``"+0.052"``, ``"-1.2"``)."""
    return format_number(value, signed=True, digits=2)


def format_value(value) -> str:
    """A raw feature value as a reader wants it: ``"1,250"``, ``"0.35"``, ``"rent"``, ``"missing"`` for NaN,
    ``"''"`` for an empty string."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return format_number(value)
    if isinstance(value, str) and not value.strip():
        return repr(value)  # an empty or blank category reads '' rather than nothing
    return str(value)


def is_numeric(column: pd.Series) -> bool:
    """Whether a column is drawn on a numeric scale (booleans are categories: two named values, not a range)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def is_ordered(column: pd.Series) -> bool:
    """Whether a column is an ordered ``pd.Categorical``: its categories are drawn in their order, low to high."""
    return isinstance(column.dtype, pd.CategoricalDtype) and bool(column.dtype.ordered)


def categories(column: pd.Series) -> list:
    """The column's distinct non-missing values, in the categorical dtype's order or sorted."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.dropna().unique())
        return [value for value in column.cat.categories if value in present]
    values = column.dropna().unique().tolist()
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def feature_order(values: pd.DataFrame) -> list[str]:
    """Feature names, largest mean absolute attribution first (ties keep column order)."""
    importance = values.abs().mean(axis=0).sort_values(ascending=False, kind="stable")
    return [str(name) for name in importance.index]


def check_count(value, name: str = "max_display", high: int | None = None) -> int:
    """``value`` as an int when it is an integer from 1 to ``high`` (unbounded when None); else a ValueError."""
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, bool)
        or value < 1
        or (high is not None and value > high)
    ):
        bound = f"an integer from 1 to {high}" if high is not None else "a positive integer"
        raise ValueError(f"{name} must be {bound}, got {value!r}.")
    return int(value)


def check_max_display(max_display) -> int:
    return check_count(max_display)


def collapse_features(
    values: pd.DataFrame, max_display: int, order: list[str] | None = None, label: str = "Sum of {n} other features"
) -> tuple[pd.DataFrame, list[str]]:
    """Columns in display order, the least important beyond ``max_display`` summed into one last column.

    Returns the display frame (its last column is named ``label.format(n=...)`` when features were collapsed, qualified
    when a shown feature has that name) and the names of the features shown on their own.
    """
    max_display = check_max_display(max_display)
    order = feature_order(values) if order is None else order
    columns = {str(name): name for name in values.columns}
    if len(order) <= max_display:
        shown = list(order)
        return values[[columns[name] for name in shown]].set_axis(shown, axis=1), shown
    shown, rest = list(order[: max_display - 1]), order[max_display - 1 :]
    frame = values[[columns[name] for name in shown]].set_axis(shown, axis=1)
    summed = values[[columns[name] for name in rest]].sum(axis=1)
    frame[distinct_label(label.format(n=len(rest)), shown, "sum")] = summed
    return frame, shown


def feature_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column by its name as shown (``feature_names`` are strings even when the columns are not)."""
    for key in frame.columns:
        if str(key) == name:
            return frame[key]
    raise KeyError(f"unknown feature {name!r}; the explanation has {[str(key) for key in frame.columns]}.")


def row_labels(exp, columns, names: list[str]) -> list[str]:
    """Labels of a one-row plot: "Income = 1,250" for a feature shown on its own, the column name otherwise."""
    return [
        f"{name} = {format_value(feature_column(exp.data, name).iloc[0])}" if name in names else str(name)
        for name in columns
    ]


def one_row(exp, row=None):
    """The one-row explanation a single-row plot draws: ``exp.loc[row]`` when ``row`` (an index label) is given,
    else ``exp`` itself, which must then be one row (``exp.loc[label]`` or ``exp.iloc[position]``).
    """
    if row is not None:
        return exp.loc[row]
    if exp.is_row or len(exp) == 1:
        return exp
    raise ValueError(
        f"this plot draws one row, but the explanation has {len(exp)} rows; pass exp.loc[label] or row=label."
    )


def base_value_text(exp) -> str:
    """The base value named as what it is, ``"f(baseline) = 0.2"`` or ``"E[f(background)] = 0.2"``; prefixed with
    "mean" when the rows' base values differ (rows explained for different classes).
    """
    base = exp.base_values.to_numpy(dtype=np.float64)
    if len(base) > 1 and np.ptp(base) > 1e-12 * max(1.0, float(np.abs(base).max())):
        return f"mean {exp.base_value_label} = {format_number(base.mean())}"
    return f"{exp.base_value_label} = {format_number(base[0])}"


def completeness_gap(exp) -> float:
    """The part of f(x) - base value the attributions leave unexplained, when it is large enough to see.

    Zero when ``|delta|`` is below 0.5 % of the attributions' total size, so exact explanations draw no extra bar.
    """
    delta = float(exp.delta.iloc[0])
    scale = float(exp.values.abs().to_numpy().sum())
    return -delta if abs(delta) > 0.005 * max(scale, np.finfo(float).tiny) else 0.0


@dataclass
class PointColors:
    """Colours of points from a feature's values, with what a colour bar or legend needs to explain them.

    ``legend`` maps names to colours: the named categories (then ``"other"``), or evenly spaced levels of an ordered
    category from first to last; it is empty for numbers, which have ``norm`` for a colour bar instead.
    ``missing`` names missing values: ``"missing"``, qualified when a category reads so.
    """

    rgba: np.ndarray
    norm: Normalize | None = None
    legend: dict[str, str] = field(default_factory=dict)
    has_missing: bool = False
    ordered: bool = False
    missing: str = MISSING

    def legend_with_missing(self) -> dict[str, str]:
        """``legend``, then the missing values' grey when there are any."""
        return {**self.legend, **({self.missing: GREY} if self.has_missing else {})}


def solid(color: str, n: int) -> np.ndarray:
    """``n`` copies of one colour as RGBA rows, the form of a scatter's per-point colours."""
    from matplotlib.colors import to_rgba

    return np.tile(to_rgba(color), (n, 1))


def point_colors(values: pd.Series, max_categories: int = MAX_CATEGORIES) -> PointColors:
    """Colour each value: numbers on the red-blue scale (trimmed at the 5th-95th percentiles as SHAP does),
    categories as :func:`category_colors` says, missing values grey.
    """
    from matplotlib.colors import Normalize, to_rgba

    missing = values.isna().to_numpy()
    rgba = solid(GREY, len(values))
    if is_numeric(values):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        norm = None
        if (~missing).any():
            low, high = _color_limits(numbers[~missing])
            norm = Normalize(low, high)
            rgba[~missing] = red_blue()(norm(np.clip(numbers[~missing], low, high)))
        return PointColors(rgba, norm, {}, bool(missing.any()))
    colors, legend = category_colors(values, max_categories)
    mapped = values.astype(object).map(colors).to_numpy(dtype=object)
    for color in set(colors.values()):
        rgba[mapped == color] = to_rgba(color)
    names = value_labels(list(colors), format_value)
    return PointColors(rgba, None, legend, bool(missing.any()), is_ordered(values), missing_label([*names, *legend]))


def category_colors(values: pd.Series, max_categories: int = MAX_CATEGORIES) -> tuple[dict, dict[str, str]]:
    """A colour for every category present, and the legend (name to colour) that explains them.

    An ordered ``pd.Categorical`` runs along a sequential colour map in its order, every level its own shade; the
    legend names ``max_categories`` levels evenly spaced from the first category to the last. Other categories get one
    palette colour each, never repeated: all of them when there are at most ``max_categories``, in their order,
    else the ``max_categories`` most frequent (most frequent first) and one light grey ``"other"`` for the rest.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    max_categories = check_count(max_categories, "max_categories", len(PALETTE))
    if is_ordered(values):
        # Every level of the order, present or not, so that a level's shade is the same in any subset of rows.
        levels = list(values.cat.categories)
        shades = colormaps[SEQUENTIAL](np.linspace(0, SEQUENTIAL_END, len(levels)) if len(levels) > 1 else [0.0])
        colors = {level: to_hex(shade) for level, shade in zip(levels, shades, strict=True)}
        picks = np.unique(np.round(np.linspace(0, len(levels) - 1, min(len(levels), max_categories))).astype(int))
        names = value_labels(levels, format_value)
        return colors, {names[i]: colors[levels[i]] for i in picks}
    levels = categories(values)
    names = dict(zip(levels, value_labels(levels, format_value), strict=True))
    named = levels
    if len(levels) > max_categories:
        counts = values.value_counts(dropna=True)
        named = sorted(levels, key=lambda level: -counts[level])[:max_categories]  # stable: ties keep their order
    colors = {level: palette_color(position) for position, level in enumerate(named)}
    legend = {names[level]: color for level, color in colors.items()}
    if len(named) < len(levels):
        colors.update({level: OTHER_COLOR for level in levels if level not in colors})
        legend[pooled_label(names.values())] = OTHER_COLOR
    return colors, legend


def _color_limits(numbers: np.ndarray) -> tuple[float, float]:
    """The colour range: 5th to 95th percentile, widened when that collapses (a mostly constant column)."""
    for low_q, high_q in ((5, 95), (1, 99), (0, 100)):
        low, high = np.percentile(numbers, [low_q, high_q])
        if high > low:
            return float(low), float(high)
    return float(numbers.min()) - 0.5, float(numbers.max()) + 0.5


def legend_handles(legend: dict[str, str], marker: str = "o") -> list:
    """Legend entries (a coloured marker and its label) for a label-to-colour mapping."""
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker=marker, linestyle="", markersize=7, markerfacecolor=color, markeredgewidth=0, label=label)
        for label, color in legend.items()
    ]


def add_colorbar(
    ax: Axes,
    label: str,
    norm: Normalize | None = None,
    ticks: dict[float, str] | None = None,
    white_middle: bool = False,
    pad: float = 0.02,
):
    """A slim colour bar of the red-blue scale (over ``norm``, 0 to 1 by default) beside ``ax``, ticks as given."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=norm if norm is not None else Normalize(0, 1), cmap=red_blue(white_middle))
    colorbar = ax.figure.colorbar(mappable, ax=ax, aspect=50, pad=pad)
    if ticks is not None:
        colorbar.set_ticks(list(ticks), labels=list(ticks.values()))
    else:
        # A feature's own numbers, written as everywhere else ("50,000", not "5" under a "1e4" offset).
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        colorbar.locator = MaxNLocator(5)
        colorbar.formatter = FuncFormatter(lambda value, _: format_number(value))
        colorbar.update_ticks()
    colorbar.set_label(label, labelpad=0)
    colorbar.ax.tick_params(length=0)
    colorbar.outline.set_visible(False)
    return colorbar


def arrow_polygon(start: float, end: float, y: float, height: float, head: float, notch: bool = False):
    """An arrow-shaped patch from ``start`` to ``end`` (either way) at height ``y``; its head is ``head`` long.

    With ``notch``, the tail is cut in by the head's shape, so arrows laid end to end interlock like chevrons.
    """
    from matplotlib.patches import Polygon

    direction = 1.0 if end >= start else -1.0
    head = min(head, abs(end - start))
    neck = end - direction * head
    half = height / 2
    tail = [(start + direction * head, y)] if notch else []
    corners = [(start, y - half), (neck, y - half), (end, y), (neck, y + half), (start, y + half), *tail]
    return Polygon(corners, closed=True)


def clip_to_probabilities(ax: Axes, output: str, low: float, high: float) -> None:
    """Keep an output axis in probability space from running past 0 or 1 where the drawing (``low`` to ``high``) does
    not: the margins stop at the bounds of a probability.
    """
    if output != "probability":
        return
    left, right = ax.get_xlim()
    ax.set_xlim(max(left, min(0.0, low)), min(right, max(1.0, high)))


def points_per_unit(ax: Axes) -> float:
    """Typographic points per x data unit: how wide a span of the x axis is on the page, to fit text to it."""
    low, high = ax.get_xlim()
    width_inches = ax.get_position().width * ax.figure.get_figwidth()
    return width_inches * 72 / max(high - low, np.finfo(float).tiny)


def text_points(text: str, fontsize: float) -> float:
    """Approximate width of a line of text in points (about 0.6 em per character in matplotlib's sans-serif)."""
    return 0.6 * fontsize * len(text)


def shorten(texts: list[str], max_chars: int) -> list[str]:
    """Each text cut to ``max_chars`` characters (the last an ellipsis) unless that would make two of them alike:
    those stay whole, so that two categories never read the same.
    """
    cut = [text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026" for text in texts]
    counts = Counter(cut)
    return [short if counts[short] == 1 else text for text, short in zip(texts, cut, strict=True)]


def category_ticks(ax: Axes, names: list[str], max_chars: int = 24) -> None:
    """Name positions 0, 1, ... on the x axis after ``names`` so that no two labels run together.

    Labels are upright when the longest fits its slot, else vertical (and smaller beyond 20 of them); when even
    vertical labels are closer than a line of text, only every k-th is written (the last one always), each position
    keeping a small tick.
    """
    names = shorten(names, max_chars)
    n = len(names)
    fontsize = 10 if n <= 20 else 8
    # The colour bar and the layout take part of the width later: plan on 85 % of it.
    slot = 0.85 * ax.get_position().width * ax.figure.get_figwidth() * 72 / max(n, 1)
    positions = np.arange(n)
    rotation = 0
    if n and max(text_points(name, fontsize) for name in names) + fontsize > slot:
        rotation = 90
        step = math.ceil(1.25 * fontsize / slot)
        if step > 1:
            positions = np.arange(0, n, step)
            positions[-1] = n - 1  # the gap before the last label only widens
            ax.set_xticks(np.arange(n), minor=True)
    ax.set_xticks(positions, [names[i] for i in positions], rotation=rotation, fontsize=fontsize)


def new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    """``ax`` when given, else the Axes of a new pyplot figure of ``size`` inches with constrained layout."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def clean_axes(ax: Axes, left: bool = False) -> None:
    """SHAP's frame: no top or right spine, no left one either unless asked, ticks only on the x axis."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.spines["left"].set_visible(left)
    ax.xaxis.set_ticks_position("bottom")
    if not left:
        ax.tick_params(axis="y", length=0)


def finish(ax: Axes, show: bool) -> Axes:
    """Show the figure only when asked (``plt.show`` blocks in scripts), and hand back the Axes drawn on."""
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return ax
