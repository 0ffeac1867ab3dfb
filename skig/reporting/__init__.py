"""Compliance outputs built from explanations: reason codes, the adverse-action export, the HTML report, and the
spreadsheet-safe CSV writer."""

from ._adverse_action import adverse_action
from ._csv import write_csv
from ._html import report
from ._reason_codes import reason_codes

__all__ = ["adverse_action", "reason_codes", "report", "write_csv"]
