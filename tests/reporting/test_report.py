"""The HTML compliance report: each section holds real numbers from the explanation, written for people."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import skig
from skig.reporting import Groups, ReportSettings

REASONS = {"income": "Income insufficient for amount requested", "debt": "Excessive obligations"}


class _Sections(HTMLParser):
    """Per h2 section: its text, tables (lists of rows, each after its caption), headings and image sources."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current = None
        self.row = None
        self.cell = None
        self.flagged_row = False
        self.caption = None
        self.heading = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self.current = attrs.get("id")
            self.sections[self.current] = {"text": "", "tables": [], "images": [], "headings": [], "captions": []}
        elif self.current is None:
            return
        section = self.sections[self.current]
        if tag in ("h3", "h4"):
            self.heading = ""
        elif tag == "p" and attrs.get("class") == "caption":
            self.caption = ""
        elif tag == "table":
            section["tables"].append({"caption": section["captions"][-1] if section["captions"] else None, "rows": []})
            section["captions"].append(None)  # a table without its own caption would reuse None
        elif tag == "tr":
            self.row, self.flagged_row = [], attrs.get("class") == "flag"
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "img":
            section["images"].append(attrs["src"])

    def handle_endtag(self, tag):
        if self.current is None:
            return
        section = self.sections[self.current]
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            section["tables"][-1]["rows"].append(self.row + (["<flag>"] if self.flagged_row else []))
            self.row = None
        elif tag == "p" and self.caption is not None:
            section["captions"].append(self.caption)
            self.caption = None
        elif tag in ("h3", "h4") and self.heading is not None:
            section["headings"].append(self.heading)
            self.heading = None

    def handle_data(self, data):
        if self.current is None:
            return
        section = self.sections[self.current]
        section["text"] += data
        for name in ("cell", "caption", "heading"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name) + data)


def _parse(path):
    parser = _Sections()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.sections


def _body(table):
    return table["rows"][1:]


def _number(text):
    return float(text.replace(",", "").replace("pp", "").replace("%", "").strip())


