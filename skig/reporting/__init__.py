"""Evidence built from explanations: reason codes, the adverse-action export, fingerprints and the HTML report."""

from ._adverse_action import adverse_action
from ._fingerprint import fingerprint
from ._html import report
from ._reason_codes import reason_codes

__all__ = ["adverse_action", "fingerprint", "reason_codes", "report"]
