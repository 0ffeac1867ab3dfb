"""Plots of explanations in SHAP's look, drawn with matplotlib (imported only when a plot is drawn).

bar, beeswarm, waterfall, scatter, heatmap, decision, force, interaction_heatmap: each takes an Explanation and
returns the Axes drawn on.
"""

from .._labels import InventedLabel
from ._accessor import PlotAccessor
from ._bar import bar
from ._beeswarm import beeswarm
from ._cohorts import cohorts
from ._decision import decision
from ._force import force
from ._heatmap import heatmap
from ._interactions import interaction_heatmap
from ._scatter import scatter
from ._waterfall import waterfall

__all__ = [
    "InventedLabel",
    "PlotAccessor",
    "bar",
    "beeswarm",
    "cohorts",
    "decision",
    "force",
    "heatmap",
    "interaction_heatmap",
    "scatter",
    "waterfall",
]