@pytest.fixture(scope="module")
def setting():
    """Applicants labelled 1000..1119 in shuffled order, with an audit column the model never reads."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(120, 4)), columns=["income", "debt", "age", "noise"])
    y = (X["debt"] - X["income"] + 0.3 * rng.normal(size=120) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    X.index = rng.permutation(np.arange(1000, 1120))
    audit = pd.Series(np.where(rng.uniform(size=120) < 0.5, "branch A", "branch B"), index=X.index, name="branch")
    explainer = skig.Explainer(model, output="probability", n_steps=16, rule="gausslegendre", random_state=3).fit(X)
    return explainer, model, X, audit


@pytest.fixture(scope="module")
def parsed(setting, tmp_path_factory):
    explainer, _, X, audit = setting
    exp = explainer.explain(X)
    labelled = X.assign(branch=audit)  # the group column travels with the data; the model does not read it
    path = tmp_path_factory.mktemp("report") / "report.html"
    with pytest.warns(UserWarning, match="no reason text"):
        written = skig.report(
            explainer,
            labelled,
            path,
            rows=[X.index[3], exp.loc[X.index[10]]],
            group="branch",
            reasons=REASONS,
            title="Credit model review",
        )
    return _parse(written), exp, written


def test_self_contained_with_embedded_images(parsed):
    _, _, path = parsed
    html = path.read_text(encoding="utf-8")
    assert "<title>Credit model review</title>" in html
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(sources) >= 4 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "http://" not in html and "https://" not in html  # nothing fetched to view it


def test_every_table_has_a_one_sentence_caption(parsed):
    sections, _, _ = parsed
    tables = [table for section in sections.values() for table in section["tables"]]
    assert len(tables) >= 10
    for table in tables:
        assert table["caption"] and len(table["caption"]) > 30, table["rows"][:2]


def test_numbers_are_written_for_people(parsed):
    _, _, path = parsed
    body = path.read_text(encoding="utf-8").split("</style>")[1]
    text = re.sub(r"<[^>]*>", " ", body)  # what a reader sees: no tags, no embedded images
    text = re.sub(r"\b[0-9a-f]{64}\b", " ", text)  # SHA-256 digests are names, not numbers ("1e5" in hex)
    assert not re.search(r"\d[eE][-+]?\d", text)  # no 3.924e-05
    sections, exp, _ = parsed
    summary = dict(_body(sections["summary"]["tables"][0]))
    assert summary["output explained"] == "the probability of class 1"
    importance = _body(sections["importance"]["tables"][0])
    assert all(row[1].endswith(" pp") and row[2].endswith("%") for row in importance)


def test_print_stylesheet_keeps_rows_whole(parsed):
    _, _, path = parsed
    html = path.read_text(encoding="utf-8")
    media = html[html.index("@media print") :]
    assert re.search(r"tr, td, th \{ break-inside: avoid", media)
    assert "thead { display: table-header-group; }" in media  # headers repeat on each printed page


def test_settings_list_only_what_applies_to_ig(parsed):
    sections, _, _ = parsed
    settings = {row[0]: row[1] for row in _body(sections["settings"]["tables"][0])}
    assert settings["method"] == "ig" and settings["n_steps"] == "16" and settings["rule"] == "gausslegendre"
    assert settings["output"] == "probability" and settings["baseline"] == "mean"
    # IG from the mean draws nothing at random, adds no noise, has no guided path and no adaptive steps
    for absent in ("random_state", "n_samples", "noise_level", "fraction", "max_dist", "tol", "max_steps", "device"):
        assert absent not in settings


def test_baseline_is_shown(parsed, setting):
    sections, exp, _ = parsed
    explainer, *_ = setting
    baseline = {row[0]: row[1] for row in _body(sections["settings"]["tables"][1])}
    assert set(baseline) == {"income", "debt", "age", "noise"}
    caption = sections["settings"]["tables"][1]["caption"]
    assert f"{exp.base_values.iloc[0] * 100:.1f}%" in caption and "f(baseline)" in caption


def test_baseline_in_raw_terms_when_the_explanation_has_it(setting, tmp_path, monkeypatch):
    explainer, _, X, _ = setting
    explain = type(explainer).explain

    def with_raw_baseline(self, rows, **kwargs):
        exp = explain(self, rows, **kwargs)
        exp.baseline = pd.DataFrame({"income": [12000.0], "debt": [2500], "age": [41], "noise": [0.5], "weight": [1.0]})
        return exp

    monkeypatch.setattr(type(explainer), "explain", with_raw_baseline)
    sections = _parse(skig.report(explainer, X, tmp_path / "r.html"))
    baseline = {row[0]: row[1] for row in _body(sections["settings"]["tables"][1])}
    assert baseline == {"income": "12,000", "debt": "2,500", "age": "41", "noise": "0.5000"}
    assert "in the data's own terms" in sections["settings"]["tables"][1]["caption"]


def test_a_feature_named_weight_shows_its_own_baseline_value(tmp_path):
    """The baseline table reads the weights from the last column: a feature called ``weight`` is shown, not taken for
    the baseline's weight."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"weight": rng.normal(80.0, 5.0, 200), "height": rng.normal(170.0, 8.0, 200)})
    y = (X["weight"] - 0.5 * X["height"] + rng.normal(0, 3, 200) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    explainer = skig.Explainer(model, baseline="median").fit(X)
    sections = _parse(skig.report(explainer, X, tmp_path / "r.html"))
    baseline = {row[0]: row[1] for row in _body(sections["settings"]["tables"][1])}
    assert set(baseline) == {"weight", "height"}
    assert _number(baseline["weight"]) == pytest.approx(X["weight"].median(), rel=1e-3)


def test_completeness_audit_reports_the_explanation_delta(parsed):
    sections, exp, _ = parsed
    audit = {row[0]: row[1] for row in _body(sections["completeness"]["tables"][0])}
    written, in_pp = audit["max |delta|"], 100 * exp.delta.abs().max()
    if written.startswith("< "):  # below what is worth writing
        assert in_pp < _number(written[2:])
    else:
        assert _number(written) == pytest.approx(in_pp, rel=0.05)
    assert _number(audit["mean |prediction - base value|"]) == pytest.approx(
        100 * (exp.predictions - exp.base_values).abs().mean(), abs=0.051
    )
    assert audit["rows with |delta| above the tolerance"] == "0"
    assert "PASS" in sections["completeness"]["text"]


def test_failing_audit_is_marked(setting, tmp_path):
    _, _, X, _ = setting
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=(16,), activation="relu", max_iter=50, random_state=0)
    with pytest.warns(Warning):
        mlp.fit(X, (X["debt"] * X["income"] > 0).astype(int))
    rough = skig.Explainer(mlp, n_steps=1, rule="riemann_left").fit(X)
    sections = _parse(skig.report(rough, X, tmp_path / "r.html", settings=ReportSettings(tolerance=1e-6)))
    assert "FAIL" in sections["completeness"]["text"]
    assert "raise n_steps (now 1)" in sections["completeness"]["text"]
    assert "rule='gausslegendre'" in sections["completeness"]["text"]  # riemann_left converges slowly


