"""Hostile participant text: planted in a simulated release, then looked for in every output.

:func:`with_hostile_text` plants text that would run or turn into markup if a rendering step passed
it through (a spreadsheet formula, a script tag, Markdown and LaTeX syntax, a bidirectional
override) into a simulated release (:mod:`analysis.simulate.release`):

* as theme labels (``Level 3``), with ``Level 2`` parents holding a line break, coded on many
  supporter messages of the treated arms after training, so that every one is used by far more
  than k participants and rises significantly: the theme change table shows each of them;
* in supporter messages of the treated arms after training, so that the phrase miner sees it;
* as the trouble type of one theme row, which the import keeps and lists in ``import_issues.csv``.

:func:`assert_hostile_text_is_inert` then reads every output of the run: the rendered tables show
each theme label escaped for their format, the spreadsheet copies hold no formula, the HTML report
no markup from the data, and the tidy results keep the labels exactly.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.adapters.paper_release import CONDITION_ARMS
from analysis.cohorts.privacy import WITHHELD, scrub_text
from analysis.render.escape import latex_text, markdown_text, spreadsheet_cell
from analysis.simulate.release import SimulatedRelease

HOSTILE_THEMES: tuple[str, ...] = (
    '=HYPERLINK("http://x","y")',
    "<script>alert(1)</script>",
    "| a | b |",
    "`code`",
    "\\input{/etc/passwd}",
    "$x$",
    "50% & more_{}",
    "@SUM(1+1) \U0001f600 \u200f\u202eevil",
    "-2+3+cmd|' /C calc'!A0",
    "[link](javascript:alert(1)) *bold* <img src=x onerror=alert(1)>",
)
# A supporter message: the miner keeps only its words, but the whole text passes the contract.
HOSTILE_MESSAGE = "=HYPERLINK(\"http://x\",\"y\") <script>alert(1)</script> | a | b | `code` \\input{/etc/passwd}\nline two $x$ 50% & more_{} \U0001f600 \u200f"
# The words the miner sees in its first line (scrubbed: the URL becomes [url]); punctuation is dropped.
HOSTILE_WORDS = "hyperlink url y script alert 1 script a b code input etc passwd"
HOSTILE_TROUBLE_TYPE = "=cmd|' /C calc'!A0"
LEVEL_1 = "Validating Emotions"
REFERENCE_ARM = "control"
# Share of supporter messages coded with each hostile theme: treated arms after training, all others.
CODED_SHARE = {"treated_after": 0.8, "other": 0.05}
MESSAGE_SHARE = 0.5

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# The control sequences a rendered table uses (pandas' Styler.to_latex, the note, the escapes).
TEX_COMMANDS = {"begin", "end", "centering", "caption", "label", "toprule", "midrule", "bottomrule", "par", "smallskip",
                "footnotesize", "textbackslash", "textless", "textgreater", "textbar", "textasciitilde",
                "textasciicircum", "textasciigrave"}
# The elements the report template writes; anything else came from the data.
TEMPLATE = Path(__file__).resolve().parent.parent / "workflow" / "report" / "report.html.j2"
HTML_ELEMENTS = set(re.findall(r"<([a-z][a-z0-9]*)", TEMPLATE.read_text(encoding="utf-8")))


def with_hostile_text(release: SimulatedRelease, seed: int = 11) -> SimulatedRelease:
    """The release with hostile theme labels, message text and a hostile trouble type planted.

    Parameters
    ----------
    release : SimulatedRelease
        From :func:`analysis.simulate.release.simulate_release`.
    seed : int
        Seed of the draws choosing the coded and changed messages.

    Returns
    -------
    SimulatedRelease
        The same release with ``all_themes`` extended by one row per coded message and hostile
        theme, supporter messages (transcripts and ``user_message``) extended by
        :data:`HOSTILE_MESSAGE`, and the cohort's messages changed alike.
    """
    rng = np.random.default_rng(seed)
    cohort = release.cohort
    conversations = cohort.conversations.merge(cohort.participants[["participant_id", "arm"]], on="participant_id")
    conversations["treated_after"] = (conversations["arm"] != REFERENCE_ARM) & (conversations["conversation_number"] >= 2)
    supporter = cohort.messages[cohort.messages["role"] == "supporter"].merge(
        conversations[["conversation_id", "participant_id", "conversation_number", "arm", "trouble_type", "treated_after"]],
        on="conversation_id")

    changed = supporter[supporter["treated_after"].to_numpy() & (rng.random(len(supporter)) < MESSAGE_SHARE)]
    messages = cohort.messages.copy()
    key = messages["conversation_id"] + " " + messages["turn"].astype(str)
    hit = key.isin(changed["conversation_id"] + " " + changed["turn"].astype(str))
    messages.loc[hit, "text"] = messages.loc[hit, "text"] + " " + HOSTILE_MESSAGE

    roles = messages["role"].map({"seeker": "Seeker", "supporter": "Supporter"})
    transcripts = (roles + ": " + messages["text"]).groupby(messages["conversation_id"], sort=False).agg("\n".join)
    release_to_native = {value: key for key, value in release.conversation_ids.items()}
    experiment_1 = release.files["experiment_1"].copy()
    native = experiment_1["conversation_id"].map(release_to_native)
    transcript = pd.Series(transcripts.reindex(native).to_numpy(), index=experiment_1.index)
    experiment_1["conversation"] = transcript.fillna(experiment_1["conversation"])
    supporter_text = messages[messages["role"] == "supporter"].set_index(["conversation_id", "turn"])["text"]
    turns = pd.MultiIndex.from_arrays([native, pd.to_numeric(experiment_1["message_count"], errors="coerce").fillna(0).astype(int)])
    new_text = supporter_text.reindex(turns).to_numpy()
    experiment_1["user_message"] = np.where(pd.isna(new_text), experiment_1["user_message"], new_text)

    condition_of = {arm: condition for condition, arm in CONDITION_ARMS.items()}
    share = np.where(supporter["treated_after"], CODED_SHARE["treated_after"], CODED_SHARE["other"])
    rows = []
    for theme in HOSTILE_THEMES:
        coded = supporter[rng.random(len(supporter)) < share]
        rows.append(pd.DataFrame({
            "user_id": coded["participant_id"].map(release.participant_ids).to_numpy(),
            "conversation_number": coded["conversation_number"].to_numpy(),
            "condition": coded["arm"].map(condition_of).to_numpy(),
            "theme": coded["trouble_type"].to_numpy(),
            "turn_number": coded["turn"].to_numpy(),
            "text": coded["text"].to_numpy(),
            "Level 1": LEVEL_1,
            "Level 2": f"{theme} (parent)\nsecond line",
            "Level 3 - interpretation": theme,
        }))
    planted = pd.concat(rows, ignore_index=True)
    planted.loc[0, "theme"] = HOSTILE_TROUBLE_TYPE
    all_themes = pd.concat([release.files["all_themes"], planted], ignore_index=True)
    all_themes = all_themes.sort_values(["user_id", "conversation_number", "turn_number"], kind="stable")
    files = {**release.files, "experiment_1": experiment_1, "all_themes": all_themes.reset_index(drop=True)}
    return dataclasses.replace(release, files=files, cohort=dataclasses.replace(cohort, messages=messages))


def _shown(theme: str) -> str:
    """A theme label as the rendered tables hold it before escaping (contact details scrubbed)."""
    return str(scrub_text(theme))


def _unescaped(text: str, character: str) -> int:
    """Occurrences of ``character`` not preceded by an odd number of backslashes."""
    return len(re.findall(rf"(?<!\\)(?:\\\\)*{re.escape(character)}", text))


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def assert_hostile_text_is_inert(workdir: Path, cohort: str) -> None:
    """Check every output of a run on a release planted by :func:`with_hostile_text`.

    Raises ``AssertionError`` naming the file and what was found.
    """
    workdir = Path(workdir)
    top = pd.read_csv(workdir / f"results/{cohort}/taxonomy/theme_change_top.csv", keep_default_na=False, dtype=str)
    # tidy results keep every label exactly
    assert set(HOSTILE_THEMES) <= set(top["expression"]), set(HOSTILE_THEMES) - set(top["expression"])
    level2 = pd.read_csv(workdir / f"results/{cohort}/taxonomy/theme_level2_change.csv", keep_default_na=False, dtype=str)
    assert {f"{theme} (parent)\nsecond line" for theme in HOSTILE_THEMES} <= set(level2["expression"])
    phrases = pd.read_csv(workdir / f"results/{cohort}/taxonomy/taxonomy.csv", keep_default_na=False, dtype=str)
    mined = [phrase for phrase in phrases["phrase"] if len(phrase.split()) >= 4 and f" {phrase} " in f" {HOSTILE_WORDS} "]
    assert mined, "no phrase of the hostile message survived the privacy filter"
    imported = workdir / f"data/imported/paper_release/{cohort}"
    issues = pd.read_csv(imported / "import_issues.csv", keep_default_na=False, dtype=str)
    if "pseudonymised" in json.loads((imported / "import_record.json").read_text(encoding="utf-8")):
        # a pseudonymised cohort's issue file withholds the values it cites (they may be raw IDs)
        assert HOSTILE_TROUBLE_TYPE not in set(issues["value"]) and (issues["value"] == WITHHELD).any()
    else:
        assert HOSTILE_TROUBLE_TYPE in set(issues["value"])

    tables = workdir / f"reports/{cohort}/tables"
    for theme in HOSTILE_THEMES:
        shown = _shown(theme)
        assert latex_text(shown) in (tables / "theme_change.tex").read_text(encoding="utf-8"), theme
        assert markdown_text(shown) in (tables / "theme_change.md").read_text(encoding="utf-8"), theme
        with open(tables / "theme_change.csv", encoding="utf-8", newline="") as handle:
            assert spreadsheet_cell(shown) in {cell for row in csv.reader(handle) for cell in row}, theme

    reports = [path for path in sorted((workdir / "reports").rglob("*")) if path.is_file()]
    assert any(path.suffix == ".html" for path in reports)
    for path in reports:
        name = str(path.relative_to(workdir))
        if path.suffix in {".png", ".pdf"}:
            continue
        text = path.read_text(encoding="utf-8")
        assert "\u202e" not in text, f"{name}: a raw right-to-left override"
        if path.suffix == ".tex":
            _assert_tex_is_inert(text, name)
        elif path.suffix == ".md":
            assert not re.search(r"(?<!\\)<script", text, re.IGNORECASE), f"{name}: raw <script"
            _assert_markdown_tables_are_whole(text, name)
        elif path.suffix == ".csv":
            with open(path, encoding="utf-8", newline="") as handle:
                for number, row in enumerate(csv.reader(handle), start=1):
                    for cell in row:
                        assert not cell.startswith(_FORMULA_START) or spreadsheet_cell(cell) == cell, \
                            f"{name} row {number}: a formula {cell!r}"
        elif path.suffix == ".html":
            assert "<script" not in text.lower(), f"{name}: raw <script"
            parser = _Elements()
            parser.feed(text)
            assert parser.tags <= HTML_ELEMENTS, f"{name}: elements from the data: {parser.tags - HTML_ELEMENTS}"
            assert not {a for a in parser.attributes if a.startswith("on")}, f"{name}: event handler attributes"
            if path.name == "report.html":
                assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, f"{name}: a hostile theme is not shown"


def _assert_tex_is_inert(text: str, name: str) -> None:
    commands = set(re.findall(r"\\([A-Za-z]+)", text))
    assert commands <= TEX_COMMANDS, f"{name}: commands from the data: {commands - TEX_COMMANDS}"
    for character in "$%^~#":
        assert not _unescaped(text, character), f"{name}: an unescaped {character}"
    depth = 0
    for character in re.sub(r"\\[{}\\]", "", text):
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0, f"{name}: unbalanced braces"
    assert depth == 0, f"{name}: unbalanced braces"
    body = re.search(r"\\midrule\n(.*?)\\bottomrule", text, re.S)
    header = re.search(r"\\toprule\n(.*?)\\midrule", text, re.S)
    assert body and header, f"{name}: no tabular"
    columns = _unescaped(header.group(1), "&")
    for line in body.group(1).splitlines():
        assert _unescaped(line, "&") == columns, f"{name}: a row with more or fewer cells: {line}"


def _assert_markdown_tables_are_whole(text: str, name: str) -> None:
    tables = re.findall(r"(?m)(?:^\|.*\n?)+", text)
    assert tables, f"{name}: no table"
    for table in tables:
        rows = table.splitlines()
        cells = _unescaped(rows[0], "|")
        for row in rows:
            assert _unescaped(row, "|") == cells, f"{name}: a row with more or fewer cells: {row}"
