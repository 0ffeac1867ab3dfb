"""The report in a real browser: it loads without errors, every image decodes, and it prints to PDF.

Needs Chromium (Debian/Ubuntu: ``apt-get install chromium``; ``.ci/setup`` installs it in CI). Skipped without it
locally; a failure when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import skig

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = (
    "the report's browser test needs Chromium: install it with `apt-get install chromium` (Debian/Ubuntu, as "
    ".ci/setup does in CI) or set SKIG_CHROMIUM to a Chromium or Chrome binary"
)
# Collects load errors from the first moment, then reports them with every image's state into the DOM.
CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener("error", e => {
  window.__errors.push(String(e.message || (e.target && e.target.src) || e.type));
}, true);
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  const out = document.createElement("pre");
  out.id = "skig-check";
  out.textContent = JSON.stringify({images: images.length, broken: broken, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    found = os.environ.get("SKIG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return found


def _run(chromium, profile, *args):
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(90, 3)), columns=["income", "debt", "age"])
    model = LogisticRegression().fit(X, (X["debt"] - X["income"] > 0).astype(int))
    X.index = rng.permutation(np.arange(500, 590))
    audit = pd.Series(np.where(rng.uniform(size=90) < 0.5, "A", "B"), index=X.index, name="audit")
    explainer = skig.Explainer(model, output="probability", n_steps=8, outcome="probability of default").fit(X)
    path = tmp_path_factory.mktemp("browser") / "report.html"
    reasons = {"income": "Income insufficient", "debt": "Excessive obligations", "age": "Length of history"}
    earlier = explainer.explain(pd.DataFrame(rng.normal(size=(90, 3)), columns=["income", "debt", "age"]))
    outcomes = pd.Series(rng.uniform(size=90) < model.predict_proba(X)[:, 1], index=X.index).astype(int)
    # the whole report: performance, faithfulness and drift sections included
    return skig.report(
        explainer,
        X.assign(audit=audit),
        path,
        y=outcomes,
        threshold=0.5,
        reference=earlier,
        rows=list(X.index[:3]),
        group="audit",
        reasons=reasons,
    )


def test_loads_without_errors_and_every_image_decodes(report_path, tmp_path):
    chromium = _chromium()
    html = report_path.read_text(encoding="utf-8")
    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("<head>", "<head>" + CHECK_SCRIPT, 1), encoding="utf-8")
    n_images = checked.read_text(encoding="utf-8").count("<img ")
    result = _run(
        chromium,
        tmp_path / "profile",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--dump-dom",
        checked.as_uri(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="skig-check">(.*?)</pre>', result.stdout, re.S)
    assert found, f"the check did not run; stderr: {result.stderr[-2000:]}"
    state = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert state["images"] == n_images >= 6  # bar, beeswarm, deletion curves, three waterfalls
    for anchor in ("performance", "faithfulness", "drift", "fingerprint"):
        assert f'id="{anchor}"' in html
    assert state["broken"] == [] and state["errors"] == []
    assert "Uncaught" not in result.stderr and "CONSOLE" not in result.stderr


def test_prints_to_pdf(report_path, tmp_path):
    chromium = _chromium()
    pdf = tmp_path / "report.pdf"
    profile = tmp_path / "profile"
    result = _run(chromium, profile, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report_path.as_uri())
    assert result.returncode == 0 and pdf.exists(), result.stderr[-2000:]
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", content)) >= 3  # several A4 pages, not one endless page