def test_global_importance_table_matches(parsed):
    sections, exp, _ = parsed
    table = _body(sections["importance"]["tables"][0])
    importance = exp.importance()
    assert [row[0] for row in table] == list(importance.index)
    np.testing.assert_allclose([_number(row[1]) for row in table], 100 * importance.to_numpy(), atol=0.051)
    assert len(sections["importance"]["images"]) == 2  # bar and beeswarm


def test_stability_of_ig_changes_only_the_steps(parsed):
    sections, _, _ = parsed
    rows = _body(sections["stability"]["tables"][0])
    assert [(row[0], row[1], row[2]) for row in rows] == [("n_steps", "16", "8"), ("n_steps", "16", "32")]
    assert all(-1 <= float(row[3]) <= 1 for row in rows)


def test_group_is_a_column_the_model_does_not_read(parsed, setting):
    sections, exp, _ = parsed
    _, _, X, audit = setting
    assert list(exp.values.columns) == ["income", "debt", "age", "noise"]
    sizes, means, differ = sections["groups"]["tables"]
    assert {row[0]: row[1] for row in _body(sizes)} == audit.value_counts().astype(str).to_dict()
    expected = exp.values.groupby(audit).mean()  # aligned by label, an independent computation
    header = means["rows"][0]
    for row in _body(means):
        for group, text in zip(header[1:], row[1:], strict=True):
            assert _number(text) == pytest.approx(100 * expected.loc[group, row[0]], abs=0.051)
    gaps = (expected.max() - expected.min()).sort_values(ascending=False)
    assert [row[0] for row in _body(differ)] == list(gaps.index)
    for row in _body(differ):
        low, high = (_number(part) for part in row[4].split(" to "))
        assert low <= _number(row[3]) + 0.05 <= high + 0.1 and 0 < float(row[5].replace("< ", "")) <= 1


def test_group_series_is_aligned_by_index(setting, tmp_path):
    explainer, _, X, audit = setting
    shuffled = audit.sample(frac=1, random_state=1)
    first = _parse(skig.report(explainer, X, tmp_path / "a.html", group=shuffled))
    second = _parse(skig.report(explainer, X, tmp_path / "b.html", group=audit.to_numpy()))
    assert first["groups"]["tables"][1]["rows"] == second["groups"]["tables"][1]["rows"]
    with pytest.raises(ValueError, match="no value for 120 rows"):
        skig.report(explainer, X, tmp_path / "c.html", group=audit.reset_index(drop=True))


def test_small_and_many_groups_are_pooled(setting, tmp_path):
    explainer, _, X, _ = setting
    rng = np.random.RandomState(4)
    states = pd.Series(rng.choice([f"S{i:02d}" for i in range(50)], size=120), index=X.index, name="state")
    states[X.index[:60]] = "CA"
    sections = _parse(skig.report(explainer, X, tmp_path / "r.html", group=Groups(states, min_size=10, max_groups=3)))
    sizes = {row[0]: row for row in _body(sections["groups"]["tables"][0])}
    assert list(sizes) == ["CA", "other"]  # no state but CA reaches 10 rows
    assert sizes["CA"][1] == "60" and "pooled" in sizes["other"][3] and "under 10 rows" in sizes["other"][3]
    assert len(sections["groups"]["tables"][1]["rows"][0]) <= 1 + 3 + 1  # feature column, 3 groups, other


def test_reason_texts_are_listed_and_gaps_flagged(parsed):
    sections, _, _ = parsed
    assert "No reason text for 2 features: age, noise" in sections["reasons"]["text"]
    rows = _body(sections["reasons"]["tables"][0])
    flagged = {row[0] for row in rows if row[-1] == "<flag>"}
    assert flagged == {"age", "noise"}
    assert {row[0]: row[1] for row in rows}["debt"] == "Excessive obligations"


