"""One self-contained HTML report per cohort: every registered output of the cohort in one file.

The report is generic. Its rule hands it every registered target of the cohort (each analysis
family extends that list) plus a few context files; :data:`SECTIONS` sorts the files into sections
by their paths, and each file is rendered by its type:

* figures (``.png``) are embedded as base64 ``data:`` URIs with their caption (the ``.rst`` caption
  used by ``snakemake --report``, when there is one) and a link to the PDF beside them;
* display tables (``reports/NAME/tables/*.csv``, the CSV layout of :func:`analysis.render.tables.render_table`)
  are shown with their caption and note, with links to the ``.tex`` and ``.md`` versions;
* small result tables (``results/NAME/**/*.csv``) are shown rounded to 3 decimals; larger ones and
  every other file (``.nc``, ``.json``, ...) are listed as relative links.

Files no section claims are listed in an appendix, so nothing a family adds is lost. Around them the
report shows the data banner (real or SYNTHETIC), the design and CONSORT flow, the registered
hypotheses with their tests, the pre-registration audit, the published-versus-reproduced table for
``paper_release`` cohorts, and provenance (sha256 of every input, configuration, plan and lock,
package versions, seeds, git commit, run time). The HTML holds no script and loads nothing: it opens
from disk without a network.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from analysis import __version__
from analysis.prereg.plan import read_yaml
from analysis.render.escape import html_text, spreadsheet_value
from analysis.render.tables import format_number, format_p_value, outcome_label

__all__ = [
    "REPOSITORY_ROOT", "MAX_INLINE_ROWS", "MAX_INLINE_COLUMNS", "Section", "SECTIONS", "CONTEXT_PATTERNS", "ResultTable",
    "RESULT_TABLES", "SHOWN_AS", "result_table", "ReportInputs", "section_of", "png_display_width", "png_data_uri",
    "caption_text", "humanise", "DISPLAY_TITLES", "display_title", "read_display_table", "read_result_table", "file_blocks",
    "consort_block", "design_blocks", "hypothesis_block", "audit_blocks", "release_import_blocks", "planning_block",
    "comparison_blocks", "package_versions", "git_commit", "canonical_sha256", "provenance_blocks", "report_title",
    "build_report",
]

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
MAX_INLINE_ROWS = 40
MAX_INLINE_COLUMNS = 16


@dataclass(frozen=True)
class Section:
    """A report section: its anchor, title, introduction and the path patterns of the files it shows."""

    key: str
    title: str
    intro: str
    patterns: tuple[str, ...]


def _reports_naming(*words: str) -> tuple[str, ...]:
    """The patterns of the rendered tables and figures whose file names contain any of ``words``."""
    return tuple(f"reports/*/*/*{word}*" for word in words)


# Sections in display order; a file goes to the first section with a matching pattern
# (fnmatch patterns on the path relative to the working directory, cohort name replaced by *).
SECTIONS: tuple[Section, ...] = (
    Section("design", "Design, data and CONSORT flow", "The registered design, what reading the data recorded, and how "
            "many participants and conversations each registered exclusion kept.",
            ("results/*/qc/*", "results/*/import/*", "data/imported/*")),
    Section("primary", "Registered primary analysis", "OLS difference-in-differences, score ~ arm + post + arm:post, "
            "cluster-robust by participant, and the registered hypotheses it tests.",
            ("reports/*/tables/primary_*", "reports/*/tables/arm_contrasts*", "reports/*/figures/effects_sd*",
             "reports/*/figures/composite_by_conversation*", "results/*/primary/*")),
    Section("models", "The models", "Mixed-effects and Bayesian models of the same outcomes, reliability and reliable "
            "change, and the comparison of estimators.",
            ("results/*/mixed/*", "results/*/bayes/*", "results/*/models/*")
            + _reports_naming("lmm", "mixed", "bayes", "ordinal", "posterior", "ppc", "forest", "estimator", "responder",
                              "reliable", "reliability_change")),
    Section("secondary", "Secondary analyses", "Silent empathy (feeling versus expressing empathy), the perception "
            "task, standardized improvement and who benefits (exploratory).",
            ("results/*/silent_empathy/*", "results/*/perception/*", "results/*/improvement/*")
            + _reports_naming("silent", "trait", "self_", "perception", "elo", "bradley", "improvement", "benefit",
                              "moderation", "baseline")),
    Section("validity", "Measurement validity: the LLM judge", "Agreement of the LLM judges with experts and crowd "
            "workers, and how the primary effects move with the choice of judge.",
            ("results/*/reliability/*", "results/*/judges/*")
            + _reports_naming("agreement", "kappa", "experts", "pairwise", "judge", "reliability")),
    Section("taxonomy", "Taxonomy of empathic expressions", "What supporters say and how training changes it "
            "(phrases shown only when used by enough distinct participants).",
            ("results/*/taxonomy/*",) + _reports_naming("taxonomy", "theme", "phrase", "expression")),
    Section("planning", "Planning the next cohort", "Exploratory: power of every registered hypothesis by its "
            "registered decision rule, participants per arm for the target powers and minimal detectable effects, "
            "from trials simulated with this cohort's fitted model and analysed as registered (docs/power.md).",
            ("results/*/design/*", "reports/*/figures/power_curves*")),
    Section("release", "Published versus reproduced", "Each published number beside the value this pipeline "
            "reproduced from the authors' release, and whether they agree at the published precision.",
            ("results/*/release/*",)),
    Section("audit", "Pre-registration audit", "What was run compared with what was registered, field by field, and every "
            "deviation with whether it was declared.",
            ("reports/*/prereg_audit*",)),
)
CONTEXT_PATTERNS: tuple[str, ...] = ("results/*/validated/*",)


@dataclass(frozen=True)
class ResultTable:
    """How the report shows a tidy result file: a title, a sentence saying what it holds, and what to
    say instead of an empty table."""

    title: str
    what: str
    empty: str


# Result files shown inline (small enough), by path with the cohort replaced by *. A file not listed
# gets a title made from its folder and name (:func:`result_table`).
RESULT_TABLES: dict[str, ResultTable] = {
    "results/*/qc/exclusions.csv": ResultTable(
        "Excluded records", "Every record a registered exclusion rule removed, with the rule and the reason.",
        "No record met a registered exclusion rule: every participant and conversation was analysed."),
    "results/*/import/parse_issues.csv": ResultTable(
        "Records that could not be read", "Each record of the release that did not parse: file, row, column, value and why; "
        "it is left out of every analysis.", "Every record of the release was read; none was set aside."),
    "results/*/reliability/excluded.csv": ResultTable(
        "Ratings left out of the agreement analyses", "Ratings that could not be paired or were incomplete, with the reason.",
        "No rating was left out: every rating entered the agreement analyses."),
    "results/*/reliability/experts.csv": ResultTable(
        "How consistently the experts rate", "Per dimension, the intraclass correlations ICC(2,1) and ICC(2,k) and "
        "Krippendorff's alpha of the three experts.", "No dimension had ratings from enough experts to compute reliability."),
    "results/*/design/mde.csv": ResultTable(
        "Minimal detectable effects", "Per hypothesis and per test deciding it: the smallest effect (SD units) detected "
        "with the target power at this cohort's own arm sizes, with its Monte Carlo SE.",
        "No hypothesis is registered, so there is no minimal detectable effect."),
    "results/*/primary/model_fit.csv": ResultTable(
        "Fit of the primary models", "Per outcome: observations, participants (clusters), R\u00b2, residual SE and the F test.",
        "No primary model was fitted."),
    "results/*/primary/hypothesis_tests.csv": ResultTable(
        "How each registered hypothesis was decided", "Per hypothesis and outcome: the term or arm contrast that tests it, "
        "the p-value adjusted within the hypothesis' outcomes as registered, and the verdict by the registered rule.",
        "No hypothesis is registered."),
    "results/*/primary/arm_contrasts.csv": ResultTable(
        "Pairwise arm contrasts", "Differences between the arms' post-training effects, Holm-adjusted within each outcome, "
        "also in SD units.", "No pair of arms could be compared."),
    "results/*/primary/effects_sd.csv": ResultTable(
        "Effects in SD units", "Each arm's change from baseline to post-training in standard-deviation units, with 95% CI.",
        "No effect could be estimated."),
    "results/*/primary/judge_sensitivity.csv": ResultTable(
        "Primary effects judge by judge", "The primary difference-in-differences refitted with each judge's scores alone, "
        "beside the registered estimate.", "Only one judge scored this cohort, so there is nothing to compare."),
    "results/*/primary/judge_sensitivity_exclusions.csv": ResultTable(
        "Conversations a single judge did not score", "Conversations left out of one judge's refit for want of its scores.",
        "Every judge scored every analysed conversation; no refit left anything out."),
    "results/*/mixed/convergence.csv": ResultTable(
        "Convergence of the mixed models", "Per outcome: optimizer, iterations, log-likelihood and any warning.",
        "No mixed model was fitted."),
    "results/*/mixed/reliability.csv": ResultTable(
        "Reliability of a participant's scores", "Control-arm variance components, test-retest reliabilities and the "
        "standard error of a difference used for reliable change.", "Reliability could not be estimated."),
    "results/*/mixed/reliable_change_excluded.csv": ResultTable(
        "Participants left out of reliable change", "Participants without the conversations reliable change needs, and why.",
        "Nobody was left out: every analysed participant has a reliable-change class."),
    "results/*/mixed/responders.csv": ResultTable(
        "Who improved reliably", "Per arm: shares of participants with reliable improvement, no reliable change and "
        "reliable decline.", "No participant could be classified."),
    "results/*/improvement/arm_summary.csv": ResultTable(
        "Improvement by arm", "Mean improvement (post-training mean minus baseline) per arm in SD units.", "No improvement was computed."),
    "results/*/improvement/baseline_heterogeneity.csv": ResultTable(
        "Baseline differences", "The baseline composite by sex, age and trouble type.", "No baseline comparison was possible."),
    "results/*/improvement/baseline_means.csv": ResultTable(
        "Baseline means", "Mean baseline composite per group.", "No baseline mean was computed."),
    "results/*/improvement/coefficients.csv": ResultTable(
        "Who benefits: improvement models", "Coefficients of improvement on arm, without and with the baseline, and its "
        "moderation by sex and age (HC3 standard errors).", "No improvement model was fitted."),
    "results/*/improvement/left_out.csv": ResultTable(
        "Participants left out of the improvement analysis", "Participants without the data the improvement models need, and why.",
        "Nobody was left out of the improvement analysis."),
    "results/*/improvement/standardisers.csv": ResultTable(
        "Standardisers", "The standard deviations that put improvement in SD units.", "No standardiser was computed."),
    "results/*/improvement/wald_tests.csv": ResultTable(
        "Joint tests of moderation", "Wald tests that sex or age moderates the improvement.", "No moderation test was run."),
    "results/*/perception/elo_left_out.csv": ResultTable(
        "Pairs left out of the Elo comparison", "Comparisons without an Elo score, and why.", "No comparison was left out."),
    "results/*/perception/elo_logit.csv": ResultTable(
        "Choosing the higher-Elo conversation", "Logit of choosing the conversation the LLM's Elo ranks higher on the gap.",
        "The Elo model was not fitted."),
    "results/*/perception/elo_logit_fit.csv": ResultTable(
        "Fit of the Elo choice model", "Observations, raters and fit statistics of the model above.", "The Elo model was not fitted."),
    "results/*/perception/elo_rank_correlations.csv": ResultTable(
        "Elo against judged scores", "Spearman correlations of the LLM's Elo with the raters' strengths and the composite.",
        "No correlation was computed."),
    "results/*/perception/gap_bins.csv": ResultTable(
        "Choices by score gap", "Share of choices of the higher-composite conversation by size of the gap.", "No choice was recorded."),
    "results/*/perception/logit.csv": ResultTable(
        "Choosing the more empathic conversation", "Logit of choosing the higher-composite conversation on the gap and "
        "scenario, standard errors clustered by rater.", "The perception model was not fitted."),
    "results/*/perception/logit_fit.csv": ResultTable(
        "Fit of the perception model", "Observations, raters and fit statistics of the model above.", "The perception model was not fitted."),
    "results/*/perception/rank_correlations.csv": ResultTable(
        "Raters' strengths against judged scores", "Spearman correlation of the Bradley-Terry strengths with the composite.",
        "No correlation was computed."),
    "results/*/silent_empathy/high_rating_gap.csv": ResultTable(
        "Rating oneself 4-5 versus being judged 4-5", "Per dimension, the share rated 4 or 5 by themselves and by the judge, "
        "with McNemar's test.", "No participant rated themselves."),
    "results/*/silent_empathy/left_out.csv": ResultTable(
        "Participants left out of the silent-empathy analyses", "Participants without trait or self-ratings, and why.",
        "Nobody was left out of the silent-empathy analyses."),
    "results/*/silent_empathy/self_judged_correlations.csv": ResultTable(
        "Self-ratings against judged scores", "Per dimension, Pearson r, R\u00b2, p and N of self-ratings with the judge's scores.",
        "No participant rated themselves."),
    "results/*/silent_empathy/trait_correlations.csv": ResultTable(
        "Trait empathy against judged scores", "Pearson r, R\u00b2, p and N of the trait scales with the judged composite.",
        "No trait scale was recorded."),
    "results/*/silent_empathy/trait_levels.csv": ResultTable(
        "Judged scores by trait level", "Mean judged composite at each level of the trait scales.", "No trait scale was recorded."),
    "results/*/taxonomy/mining_left_out.csv": ResultTable(
        "Left out of phrase mining", "Messages or participants the phrase mining could not use, and why.",
        "Nothing was left out of phrase mining."),
    "results/*/taxonomy/phrase_change_left_out.csv": ResultTable(
        "Phrases without a change estimate", "Phrases or trouble types too rare to estimate a change, and why.",
        "Every phrase had a change estimate."),
    "results/*/taxonomy/theme_change_left_out.csv": ResultTable(
        "Themes without a change estimate", "Themes or trouble types too rare to estimate a change, and why.",
        "Every theme had a change estimate."),
}


# Result files a rendered table of the same cohort already shows (result path -> the table's name).
SHOWN_AS: dict[str, str] = {"results/*/reliability/experts.csv": "expert_reliability"}


def result_table(path: str, cohort: str) -> ResultTable:
    """The title, description and empty-table text of a result file (:data:`RESULT_TABLES`, else made
    from the file's folder and name)."""
    generic = path.replace(f"/{cohort}/", "/*/", 1)
    if generic in RESULT_TABLES:
        return RESULT_TABLES[generic]
    folder, name = humanise(Path(path).parent.name), humanise(Path(path).stem)
    return ResultTable(f"{folder}: {name[:1].lower()}{name[1:]}", f"The {name.lower()} of the {folder.lower()} analysis, "
                       "as the pipeline wrote them (numbers rounded to 3 decimals here).", "This analysis produced no rows for this cohort.")


@dataclass
class ReportInputs:
    """Everything the report reads (all declared inputs of its rule).

    Attributes
    ----------
    cohort : str
        Cohort name.
    files : list of str
        The cohort's registered targets (and any other file to list), relative to the working directory.
    audit : str
        reports/NAME/prereg_audit.json.
    prereg : str
        The registered plan.
    template : str
        The Jinja2 template (workflow/report/report.html.j2).
    requirements : str
        requirements.lock (pinned package versions).
    captions : list of str
        Caption files (workflow/report/*.rst); a figure or table ``NAME.png`` uses ``NAME.rst``.
    lock, flow, validation, import_record, comparison : str or None
        The plan's lock, qc/flow.csv, validated/validation.json, the paper_release import record and
        results/NAME/release/published_vs_reproduced.csv, where the cohort has them.
    """

    cohort: str
    files: list[str]
    audit: str
    prereg: str
    template: str
    requirements: str
    captions: list[str] = field(default_factory=list)
    lock: str | None = None
    flow: str | None = None
    validation: str | None = None
    import_record: str | None = None
    comparison: str | None = None


def section_of(path: str, cohort: str) -> str | None:
    """The key of the first section whose patterns match ``path`` (None: appendix)."""
    generic = path.replace(f"/{cohort}/", "/*/", 1)
    for section in SECTIONS:
        if any(fnmatch.fnmatch(generic, pattern) or fnmatch.fnmatch(path, pattern) for pattern in section.patterns):
            return section.key
    return None


def png_display_width(path: str | Path, default_dpi: float = 300.0, scale: float = 1.5, maximum: int = 1100) -> int:
    """CSS width (px) to show a PNG at ``scale`` times its printed size (from its pHYs resolution).

    A figure saved at 3.5 x 3.2 in and 300 dpi is shown about 500 px wide, a 7.2 in figure at the
    page width, so single-column figures do not fill the screen.
    """
    data = Path(path).read_bytes()
    width = int.from_bytes(data[16:20], "big")
    dpi = default_dpi
    position = data.find(b"pHYs")
    if position > 0 and data[position + 12] == 1:
        dpi = int.from_bytes(data[position + 4 : position + 8], "big") * 0.0254
    return int(min(maximum, round(width / dpi * 96 * scale)))


def png_data_uri(path: str | Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def caption_text(rst: str) -> str:
    """Plain text of an ``.rst`` caption (inline literals unwrapped, lines joined)."""
    return re.sub(r"\s+", " ", rst.replace("``", "")).strip()


def humanise(stem: str) -> str:
    """``composite_by_conversation`` -> ``Composite by conversation``."""
    text = re.sub(r"\bsd\b", "SD", stem.replace("_", " ").strip())
    return text[:1].upper() + text[1:]


# Titles of the rendered tables and figures, by file name; any other is its name in words (humanise).
DISPLAY_TITLES: dict[str, str] = {
    "primary_did": "Primary difference-in-differences", "effects_sd": "Effects in SD units",
    "arm_contrasts": "Pairwise arm contrasts", "composite_by_conversation": "Composite score by conversation",
    "bayes_effects": "Bayesian effects", "bayes_ppc": "Posterior predictive check", "bayes_diagnostics": "Bayesian diagnostics",
    "lmm_coefficients": "Linear mixed models", "responders": "Reliable responders", "estimator_comparison": "Estimators compared",
    "perception": "Perception task", "perception_elo": "Perception against the LLM's Elo", "perception_gap_bins": "Choices by score gap",
    "silent_empathy_gap": "Rating oneself high versus being judged high",
    "silent_empathy_correlations": "Self-ratings and traits against judged scores",
    "silent_empathy_traits": "Trait empathy against judged scores", "silent_empathy_self_vs_judged": "Self-ratings against judged scores",
    "improvement_effects": "Improvement models", "improvement_by_arm": "Improvement by arm",
    "baseline_heterogeneity": "Baseline differences", "judge_sensitivity": "Primary effects judge by judge",
    "phrase_change": "Change in phrase use", "theme_change": "Change in theme use", "taxonomy_phrases": "Taxonomy of phrases",
    "agreement": "Agreement between raters", "expert_reliability": "Expert reliability",
}


def display_title(stem: str) -> str:
    """The title of a rendered table or figure (:data:`DISPLAY_TITLES`, else its name in words)."""
    return DISPLAY_TITLES.get(stem, humanise(stem))


def read_display_table(path: str | Path) -> dict:
    """A table written by :func:`analysis.render.tables.render_table` (CSV layout: header, caption row, rows, note row), its
    cells read back as their text (:func:`analysis.render.escape.spreadsheet_value`)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).map(spreadsheet_value)
    frame.columns = [spreadsheet_value(column) for column in frame.columns]
    caption, note = "", ""
    if len(frame) and all(value == "" for value in frame.iloc[0, 1:]):
        caption = frame.iloc[0, 0]
        frame = frame.iloc[1:]
    if len(frame) and frame.iloc[-1, 0].startswith("Note: ") and all(value == "" for value in frame.iloc[-1, 1:]):
        note = frame.iloc[-1, 0].removeprefix("Note: ")
        frame = frame.iloc[:-1]
    return {"caption": caption, "note": note, "columns": list(frame.columns), "rows": frame.to_numpy().tolist()}


def _format_cell(value, column: str = "") -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return ""
        if column == "p" or column.startswith("p_") or column.endswith(("_p", "p_value")):
            return format_p_value(value, 3)
        return format_number(value, 3)
    return str(value)


def read_result_table(path: str | Path) -> dict | None:
    """A small tidy result CSV as display rows (p-values as p, other floats to 3 decimals), or None when
    too large to show."""
    frame = pd.read_csv(path)
    if len(frame) > MAX_INLINE_ROWS or frame.shape[1] > MAX_INLINE_COLUMNS:
        return None
    columns = list(frame.columns)
    return {"columns": columns,
            "rows": [[_format_cell(v, c) for v, c in zip(row, columns)] for row in frame.itertuples(index=False)]}


def _link(path: str, base: str, label: str | None = None) -> dict:
    return {"href": os.path.relpath(path, base).replace(os.sep, "/"), "label": label or Path(path).name}


def file_blocks(paths: Sequence[str], base: str, captions: Mapping[str, str]) -> list[dict]:
    """Blocks (figure, table or link list) showing ``paths``, figures and tables first."""
    present = set(paths)
    displayed = {Path(p).stem for p in paths if "/tables/" in p or p.endswith(".png")}
    blocks, links = [], []
    stems_done = set()
    for path in sorted(paths, key=lambda p: (Path(p).suffix != ".png", "/tables/" not in p, p)):
        stem = str(Path(path).with_suffix(""))
        siblings = [p for p in sorted(present) if str(Path(p).with_suffix("")) == stem and p != path]
        name = Path(path).stem
        if path.endswith(".png"):
            blocks.append({"type": "figure", "title": display_title(name), "caption": captions.get(name, ""), "src": png_data_uri(path),
                           "width": png_display_width(path),
                           "links": [_link(p, base) for p in siblings], "path": path})
            stems_done.add(stem)
        elif path.endswith(".csv") and "/tables/" in path and stem not in stems_done:
            table = read_display_table(path)
            blocks.append({"type": "table", "title": display_title(name), **table, "caption": table["caption"] or captions.get(name, ""),
                           "links": [_link(p, base) for p in [path, *siblings]], "path": path})
            stems_done.add(stem)
        elif stem in stems_done:
            continue
        elif path.endswith(".csv") and not path.startswith("reports/"):
            described = result_table(path, Path(base).name)
            shown = name in displayed or SHOWN_AS.get(path.replace(f"/{Path(base).name}/", "/*/", 1)) in displayed
            table = None if shown else read_result_table(path)
            if table is None:
                detail = "shown above as a table" if shown else f"{len(pd.read_csv(path))} rows, too many to show here"
                links.append({**_link(path, base, path), "detail": f"{described.title.lower()}; {detail}"})
            elif not table["rows"]:
                blocks.append({"type": "text", "title": described.title, "text": described.empty, "class": "",
                               "links": [_link(path, base)]})
            else:
                blocks.append({"type": "table", "title": described.title, "caption": described.what, "note": "", **table,
                               "links": [_link(path, base)], "path": path})
        else:
            links.append({**_link(path, base, path), "detail": ""})
    if links:
        blocks.append({"type": "links", "title": "Other outputs", "items": links})
    return blocks


def consort_block(flow: pd.DataFrame, arms: Sequence[str]) -> dict:
    """The CONSORT flow as boxes: randomised, excluded by each rule, analysed, per arm."""
    columns = []
    for arm in [*arms, "all"]:
        rows = flow[flow["arm"] == arm]
        randomised = rows[rows["stage"] == "randomised"].iloc[0]
        analysed = rows[rows["stage"] == "analysed"].iloc[0]
        excluded = [
            {"rule": r["rule"], "participants": int(r["n_participants"]), "conversations": int(r["n_conversations"])}
            for _, r in rows[rows["stage"] == "excluded"].iterrows()
        ]
        columns.append({"arm": arm, "randomised": (int(randomised["n_participants"]), int(randomised["n_conversations"])),
                        "excluded": excluded, "analysed": (int(analysed["n_participants"]), int(analysed["n_conversations"]))})
    return {"type": "consort", "columns": columns}


def design_blocks(plan: Mapping, flow: pd.DataFrame | None) -> list[dict]:
    """The registered design (arms, outcomes, exclusions, judges) and the CONSORT flow."""
    design = plan["design"]
    composite = plan["outcomes"]["composite"]
    rows = [
        ["Arms", ", ".join(design["arms"]) + f" (reference: {design['reference_arm']})"],
        ["Conversations per participant", f"{design['conversations_per_participant']} (post-training: "
         f"{', '.join(map(str, design['post_conversations']))})"],
        ["Dimensions (judged 1-5)", ", ".join(outcome_label(d) for d in plan["outcomes"]["dimensions"])],
        ["Composite", f"{composite['name']} = " + " + ".join(composite["add"]) + " - " + " - ".join(composite["subtract"])],
        ["Judge aggregation", ", ".join(f"{k}: {v}" for k, v in plan["judge_aggregation"].items())],
    ]
    rows += [[f"Exclusion {rule['id']}", rule["description"]] for rule in plan["exclusions"]]
    blocks = [{"type": "table", "title": "Registered design", "caption": "", "note": "", "columns": ["Item", "Registered"], "rows": rows, "links": []}]
    if flow is not None:
        blocks.append(consort_block(flow, design["arms"]))
    return blocks


def hypothesis_block(audit: Mapping) -> dict:
    """The registered hypotheses with their tests (from the audit)."""
    rows = []
    for hypothesis in audit["hypotheses"]:
        for index, test in enumerate(hypothesis["tests"] or [{"outcome": "", "tested": False, "registered_direction": ""}]):
            if test.get("tested"):
                cells = [format_number(test["estimate"]), f"[{format_number(test['ci_low'])}, {format_number(test['ci_high'])}]",
                         format_p_value(test["p_value"]), format_p_value(test["p_adjusted"]), test["observed_direction"],
                         {"text": "yes" if test["direction_as_registered"] else "no",
                          "class": "good" if test["direction_as_registered"] and test["significant"] else ""},
                         "yes" if test["decides"] else "no (supporting)"]
            else:
                cells = ["not tested", "", "", "", "", "", ""]
            first = index == 0
            rows.append([f"{hypothesis['id']} ({hypothesis['verdict']})" if first else "", hypothesis["term"] if first else "",
                         outcome_label(test["outcome"]) if test["outcome"] else "", test["registered_direction"], *cells,
                         ("yes" if hypothesis["run_as_registered"] else {"text": "no", "class": "bad"}) if first else ""])
    decisions = "; ".join(
        f"{h['id']}: {h.get('sided', 'two-sided')}, {h.get('correction', 'holm')} within its outcomes, rule {h.get('rule', 'all')}"
        for h in audit["hypotheses"]
    )
    return {
        "type": "table", "title": "Registered hypotheses and their tests", "path": "",
        "caption": "Each registered hypothesis decided as registered (results/NAME/primary/hypothesis_tests.csv): the primary "
                   "coefficient or arm contrast that tests it for each outcome, the p-value adjusted within the hypothesis' "
                   "outcome family, and whether the estimate moved in the registered direction with adjusted p < alpha (marked). "
                   "Rule all: supported when every deciding outcome does, partly supported when some do; any: supported when one "
                   "does; composite_only: the composite alone decides. Registered decisions: " + decisions + ".",
        "note": "; ".join(f"{h['id']}: {h['description']}" for h in audit["hypotheses"]),
        "columns": ["Hypothesis", "Term", "Outcome", "Registered", "Estimate", "95% CI", "p", "p adjusted", "Observed",
                    "As registered", "Decides", "Run as registered"],
        "rows": rows, "links": [],
    }


def audit_blocks(audit: Mapping, base: str, audit_paths: Sequence[str]) -> list[dict]:
    """Summary, registered analyses and deviations of the pre-registration audit."""
    summary, plan = audit["summary"], audit["plan"]
    lock = {"unlocked": "the plan is not locked", "matches": f"the plan matches its lock of {plan['locked_on']}",
            "amended": f"the plan was AMENDED after its lock of {plan['locked_on']}"}[plan["status"]]
    text = (f"{'Passed' if summary['passed'] else 'FAILED'}: {summary['n_run']} of {summary['n_registered']} registered analyses "
            f"run; {summary['n_deviations']} deviation(s), {summary['n_declared']} declared, {summary['n_undeclared']} undeclared. "
            f"Plan sha256 {plan['sha256'][:16]}...; {lock}.")
    analyses = [[a["analysis_id"], a["section"], "yes" if a["confirmatory"] else "no",
                 {"text": a["status"] + (f" ({a['reason']})" if a.get("reason") else ""), "class": "bad" if a["status"] == "not run" else ""},
                 str(sum(len(r["checks"]) for r in a["records"])),
                 ", ".join(c["field"] for r in a["records"] for c in r["checks"] if not c["matches"]) or "-"]
                for a in audit["analyses"]]
    deviations = [[d["severity"], d["kind"], d["analysis_id"], d["field"], d["message"],
                   {"text": f"declared ({d['declaration_id']}): {d['reason']}", "class": ""} if d["declared"]
                   else {"text": "UNDECLARED", "class": "bad"}] for d in audit["deviations"]]
    blocks = [
        {"type": "text", "text": text, "class": "good" if summary["passed"] else "bad"},
        {"type": "table", "title": "Registered analyses", "caption": "", "note": "", "path": "",
         "columns": ["Analysis", "Registered in", "Confirmatory", "Status", "Fields compared", "Differing"], "rows": analyses,
         "links": [_link(p, base) for p in audit_paths]},
    ]
    amendments = plan.get("amendments") or []
    if amendments:
        blocks.append({"type": "table", "title": "Registered amendments to the plan", "path": "", "links": [],
                       "caption": "Changes made to the plan after it was first locked, each with its date, the sections it "
                                  "changed and why; the plan was locked again afterwards.", "note": "",
                       "columns": ["Date", "Sections", "Reason"],
                       "rows": [[a["date"], ", ".join(a["sections"]), a["reason"]] for a in amendments]})
    if deviations:
        blocks.append({"type": "table", "title": "Deviations", "caption": "", "note": "", "path": "",
                       "columns": ["Severity", "Kind", "Analysis", "Field", "What", "Declared"], "rows": deviations, "links": []})
    else:
        blocks.append({"type": "text", "text": "No deviation from the registered plan.", "class": ""})
    return blocks


def release_import_blocks(record: Mapping) -> list[dict]:
    """What the authors' release import could not use: unverified files, optional files not imported."""
    blocks = []
    verification = record.get("verification", {})
    if verification.get("unverified_files"):
        blocks.append({"type": "text", "class": "bad", "text": "Unverified copy: "
                       + ", ".join(verification["unverified_files"]) + " were imported without checking them against the "
                       "authors' published checksums (verify_checksums: false)."})
    rows = [[f"{entry['source']} -> {name}.csv", entry["families"], entry["reason"]]
            for name, entry in record.get("optional", {}).items() if not entry["available"]]
    if rows:
        blocks.append({"type": "table", "title": "Optional release files not imported", "caption": "", "path": "", "links": [],
                       "note": "Their analyses were skipped for this cohort (not run: input unavailable); the primary "
                               "analysis does not need them. Listed in import_issues.csv too.",
                       "columns": ["File", "Analyses skipped", "Why"], "rows": rows})
    return blocks


def planning_block(sample_size: pd.DataFrame) -> dict:
    """Participants per arm each registered hypothesis needs for each target power (design/sample_size.csv).

    Shown as ``n (MC SE)``, rounded up to whole participants; beyond the simulated grid the bound is
    shown (``> 600``, ``<= 50``).
    """
    rows = []
    hypotheses = sample_size[sample_size["kind"] == "hypothesis"]
    targets = sorted(hypotheses["target_power"].unique())
    for (name, scenario), group in hypotheses.groupby(["name", "scenario"], sort=False):
        cells = []
        for target in targets:
            row = group[group["target_power"] == target].iloc[0]
            if row["status"] == "above_grid":
                cells.append(f"> {format_number(row['grid_low'], 0)}")
            elif row["status"] == "below_grid":
                cells.append(f"\u2264 {format_number(row['grid_high'], 0)}")
            else:
                se = "" if pd.isna(row["mc_se"]) else f" ({format_number(row['mc_se'], 0)})"
                cells.append(f"{-int(-row['n_per_arm'] // 1)}{se}")  # rounded up: recruit whole participants
        label = "estimated in this cohort" if scenario == "estimated" else "smallest effect of interest"
        rows.append([name, label, *cells])
    return {"type": "table", "title": "Participants per arm by target power", "caption": "", "path": "", "links": [],
            "note": "Interpolated on the simulated grid of participants per arm; Monte Carlo SE in brackets (delta "
                    "method). Every hypothesis is decided by its registered rule and correction.",
            "columns": ["Hypothesis", "Effects", *(f"{t:.0%} power" for t in targets)], "rows": rows}


def _display_decimals(value: float, published_decimals: int) -> int:
    """Decimals to show a reproduced value with: two more than published (counts: none when whole)."""
    if published_decimals == 0:
        return 0 if float(value).is_integer() else 2
    return published_decimals + 2


def comparison_blocks(comparison: pd.DataFrame) -> list[dict]:
    """The published-versus-reproduced table."""
    agree = int(comparison["agrees"].sum())
    sources = list(dict.fromkeys(comparison["source"]))
    rows = [[r.quantity, r.key, r.published,
             format_number(r.reproduced, _display_decimals(r.reproduced, int(r.decimals))) if pd.notna(r.reproduced) else "not reproduced",
             r.reproduced_rounded, {"text": "yes" if r.agrees else "no", "class": "good" if r.agrees else "bad"},
             f"[{sources.index(r.source) + 1}]"]
            for r in comparison.itertuples(index=False)]
    return [
        {"type": "text", "text": f"{agree} of {len(comparison)} published numbers agree at the published precision "
                                 "(the reproduced value rounded half up to the published number of decimals equals it).", "class": ""},
        {"type": "table", "title": "Published versus reproduced", "caption": "", "path": "",
         "note": "Sources: " + " ".join(f"[{index}] {source}." for index, source in enumerate(sources, 1)),
         "columns": ["Quantity", "Where", "Published", "Reproduced", "Rounded", "Agrees", "Source"], "rows": rows, "links": []},
    ]


def package_versions(requirements: str | Path) -> list[dict]:
    """Every pinned package of requirements.lock with the version installed (importlib.metadata)."""
    rows = []
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" not in line:
            continue
        name, pinned = (part.strip() for part in line.split("==", 1))
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        rows.append({"name": name, "pinned": pinned, "installed": installed, "matches": installed == pinned})
    return rows


def git_commit(directory: str | Path = REPOSITORY_ROOT) -> str:
    """The checkout's commit (with ``+ local changes`` when tracked files differ), or ``not a git checkout``."""
    try:
        commit = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        if commit.returncode != 0:
            return "not a git checkout"
        status = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return commit.stdout.strip() + (" + local changes" if status.stdout.strip() else "")


def _seeds(value, path: str = "") -> list[tuple[str, object]]:
    found = []
    if isinstance(value, Mapping):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            found += [(where, child)] if key == "seed" or key.endswith("_seed") else _seeds(child, where)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _seeds(child, f"{path}[{index}]")
    return found


def canonical_sha256(value) -> str:
    """sha256 of a JSON-able value as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")).hexdigest()


def provenance_blocks(inputs: ReportInputs, plan: Mapping, run_config: Mapping, audit: Mapping, generated_at: dt.datetime) -> list[dict]:
    """Inputs and their sha256, configuration, plan and lock, packages, seeds, git commit, run time."""
    blocks = []
    rows = []
    if inputs.validation:
        validation = json.loads(Path(inputs.validation).read_text(encoding="utf-8"))
        rows += [[f"{name} (native contract v{validation.get('contract_version')})", f"{validation['rows'].get(name, '')}", sha]
                 for name, sha in sorted(validation["sha256"].items())]
    if inputs.import_record:
        record = json.loads(Path(inputs.import_record).read_text(encoding="utf-8"))
        rows += [[f"release {info['name']} (commit {record['release']['commit'][:12]})", f"{info['size']} bytes", info["sha256"]]
                 for info in record["files"].values()]
    for path in sorted(p for p in inputs.files if p.endswith(".json") and Path(p).exists()):
        checksums = json.loads(Path(path).read_text(encoding="utf-8"))
        checksums = checksums.get("sha256") if isinstance(checksums, dict) else None
        if isinstance(checksums, dict) and all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in checksums.values()):
            rows += [[f"{name} (recorded in {path})", "", sha] for name, sha in sorted(checksums.items())]
    if rows:
        blocks.append({"type": "table", "title": "Inputs", "caption": "sha256 of every input file the pipeline read for this cohort.",
                       "note": "", "columns": ["Input", "Rows / size", "sha256"], "rows": rows, "links": [], "path": ""})
    cohort_spec = run_config.get("cohorts", {}).get(inputs.cohort, {})
    lock_text = {"unlocked": "not locked", "matches": f"matches its lock ({audit['plan']['locked_on']})",
                 "amended": f"amended after its lock ({audit['plan']['locked_on']})"}[audit["plan"]["status"]]
    times = [Path(p).stat().st_mtime for p in inputs.files if Path(p).exists()]
    started = dt.datetime.fromtimestamp(min(times), dt.timezone.utc) if times else None
    finished = dt.datetime.fromtimestamp(max(times), dt.timezone.utc) if times else None
    rows = [
        ["Cohort", f"{inputs.cohort}: " + json.dumps(cohort_spec, sort_keys=True)],
        ["Run configuration", f"sha256 {canonical_sha256(run_config)} (canonical JSON of the merged configuration)"],
        ["Registered plan", f"{Path(inputs.prereg).name}: sha256 {audit['plan']['sha256']} (canonical JSON); {lock_text}"],
        ["Plan lock", f"{Path(inputs.lock).name}: sha256 {audit['plan']['locked_sha256']}" if inputs.lock else "no lock file"],
        ["Seeds", "; ".join(f"{where} = {value}" for where, value in _seeds({"cohort": cohort_spec, "plan": plan})) or "none"],
        ["Git commit", git_commit()],
        ["Analysis package", f"analysis {__version__}"],
        ["Run time", (f"outputs of this cohort written between {started:%Y-%m-%d %H:%M:%S} and {finished:%Y-%m-%d %H:%M:%S} UTC "
                      f"({(finished - started).total_seconds():.0f} s); report generated {generated_at:%Y-%m-%d %H:%M:%S} UTC")
         if started else f"report generated {generated_at:%Y-%m-%d %H:%M:%S} UTC"],
    ]
    blocks.append({"type": "table", "title": "Configuration and code", "caption": "", "note": "", "columns": ["Item", "Value"], "rows": rows,
                   "links": [], "path": ""})
    packages = package_versions(inputs.requirements)
    mismatched = [p for p in packages if not p["matches"]]
    blocks.append({
        "type": "table", "title": "Package versions", "collapsed": True,
        "caption": f"{len(packages)} packages pinned in requirements.lock; {len(packages) - len(mismatched)} installed at the pinned version"
                   + (f"; differing: {', '.join(p['name'] for p in mismatched)}" if mismatched else "") + ".",
        "note": "", "columns": ["Package", "Pinned", "Installed"], "path": "", "links": [],
        "rows": [[p["name"], p["pinned"], p["installed"] if p["matches"] else {"text": p["installed"], "class": "bad"}] for p in packages],
    })
    return blocks


def report_title(plan: Mapping, cohort: str, cohort_spec: Mapping, synthetic: bool) -> str:
    """What the cohort is, as the report's title.

    The trial's title (the registered plan's ``title``) only heads reports of trial data: the
    authors' release or a native cohort. A simulated cohort says it is simulated; the pilot rating
    release is a rating study of 50 conversations, not the trial.
    """
    kind = cohort_spec.get("format", "native")
    trial = plan.get("title", "the Lend an Ear trial")
    if kind == "pilot_release":
        return "Lend an Ear pilot rating release: how LLM judges agree with experts and crowd workers"
    if kind == "simulated" or synthetic:
        return f"Simulated cohort {cohort}: the registered analyses of the Lend an Ear trial on synthetic data"
    if kind == "paper_release":
        return f"{trial}: the authors' released data"
    return f"Cohort {cohort}: {trial}"


def build_report(inputs: ReportInputs, run_config: Mapping, synthetic: bool, generated_at: dt.datetime | None = None) -> str:
    """Render the cohort's report as one self-contained HTML document.

    Parameters
    ----------
    inputs : ReportInputs
        Paths of everything the report shows (the rule's declared inputs).
    run_config : mapping
        The run configuration as Snakemake merged it (for the cohort's spec, seeds and its sha256).
    synthetic : bool
        Whether the cohort is simulated (the banner then says SYNTHETIC DATA).
    generated_at : datetime, optional
        Time stamp shown under provenance (now, UTC, by default).

    Returns
    -------
    str
        The HTML text: inline CSS, figures as ``data:`` URIs, relative links to the other outputs,
        no script and no external resource.
    """
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    cohort = inputs.cohort
    base = f"reports/{cohort}"
    plan = read_yaml(inputs.prereg)
    audit = json.loads(Path(inputs.audit).read_text(encoding="utf-8"))
    captions = {Path(path).stem: caption_text(Path(path).read_text(encoding="utf-8")) for path in inputs.captions}
    flow = pd.read_csv(inputs.flow, keep_default_na=False) if inputs.flow else None
    cohort_spec = run_config.get("cohorts", {}).get(cohort, {})

    by_section: dict[str | None, list[str]] = {}
    listed = sorted(set(inputs.files) | {p for p in (inputs.comparison,) if p})
    for path in listed:
        if any(fnmatch.fnmatch(path, pattern) for pattern in CONTEXT_PATTERNS):
            continue
        by_section.setdefault(section_of(path, cohort), []).append(path)

    sections = []
    for section in SECTIONS:
        paths = by_section.get(section.key, [])
        blocks: list[dict] = []
        if section.key == "design" and flow is not None:
            blocks += design_blocks(plan, flow)
            paths = [p for p in paths if p != inputs.flow]
        if section.key == "primary" and audit["hypotheses"] and any(h["tests"] for h in audit["hypotheses"]):
            blocks.append(hypothesis_block(audit))
        if section.key == "release":
            if inputs.comparison is None:
                continue
            blocks += comparison_blocks(pd.read_csv(inputs.comparison, keep_default_na=False, dtype={"published": str,
                                                                                                      "reproduced_rounded": str}))
            paths = [p for p in paths if p != inputs.comparison]
            blocks.append({"type": "links", "title": "Files", "items": [{**_link(inputs.comparison, base, inputs.comparison), "detail": ""}]})
            if inputs.import_record:
                blocks += release_import_blocks(json.loads(Path(inputs.import_record).read_text(encoding="utf-8")))
        sample_size = next((p for p in paths if p.endswith("/design/sample_size.csv")), None)
        if section.key == "planning" and sample_size:
            blocks.append(planning_block(pd.read_csv(sample_size)))
        if section.key == "audit":
            blocks += audit_blocks(audit, base, [p for p in paths if p.endswith((".md", ".json"))])
            paths = []
        blocks += file_blocks(paths, base, captions)
        if blocks:
            title, intro = section.title, section.intro
            if section.key == "design" and flow is None:  # a rating cohort: no arms, no exclusions, no CONSORT flow
                title, intro = "The data", "What reading the data recorded: every record that was set aside, and why."
            sections.append({"key": section.key, "title": title, "intro": intro, "blocks": blocks})
    sections.append({"key": "provenance", "title": "Provenance", "intro": "What this report was made from.",
                     "blocks": provenance_blocks(inputs, plan, run_config, audit, generated_at)})
    if by_section.get(None):
        sections.append({"key": "appendix", "title": "Appendix: other outputs", "intro": "Outputs of analyses this report has no "
                         "dedicated section for.", "blocks": file_blocks(by_section[None], base, captions)})

    import_record = json.loads(Path(inputs.import_record).read_text(encoding="utf-8")) if inputs.import_record else {}
    if synthetic or import_record.get("synthetic"):
        banner = {"class": "synthetic", "text": "SYNTHETIC DATA: a simulated cohort, not trial results. Every number and figure "
                  "below was computed from data the pipeline generated."}
    elif cohort_spec.get("format") == "paper_release":
        banner = {"class": "real", "text": "REAL DATA: the authors' public release of the Lend an Ear trial, imported by the "
                  "paper_release adapter (docs/paper_release.md)."}
    elif cohort_spec.get("format") == "pilot_release":
        banner = {"class": "real", "text": "REAL DATA: the Lend an Ear pilot rating release, 50 conversations each rated by "
                  "experts, crowd workers and LLM judges (docs/measurement_validity.md)."}
    else:
        banner = {"class": "real", "text": f"REAL DATA: cohort read from {cohort_spec.get('format', 'native')} input files."}
    unverified = import_record.get("verification", {}).get("unverified_files")
    if unverified:
        banner["text"] += (f" UNVERIFIED COPY: these files were not checked against the authors' published checksums "
                           f"(verify_checksums: false): {', '.join(unverified)}.")
    validation = json.loads(Path(inputs.validation).read_text(encoding="utf-8")) if inputs.validation else {}
    if import_record.get("pseudonymised") or validation.get("pseudonymised"):
        banner["text"] += (" PSEUDONYMISED IDS: every participant, conversation, rater and pair ID in this report and the "
                           "cohort's outputs is a keyed hash (HMAC-SHA256; the key is kept outside the repository).")
    skipped = {name: entry for name, entry in import_record.get("optional", {}).items() if not entry["available"]}
    if skipped:
        banner["text"] += (" Skipped for want of input: " + "; ".join(f"{entry['families']} ({name}.csv unavailable)"
                                                                     for name, entry in skipped.items())
                           + " (reasons under Published versus reproduced).")
    # Every value goes through html_text (controls made visible, markup escaped); autoescape stays on behind it.
    environment = jinja2.Environment(autoescape=True, finalize=html_text, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True)
    template = environment.from_string(Path(inputs.template).read_text(encoding="utf-8"))
    return template.render(
        title=report_title(plan, cohort, cohort_spec, synthetic), cohort=cohort, banner=banner, sections=sections,
        audit_passed=audit["summary"]["passed"], generated_at=f"{generated_at:%Y-%m-%d %H:%M} UTC",
    )
