"""Evidence built from explanations: reason codes, the adverse-action export, performance, fingerprints, quality
tests, drift, the HTML report that lays them out, and the spreadsheet-safe CSV writer."""

from ._adverse_action import adverse_action
from ._csv import write_csv
from ._drift import drift
from ._fingerprint import fingerprint
from ._html import report
from ._options import Groups, Reasons, ReportSettings
from ._performance import Performance, performance
from ._quality import quality
from ._reason_codes import reason_codes

__all__ = [
    "Groups",
    "Performance",
    "Reasons",
    "ReportSettings",
    "adverse_action",
    "drift",
    "fingerprint",
    "performance",
    "quality",
    "reason_codes",
    "report",
    "write_csv",
]