def test_applicants_are_chosen_by_label_and_carry_their_reasons(parsed, setting):
    sections, exp, _ = parsed
    _, model, X, _ = setting
    applicants = sections["applicants"]
    for label in (X.index[3], X.index[10]):  # the label, and a one-row Explanation standing for one
        assert f"Applicant {label}" in applicants["headings"]
        probability = model.predict_proba(X.loc[[label]])[0, 1]  # the model's own prediction for that label
        assert f"Prediction {100 * probability:.1f}%" in applicants["text"]
    assert len(applicants["images"]) == 2
    headings = [h for h in applicants["headings"] if h.startswith("Principal reasons")]
    assert headings and all("up to 4, the features that raised the probability of class 1" in h for h in headings)
    codes = skig.reason_codes(exp.loc[[X.index[3]]], n=4)
    first = _body(applicants["tables"][0])
    assert [row[2] for row in first] == codes["feature"].tolist()
    for row in first:
        assert row[1] == REASONS.get(row[2], row[2]) and (row[-1] == "<flag>") == (row[2] not in REASONS)


def test_rows_are_labels_not_positions(setting, tmp_path):
    explainer, _, X, _ = setting
    with pytest.raises(ValueError, match=r"rows \[5\] are not labels of X's index"):
        skig.report(explainer, X, tmp_path / "r.html", rows=[5])
    sections = _parse(skig.report(explainer, X, tmp_path / "r.html", rows=X.index[0]))  # one label alone
    assert sections["applicants"]["headings"][0] == f"Applicant {X.index[0]}"


@pytest.mark.parametrize(
    "params, present, absent, verdict",
    [
        (
            {"method": "smoothgrad_sq", "n_samples": 4, "rule": "gausslegendre"},
            {"n_samples", "noise_level", "random_state"},
            set(),
            "NOT APPL",
        ),
        ({"method": "expected", "baseline": "sample", "n_samples": 16}, {"n_samples", "n_baselines"}, {"n_steps"}, ""),
        ({"n_steps": "auto", "rule": "gausslegendre"}, {"tol", "max_steps"}, {"random_state"}, "PASS"),
        # exact integration (rule="auto" on this linear model) has no steps to change, and no tolerance
        ({"n_steps": "auto"}, {"rule"}, {"n_steps", "tol", "max_steps", "random_state"}, "PASS"),
    ],
)
def test_sections_follow_the_method(setting, tmp_path, params, present, absent, verdict):
    _, model, X, _ = setting
    explainer = skig.Explainer(model, output="probability", random_state=0, **params).fit(X)
    sections = _parse(skig.report(explainer, X, tmp_path / "r.html", settings=ReportSettings(stability_rows=40)))
    settings = {row[0] for row in _body(sections["settings"]["tables"][0])}
    assert present <= settings and not absent & settings
    tables = sections["stability"]["tables"]
    changed = [row[0] for row in _body(tables[0])] if tables else []
    if not tables:  # exact IG draws nothing and has no steps: the report says why nothing can move
        assert "exact" in sections["stability"]["text"]
    method = params.get("method", "ig")
    assert ("random_state" in changed) == (method != "ig")
    assert ("n_steps" in changed) == (method == "smoothgrad_sq" and explainer.rule_ != "exact")
    assert ("n_samples" in changed) == (method != "ig")
    assert ("tol" in changed) == (params.get("n_steps") == "auto" and explainer.rule_ != "exact")
    assert verdict in sections["completeness"]["text"]
    if method == "smoothgrad_sq":
        assert "PASS" not in sections["completeness"]["text"] and "FAIL" not in sections["completeness"]["text"]


def test_bad_arguments(setting, tmp_path):
    explainer, _, X, _ = setting
    with pytest.raises(ValueError, match="group 'sex' is not a column"):
        skig.report(explainer, X, tmp_path / "r.html", group="sex")
    with pytest.raises(ValueError, match="min_size must be a positive integer"):
        skig.report(explainer, X, tmp_path / "r.html", group=Groups("branch", min_size=0))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        skig.report(skig.Explainer(explainer.model), X, tmp_path / "r.html")
