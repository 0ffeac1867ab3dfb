"""The report's grouped options: how reasons are chosen, how rows are grouped, and how the checks are computed.

Each groups parameters that only mean something together, so :func:`skig.report` keeps a short signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ._reason_codes import check_reason_arguments


@dataclass(frozen=True)
class Reasons:
    """How an applicant's principal reasons are chosen and worded (as :func:`skig.reason_codes` takes them).

    Parameters
    ----------
    texts : mapping or callable, default=None
        Reason text per feature, ``{"text": ..., "missing": ...}`` entries, or ``(feature, value) -> str``.
    n : int, default=4
        Most principal reasons per applicant.
    direction : {"increase", "decrease"}, default="increase"
        The adverse direction of the explained output (``"increase"``: a higher probability of default is worse);
        also the side of ``threshold`` that is the adverse decision.
    min_contribution : float, default=0.0
        Smallest adverse contribution listed as a reason, in the attributions' units.
    """

    texts: Mapping | Callable[[str, object], str] | None = None
    n: int = 4
    direction: str = "increase"
    min_contribution: float = 0.0

    def drift_options(self) -> dict[str, object]:
        """The options :func:`skig.drift` takes to count reasons as these are chosen."""
        return {"n_reasons": self.n, "direction": self.direction, "min_contribution": self.min_contribution}

    @classmethod
    def of(cls, reasons) -> Reasons:
        """``reasons`` as given to the report: a Reasons, or texts alone (a mapping, a callable or None)."""
        chosen = reasons if isinstance(reasons, Reasons) else cls(texts=reasons)
        check_reason_arguments(chosen.n, chosen.direction, chosen.texts, chosen.min_contribution)
        return chosen


@dataclass(frozen=True)
class Groups:
    """The audit groups: which rows belong together, and which groups are too small to show.

    Parameters
    ----------
    by : str, Series or array-like of shape (n_rows,)
        A column of ``X`` (read by the model or not), a Series aligned on ``X``'s index by label, or an array in
        ``X``'s row order. Missing values form a ``"missing"`` group.
    min_size : int, default=30
        Groups with fewer rows are pooled as ``"other"``.
    max_groups : int, default=8
        Most groups shown; smaller ones beyond these are pooled as ``"other"``.
    """

    by: object
    min_size: int = 30
    max_groups: int = 8

    @classmethod
    def of(cls, group) -> Groups | None:
        """``group`` as given to the report: a Groups, the grouping alone, or None."""
        if group is None:
            return None
        chosen = group if isinstance(group, Groups) else cls(by=group)
        for name, value in (("min_size", chosen.min_size), ("max_groups", chosen.max_groups)):
            _check_positive(name, value)
        return chosen


@dataclass(frozen=True)
class ReportSettings:
    """How the report computes its checks, and how it samples a Spark or Dask ``X``.

    Parameters
    ----------
    tolerance : float, default=0.01
        Completeness passes when ``max |delta|`` is at most ``tolerance`` times the ``mean |prediction - base value|``.
    stability_rows : int, default=500
        Rows re-explained (a seeded sample) for the stability checks.
    quality_rows : int, default=100
        Rows (a seeded sample) for the faithfulness tests (:func:`skig.quality`); 0 leaves the section out.
    random_state : int, default=0
        Seeds every draw of the report: the stability and quality samples, the group comparison's resampling.
    sample_size : int, default=1000
        With a Spark or Dask ``X``: rows explained on this machine.
    key : str or list of str, default=None
        With a Spark or Dask ``X``: the row key column(s); ``rows`` are then key values.
    """

    tolerance: float = 0.01
    stability_rows: int = 500
    quality_rows: int = 100
    random_state: int | None = 0
    sample_size: int = 1000
    key: str | list[str] | None = None

    def __post_init__(self) -> None:
        if not self.tolerance >= 0:
            raise ValueError(f"tolerance must be a number >= 0, got {self.tolerance!r}.")
        for name in ("stability_rows", "sample_size"):
            _check_positive(name, getattr(self, name))
        if not isinstance(self.quality_rows, (int, np.integer)) or self.quality_rows < 0:
            raise ValueError(f"quality_rows must be an integer >= 0, got {self.quality_rows!r}.")


def _check_positive(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
