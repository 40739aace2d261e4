"""The cohort report: sections found by path, figures embedded, links relative and resolvable, no network."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from analysis.cohorts.exclusions import consort_flow  # noqa: E402
from analysis.prereg.audit import run_audit  # noqa: E402
from analysis.prereg.lock import lock_status  # noqa: E402
from analysis.render.style import save_figure  # noqa: E402
from analysis.render.tables import render_table  # noqa: E402
from analysis.report import ReportInputs, build_report, package_versions, png_display_width, section_of  # noqa: E402
from tests.conftest import REPO  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.ids, self.resources = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag in ("script", "link", "iframe", "object", "embed", "source", "video", "audio"):
            self.resources.append((tag, attrs))
        for name, value in attrs.items():
            if name in ("src", "href", "srcset", "poster", "data") and value and value.lower().startswith(("http:", "https:", "//", "ftp:")):
                self.resources.append((tag, attrs))


def assert_self_contained(html_path: Path) -> _Collector:
    """Check a report: every image is an embedded PNG that decodes, every link resolves, nothing is remote."""
    text = Path(html_path).read_text(encoding="utf-8")
    parsed = _Collector()
    parsed.feed(text)
    assert parsed.resources == [], f"external resources or scripts: {parsed.resources}"
    assert "url(http" not in text and "@import" not in text
    for source in parsed.images:
        assert source.startswith("data:image/png;base64,"), source[:60]
        data = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    for link in parsed.links:
        if link.startswith("#"):
            assert link[1:] in parsed.ids, f"anchor {link} has no target"
            continue
        assert ":" not in link.split("/")[0], f"not a relative link: {link}"
        assert (Path(html_path).parent / link).resolve().exists(), f"link {link} does not resolve"
    return parsed


@pytest.fixture
def workspace(tmp_path, monkeypatch, plan):
    """A working directory with the outputs of a small cohort 'c', as the report rule sees them."""
    monkeypatch.chdir(tmp_path)
    files = []
    for name in ("effects_sd", "mystery_plot"):
        figure = Figure(figsize=(3.5, 2.0))
        figure.add_subplot().plot([0, 1], [1, 0])
        save_figure(figure, f"reports/c/figures/{name}.png", f"reports/c/figures/{name}.pdf")
        files += [f"reports/c/figures/{name}.png", f"reports/c/figures/{name}.pdf"]
    table = pd.DataFrame({"Term": ["Intercept", "Coach x post"], "Overall empathy": ["-0.190*** (0.100)", "3.000*** (0.400)"]})
    table.attrs["note"] = "A note under the table."
    for extension, text in render_table(table, "Difference-in-differences (cohort c)", "tab:x", synthetic=True).items():
        Path("reports/c/tables").mkdir(parents=True, exist_ok=True)
        Path(f"reports/c/tables/primary_did.{extension}").write_text(text, encoding="utf-8")
        files.append(f"reports/c/tables/primary_did.{extension}")
    Path("results/c/mixed").mkdir(parents=True)
    pd.DataFrame({"outcome": ["overall_empathy"], "term": ["coach:post"], "estimate": [3.14159], "p_value": [0.00001]}).to_csv(
        "results/c/mixed/lmm_coefficients.csv", index=False)
    Path("results/c/bayes").mkdir(parents=True)
    Path("results/c/bayes/ordinal.nc").write_bytes(b"not really netcdf")
    files += ["results/c/mixed/lmm_coefficients.csv", "results/c/bayes/ordinal.nc"]

    participants = pd.DataFrame({"participant_id": ["p1", "p2"], "arm": ["control", "coach"]})
    conversations = pd.DataFrame({"conversation_id": [f"{p}-C{n}" for p in ("p1", "p2") for n in (1, 2, 3)],
                                  "participant_id": ["p1", "p1", "p1", "p2", "p2", "p2"]})
    empty = pd.DataFrame(columns=["level", "record_id", "participant_id", "arm", "rule", "reason"])
    flow = consort_flow(participants, conversations, empty, [rule["id"] for rule in plan["exclusions"]], plan["design"]["arms"])
    Path("results/c/qc").mkdir(parents=True)
    flow.to_csv("results/c/qc/flow.csv", index=False)
    Path("results/c/validated").mkdir(parents=True)
    Path("results/c/validated/validation.json").write_text(json.dumps(
        {"contract_version": 1, "rows": {"participants": 2}, "sha256": {"participants": "ab" * 32}}), encoding="utf-8")

    foundation = {key: copy.deepcopy(plan[key]) for key in ("title", "registration", "design", "outcomes", "judge_aggregation",
                                                             "exclusions", "hypotheses", "primary_analysis")}
    audit = run_audit(foundation, {}, "c", lock_status(foundation, None), declared=[
        {"id": "not-yet", "kind": "analysis_not_run", "analysis_id": "*", "reason": "a test cohort without records"}])
    Path("reports/c/prereg_audit.json").write_text(json.dumps(audit), encoding="utf-8")
    Path("reports/c/prereg_audit.md").write_text("# audit\n", encoding="utf-8")
    files += ["reports/c/prereg_audit.md", "reports/c/prereg_audit.json"]
    inputs = ReportInputs(
        cohort="c", files=files, audit="reports/c/prereg_audit.json", prereg=str(REPO / "config" / "prereg.yaml"),
        template=str(REPO / "workflow" / "report" / "report.html.j2"), requirements=str(REPO / "requirements.lock"),
        captions=[str(REPO / "workflow" / "report" / "effects_sd.rst")], flow="results/c/qc/flow.csv",
        validation="results/c/validated/validation.json",
    )
    config = {"prereg": "config/prereg.yaml", "cohorts": {"c": {"format": "simulated", "simulation": {"seed": 5, "arm_sizes": {}}}}}
    return tmp_path, inputs, config


def test_report_is_self_contained_and_complete(workspace):
    root, inputs, config = workspace
    html = build_report(inputs, config, synthetic=True, generated_at=dt.datetime(2026, 1, 26, tzinfo=dt.timezone.utc))
    path = root / "reports/c/report.html"
    path.write_text(html, encoding="utf-8")
    parsed = assert_self_contained(path)
    assert len(parsed.images) == 2
    assert {"design", "primary", "models", "audit", "provenance", "appendix"} <= parsed.ids
    assert "SYNTHETIC DATA: a simulated cohort" in html
    assert "Difference-in-differences (cohort c)" in html and "A note under the table." in html  # display table caption and note
    assert "Each arm&#39;s change from the baseline conversation" in html  # the .rst caption of the figure
    assert "figures/effects_sd.pdf" in parsed.links and "tables/primary_did.tex" in parsed.links
    assert "../../results/c/bayes/ordinal.nc" in parsed.links
    assert "3.142" in html and "&lt;0.001" in html  # small result tables rounded for display
    assert html.index('id="appendix"') < html.index("Mystery plot")  # unknown figures land in the appendix
    assert "seed = 5" in html and "ab" * 32 in html  # provenance: seeds and input checksums
    assert "CONSORT flow" in html and "Registered hypotheses and their tests" not in html  # no primary results, no hypothesis table


def test_real_cohorts_are_not_labelled_synthetic(workspace):
    root, inputs, config = workspace
    config["cohorts"]["c"] = {"format": "native", "path": "x"}
    html = build_report(inputs, config, synthetic=False)
    assert "REAL DATA" in html and "SYNTHETIC DATA:" not in html


def test_sections_are_chosen_by_path():
    assert section_of("results/c/mixed/reliability.csv", "c") == "models"
    assert section_of("reports/c/figures/bayes_forest.png", "c") == "models"
    assert section_of("reports/c/tables/silent_empathy_correlations.csv", "c") == "secondary"
    assert section_of("results/c/reliability/pairwise.csv", "c") == "validity"
    assert section_of("reports/c/figures/theme_change.png", "c") == "taxonomy"
    assert section_of("reports/c/prereg_audit.md", "c") == "audit"
    assert section_of("reports/c/figures/something_new.png", "c") is None


def test_figures_are_shown_at_their_printed_size(tmp_path):
    for width, expected in ((3.5, 504), (7.2, 1037)):
        figure = Figure(figsize=(width, 2))
        save_figure(figure, tmp_path / "f.png", tmp_path / "f.pdf")
        assert png_display_width(tmp_path / "f.png") == expected


def test_package_versions_come_from_the_lock():
    rows = package_versions(REPO / "requirements.lock")
    by_name = {row["name"].lower(): row for row in rows}
    assert "pandas" in by_name and by_name["pandas"]["installed"] == pd.__version__
    assert all("pinned" in row and "installed" in row for row in rows)


class _Headings(HTMLParser):
    """Text of every h1/h2/h3 and of every section introduction."""

    def __init__(self):
        super().__init__()
        self.headings, self.intros, self._into = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3") or (tag == "p" and ("class", "intro") in attrs):
            self._into = self.intros if tag == "p" else self.headings
            self._into.append("")

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "p"):
            self._into = None

    def handle_data(self, data):
        if self._into is not None:
            self._into[-1] += data


def test_every_title_is_words_and_every_section_says_what_it_shows(workspace):
    root, inputs, config = workspace
    Path("results/c/qc/exclusions.csv").write_text("level,record_id,participant_id,arm,rule,reason\n", encoding="utf-8")
    inputs.files.append("results/c/qc/exclusions.csv")
    parsed = _Headings()
    parsed.feed(build_report(inputs, config, synthetic=True))
    assert parsed.headings and parsed.intros
    for heading in parsed.headings:
        assert "/" not in heading and not heading.strip().endswith((".csv", ".json", ".md")), heading
    for intro in parsed.intros:
        assert intro.strip().endswith(".") and "results/" not in intro and "reports/" not in intro, intro
    assert "Mixed: lmm coefficients" in parsed.headings  # a result file without a registered title: folder and name
    assert "Excluded records" in parsed.headings  # an empty result file: its title and a sentence, no empty table


def test_an_empty_result_is_said_in_words(workspace):
    root, inputs, config = workspace
    Path("results/c/qc/exclusions.csv").write_text("level,record_id,participant_id,arm,rule,reason\n", encoding="utf-8")
    inputs.files.append("results/c/qc/exclusions.csv")
    html = build_report(inputs, config, synthetic=True)
    assert "No record met a registered exclusion rule: every participant and conversation was analysed." in html
    assert "No rows." not in html


@pytest.mark.parametrize(("spec", "expected", "unexpected"), [
    ({"format": "pilot_release", "path": "x"}, "Lend an Ear pilot rating release", "trial"),
    ({"format": "simulated", "simulation": {"seed": 5}}, "Simulated cohort c", "authors"),
    ({"format": "paper_release"}, "(Lend an Ear trial): the authors' released data", "Simulated"),
    ({"format": "native", "path": "x"}, "Cohort c: Practicing with Language Models", "Simulated"),
])
def test_each_report_is_titled_for_what_its_cohort_is(workspace, spec, expected, unexpected):
    root, inputs, config = workspace
    config["cohorts"]["c"] = spec
    parsed = _Headings()
    parsed.feed(build_report(inputs, config, synthetic=spec["format"] == "simulated"))
    title = parsed.headings[0]
    assert expected in title and unexpected not in title, title


def test_a_cohort_without_a_consort_flow_has_a_data_section_not_a_flow(workspace):
    root, inputs, config = workspace
    Path("results/c/import").mkdir(parents=True)
    Path("results/c/import/parse_issues.csv").write_text("file,row,column,value,reason\n", encoding="utf-8")
    inputs.files.append("results/c/import/parse_issues.csv")
    inputs.flow = None
    config["cohorts"]["c"] = {"format": "pilot_release", "path": "x"}
    parsed = _Headings()
    parsed.feed(build_report(inputs, config, synthetic=False))
    assert "The data" in parsed.headings and "Design, data and CONSORT flow" not in parsed.headings
    html = build_report(inputs, config, synthetic=False)
    assert "Every record of the release was read; none was set aside." in html
    assert "REAL DATA: the Lend an Ear pilot rating release" in html


def test_the_plan_amendments_and_the_registered_decisions_are_shown(workspace):
    root, inputs, config = workspace
    audit = json.loads(Path(inputs.audit).read_text(encoding="utf-8"))
    audit["plan"]["amendments"] = [{"date": "2026-11-29", "sections": ["hypotheses"], "reason": "registered how H1 is decided"}]
    audit["hypotheses"] = [{
        "id": "H1", "description": "Coaching helps.", "term": "coach:post", "confirmatory": True, "analysis_id": "primary_did",
        "correction": "holm", "sided": "two-sided", "rule": "all", "status": "tested", "verdict": "partly supported",
        "run_as_registered": True, "alpha": 0.05,
        "tests": [{"outcome": "validating_emotions", "registered_direction": "increase", "tested": True, "decides": True,
                   "family": "H1", "estimate": 0.4, "std_error": 0.1, "ci_low": 0.2, "ci_high": 0.6, "p_value": 0.001,
                   "p_adjusted": 0.006, "observed_direction": "increase", "direction_as_registered": True, "significant": True}],
    }]
    Path(inputs.audit).write_text(json.dumps(audit), encoding="utf-8")
    html = build_report(inputs, config, synthetic=True)
    assert "Registered amendments to the plan" in html and "registered how H1 is decided" in html
    assert "H1 (partly supported)" in html and "H1: two-sided, holm within its outcomes, rule all" in html
    assert "0.006" in html  # the adjusted p-value
