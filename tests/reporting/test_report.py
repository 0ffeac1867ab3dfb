"""The HTML compliance report: each section holds real numbers from the explanation."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import skig


class _Sections(HTMLParser):
    """Collects text per h2 section, tables as lists of rows, and image sources."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current = None
        self.row = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self.current = attrs.get("id")
            self.sections[self.current] = {"text": "", "rows": [], "images": []}
        elif self.current is None:
            return
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "img":
            self.sections[self.current]["images"].append(attrs["src"])

    def handle_endtag(self, tag):
        if self.current is None:
            return
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.sections[self.current]["rows"].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.current is None:
            return
        self.sections[self.current]["text"] += data
        if self.cell is not None:
            self.cell += data


@pytest.fixture(scope="module")
def setting():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=["income", "debt", "age", "noise"], index=range(1000, 1120))
    y = (X["debt"] - X["income"] + 0.3 * rng.normal(size=120) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    explainer = skig.Explainer(model, output="probability", n_steps=16, random_state=3).fit(X)
    return explainer, X


@pytest.fixture(scope="module")
def parsed(setting, tmp_path_factory):
    explainer, X = setting
    group = np.where(X["age"] > 0, "older", "younger")
    path = tmp_path_factory.mktemp("report") / "report.html"
    written = skig.report(explainer, X, path, rows=[1003, 1010], group=group, title="Credit model review")
    parser = _Sections()
    parser.feed(written.read_text(encoding="utf-8"))
    return parser.sections, explainer.explain(X), path


def _number(text):
    return float(text.replace(",", ""))


def test_self_contained_with_embedded_images(parsed):
    _, _, path = parsed
    html = path.read_text(encoding="utf-8")
    assert "<title>Credit model review</title>" in html
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(sources) >= 4 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "http://" not in html and "https://" not in html  # nothing fetched to view it


def test_model_and_settings_sections(parsed):
    sections, exp, _ = parsed
    summary = dict(row for row in sections["summary"]["rows"][1:])
    assert summary["model"] == "LogisticRegression"
    assert summary["rows explained"] == "120"
    assert summary["skig"] == skig.__version__
    settings = dict(row for row in sections["settings"]["rows"][1:])
    assert settings["n_steps"] == "16" and settings["random_state"] == "3"
    assert settings["rule"] == "'gausslegendre'" and settings["output"] == "'probability'"


def test_completeness_audit_reports_the_explanation_delta(parsed):
    sections, exp, _ = parsed
    audit = dict(sections["completeness"]["rows"][1:])
    assert _number(audit["max |delta|"]) == pytest.approx(exp.delta.abs().max(), rel=1e-3, abs=1e-12)
    assert _number(audit["mean |delta|"]) == pytest.approx(exp.delta.abs().mean(), rel=1e-3, abs=1e-12)
    assert "PASS" in sections["completeness"]["text"]


def test_failing_audit_is_marked(setting, tmp_path):
    explainer, X = setting
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=(32,), activation="relu", max_iter=400, random_state=0)
    mlp.fit(X, (X["debt"] * X["income"] > 0).astype(int))
    rough = skig.Explainer(mlp, n_steps=1, rule="riemann_left").fit(X)
    parser = _Sections()
    parser.feed(skig.report(rough, X, tmp_path / "r.html", tolerance=1e-6).read_text(encoding="utf-8"))
    assert "FAIL" in parser.sections["completeness"]["text"]


def test_global_importance_table_matches(parsed):
    sections, exp, _ = parsed
    table = sections["importance"]["rows"][1:]
    importance = exp.importance()
    assert [row[0] for row in table] == list(importance.index)
    np.testing.assert_allclose([_number(row[1]) for row in table], importance.to_numpy(), rtol=1e-3)
    assert len(sections["importance"]["images"]) == 2  # bar and beeswarm


def test_stability_correlations_are_numbers_in_range(parsed):
    sections, _, _ = parsed
    rows = sections["stability"]["rows"][1:]
    changed = [row[0] for row in rows]
    assert changed.count("random_state") == 2 and changed.count("n_steps") == 2
    correlations = [_number(row[2]) for row in rows]
    assert all(-1 <= c <= 1 for c in correlations)
    assert correlations[0] == pytest.approx(1.0)  # IG is deterministic: the seed cannot change the ranking


def test_group_section_has_mean_attribution_by_group(parsed, setting):
    sections, exp, _ = parsed
    _, X = setting
    rows = sections["groups"]["rows"]
    header, body = rows[0], rows[1 : 1 + len(exp.feature_names)]
    assert header[1:] == ["older", "younger"]
    older = exp.values[X["age"] > 0].mean()
    by_feature = {row[0]: _number(row[1]) for row in body}
    for feature, value in by_feature.items():
        assert value == pytest.approx(older[feature], rel=1e-3, abs=1e-9)
    by_group = exp.values.groupby(np.where(X["age"] > 0, "older", "younger")).mean()
    spread = (by_group.max() - by_group.min()).sort_values(ascending=False)
    differ = rows[len(exp.feature_names) + 2 :]
    assert [row[0] for row in differ] == list(spread.index)
    np.testing.assert_allclose([_number(row[1]) for row in differ], spread.to_numpy(), rtol=1e-3)


def test_applicant_sections(parsed):
    sections, exp, _ = parsed
    text = sections["applicants"]["text"]
    for row in (1003, 1010):
        assert f"Row {row}" in text
        assert f"prediction {exp.predictions[row]:.4g}" in text
    assert len(sections["applicants"]["images"]) == 2
    codes = skig.reason_codes(exp, n=4)
    first = codes[codes["row"] == 1003]
    assert first["feature"].iloc[0] in text


def test_bad_arguments(setting, tmp_path):
    explainer, X = setting
    with pytest.raises(ValueError, match="rows"):
        skig.report(explainer, X, tmp_path / "r.html", rows=[5])
    with pytest.raises(ValueError, match="group"):
        skig.report(explainer, X, tmp_path / "r.html", group="sex")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        skig.report(skig.Explainer(explainer.model), X, tmp_path / "r.html")
