"""Compliance outputs built from explanations: reason codes and the HTML report."""

from ._html import report
from ._reason_codes import reason_codes

__all__ = ["reason_codes", "report"]
