"""The ``exp.plot`` accessor: every skig plot as a method of the explanation it draws.

``exp.plot.beeswarm()`` is ``skig.plots.beeswarm(exp)``; the functions' documentation applies.
"""

from __future__ import annotations

from ._bar import bar
from ._beeswarm import beeswarm
from ._decision import decision
from ._force import force
from ._heatmap import heatmap
from ._interactions import interaction_heatmap
from ._scatter import scatter
from ._waterfall import waterfall


class PlotAccessor:
    """Plots of one explanation, reached as ``exp.plot``.

    Parameters
    ----------
    exp : Explanation
        The explanation every method draws.

    Examples
    --------
    >>> import pandas as pd
    >>> import skig
    >>> from skig.plots import PlotAccessor
    >>> values = pd.DataFrame({"Income": [0.3, -0.2, 0.1], "Home": [0.1, -0.05, 0.0]})
    >>> data = pd.DataFrame({"Income": [900.0, 4000.0, 1500.0], "Home": ["rent", "owner", "rent"]})
    >>> exp = skig.Explanation(values, pd.Series([0.2] * 3), values.sum(axis=1) + 0.2, data)
    >>> ax = PlotAccessor(exp).bar(max_display=5)  # exp.plot.bar(max_display=5) once wired
    """

    def __init__(self, exp) -> None:
        self._exp = exp

    def __repr__(self) -> str:
        return f"PlotAccessor({self._exp!r})"

    def bar(self, *args, **kwargs):
        """Global importance per feature (or one row's attributions); see :func:`skig.plots.bar`."""
        return bar(self._exp, *args, **kwargs)

    def beeswarm(self, *args, **kwargs):
        """Every row's attribution per feature, coloured by value; see :func:`skig.plots.beeswarm`."""
        return beeswarm(self._exp, *args, **kwargs)

    def waterfall(self, *args, **kwargs):
        """One row from the base value to its prediction; see :func:`skig.plots.waterfall`."""
        return waterfall(self._exp, *args, **kwargs)

    def scatter(self, *args, **kwargs):
        """A feature's value against its attribution; see :func:`skig.plots.scatter`."""
        return scatter(self._exp, *args, **kwargs)

    def heatmap(self, *args, **kwargs):
        """Rows x features matrix of attributions; see :func:`skig.plots.heatmap`."""
        return heatmap(self._exp, *args, **kwargs)

    def interaction_heatmap(self, *args, **kwargs):
        """Pairwise interactions, most interacting features first; see :func:`skig.plots.interaction_heatmap`."""
        return interaction_heatmap(self._exp, *args, **kwargs)

    def decision(self, *args, **kwargs):
        """Each row's path from base value to prediction; see :func:`skig.plots.decision`."""
        return decision(self._exp, *args, **kwargs)

    def force(self, *args, **kwargs):
        """One row's contributions as a band meeting at f(x); see :func:`skig.plots.force`."""
        return force(self._exp, *args, **kwargs)
