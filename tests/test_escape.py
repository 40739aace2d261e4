"""Tests of the escaping of participant text in every rendered format (analysis.render.escape)."""

from __future__ import annotations

import csv
import html
import io
import re

import jinja2
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markupsafe import Markup

from analysis.render.escape import html_text, latex_text, markdown_text, spreadsheet_cell, spreadsheet_value, visible_controls
from analysis.render.tables import render_table
from analysis.render.taxonomy import TOP_COLUMNS, plot_expression_change
from analysis.report import read_display_table
from tests.hostile_text import HOSTILE_THEMES, TEX_COMMANDS

HOSTILE = (
    *HOSTILE_THEMES,
    "line one\nline two\r\nline three\rfour",
    "tab\there",
    "\u202eoverride \u2066isolate\u2069 \u200fmark \U0001f600 \u05e9\u05dc\u05d5\u05dd",
    "# heading", "> quote", "- item", "+ item", "* item", "1. item", "2) item", "---", "***", "___", "~~~", "```",
    "[ref]: http://x", "![img](http://x/y.png)", "<http://x>", "<!-- comment -->", "&amp; &#60; &lt;",
    "*em* **strong** _em_ __strong__ ~~strike~~", "a*b*c", "\\*not em\\*", "trailing backslash \\",
    "www.example.com mail@example.com https://example.com",
    "--- '' ,, `` !` ?` << >>", "[", "*", "%", "\\\\", "{}", "^^41", "~",
)
# Text of the pipeline's own tables that needs no escaping in any format.
PLAIN = ("0.648*** (0.092)", "-0.648*** (0.092)", "-1.234 [-2.345, 0.123]", "<0.001", "2,904", "-0.5", "Coach x post",
         "fdr_bh", "Effect in SD [95% CI]", "Holm-adjusted p", "gpt-4o", "Stars: * p < .05, ** p < .01, *** p < .001 (two-sided).")
SPECIAL_TEXT = st.text(alphabet=st.sampled_from(list("\\{}$&#^_~%<>|`*[]()!:/.-+=@'\" \n\tabc1\u202e")), max_size=24)

# LaTeX: the escapes latex_text writes and the characters they print.
_LATEX_PRINTS = {
    "\\textbackslash{}": "\\", "\\textasciitilde{}": "~", "\\textasciicircum{}": "^", "\\textless{}": "<",
    "\\textgreater{}": ">", "\\textbar{}": "|", "\\textasciigrave{}": "`", "\\&": "&", "\\%": "%", "\\$": "$", "\\#": "#",
    "\\_": "_", "\\{": "{", "\\}": "}", "{[}": "[", "{*}": "*", "{}": "",
}
_LATEX_TOKEN = re.compile("|".join(re.escape(token) for token in sorted(_LATEX_PRINTS, key=len, reverse=True)))


def _one_line(text: str) -> str:
    return visible_controls(re.sub(r"\r\n|[\t\n\r\v\f\x85\u2028\u2029]", " ", text))


def latex_printed(tex: str) -> str:
    """What TeX prints for the output of latex_text (its escapes read back)."""
    return _LATEX_TOKEN.sub(lambda match: _LATEX_PRINTS[match.group()], tex)


def assert_latex_is_literal(tex: str, row_start: bool) -> None:
    """Only the escapes' commands, no special character outside an escape, no ligature, one line; at the start of a
    row nothing an optional argument or a star could take."""
    assert "\n" not in tex and "\r" not in tex
    assert set(re.findall(r"\\([A-Za-z]+)", tex)) <= TEX_COMMANDS
    without_escapes = _LATEX_TOKEN.sub("", tex)
    assert not set(without_escapes) & set("\\{}$&#^_~%<>|`"), tex
    assert not re.search(r"--|''|,,", tex)
    if row_start:
        assert not re.match(r"\s*[\[*]", tex)


def rendered_cell(cell: str) -> str:
    """The HTML markdown-it (CommonMark with GFM tables and strikethrough) makes of a table cell."""
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    rendered = parser.render(f"| header |\n|---|\n| {cell} |\n")
    match = re.search(r"<tbody>\n<tr>\n<td>(.*)</td>\n</tr>\n</tbody>", rendered, re.S)
    assert match, rendered
    return match.group(1)


def rendered_line(line: str) -> str:
    """The HTML markdown-it makes of a line of its own (a caption or note line)."""
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(line + "\n")
    if not line:
        return rendered
    match = re.fullmatch(r"<p>(.*)</p>\n", rendered, re.S)
    assert match, rendered
    return match.group(1)


@pytest.mark.parametrize("row_start", [False, True])
@pytest.mark.parametrize("text", HOSTILE)
def test_latex_prints_every_character_literally(text, row_start):
    tex = latex_text(text, row_start=row_start)
    assert_latex_is_literal(tex, row_start)
    assert latex_printed(tex) == _one_line(text)


@given(SPECIAL_TEXT, st.booleans())
@settings(max_examples=150, deadline=None)
def test_latex_of_any_text_is_literal(text, row_start):
    tex = latex_text(text, row_start=row_start)
    assert_latex_is_literal(tex, row_start)
    assert latex_printed(tex) == _one_line(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_cells_and_lines_show_the_text_and_nothing_else(text):
    cell = markdown_text(text)
    expected = _one_line(text).strip()
    assert "\n" not in cell
    for shown in (rendered_cell(cell), rendered_line(cell)):
        assert "<" not in shown.replace("&lt;", ""), shown  # no element: no link, emphasis, code or raw HTML
        assert html.unescape(shown) == expected


@given(SPECIAL_TEXT)
@settings(max_examples=150, deadline=None)
def test_markdown_of_any_text_is_literal(text):
    cell = markdown_text(text)
    expected = _one_line(text).strip()
    for shown in (rendered_cell(cell), rendered_line(cell)) if expected else (rendered_cell(cell),):
        assert "<" not in shown.replace("&lt;", "") and html.unescape(shown) == expected


def test_markdown_escapes_what_github_would_link_or_typeset():
    assert markdown_text("see www.example.com or http://x") == "see www\\.example.com or http\\://x"
    assert markdown_text("mail@example.com") == "mail\\@example.com"
    assert markdown_text("$x$") == "\\$x\\$"


@pytest.mark.parametrize("text", PLAIN)
def test_the_pipelines_own_text_is_unchanged(text):
    assert markdown_text(text) == text
    assert spreadsheet_cell(text) == text
    assert str(html_text(text)) == html.escape(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_html_has_no_markup_from_the_text(text):
    escaped = html_text(text)
    assert isinstance(escaped, Markup)
    assert not set(str(escaped)) & set("<>\"'")
    assert html.unescape(str(escaped)) == visible_controls(text)


def test_html_is_escaped_once_by_an_autoescaping_template():
    environment = jinja2.Environment(autoescape=True, finalize=html_text)
    template = environment.from_string("<td>{{ value }}</td><td>{{ number }}</td>{% macro m() %}<b>{{ value }}</b>{% endmacro %}{{ m() }}")
    assert template.render(value="<script>\u202e&", number=3) == (
        "<td>&lt;script&gt;[U+202E]&amp;</td><td>3</td><b>&lt;script&gt;[U+202E]&amp;</b>"
    )


@pytest.mark.parametrize("formula", ["=1+1", "+1+1", "-1+cmd|' /C calc'!A0", "@SUM(A1)", "\t=1", "\r=1", "\uff1d1+1",
                                     '=HYPERLINK("http://x","y")', "-", "- 1", "-2+3"])
def test_spreadsheet_formulas_get_a_leading_quote(formula):
    assert spreadsheet_cell(formula) == "'" + visible_controls(formula)
    assert spreadsheet_value(spreadsheet_cell(formula)) == formula


@pytest.mark.parametrize("number", ["-0.5", "+1", "1e-3", "-1.5E+10", "-12%", "-2,904", "0", ".5", "-.5"])
def test_spreadsheet_numbers_stay_numbers(number):
    assert spreadsheet_cell(number) == number


@given(st.text(alphabet=st.sampled_from(list("=+-@\t\r'\uff1d 0123456789.,eE%*()[]ab\u202e")), max_size=16))
@settings(max_examples=150, deadline=None)
def test_spreadsheet_cells_read_back_and_never_start_a_formula(text):
    cell = spreadsheet_cell(text)
    assert spreadsheet_value(cell) == visible_controls(text)
    if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
        float(cell.split(" ")[0].rstrip("*%").replace(",", ""))  # only numbers and formatted estimates start so


def _table() -> pd.DataFrame:
    return pd.DataFrame({"Expression": list(HOSTILE_THEMES), "Estimate": ["-0.648*** (0.092)"] * len(HOSTILE_THEMES)})


def test_render_table_escapes_every_format():
    rendered = render_table(_table(), caption="Hostile $caption$ | *x*", label="tab:x", note="50% & more_{}")
    tex = rendered["tex"]
    for theme in HOSTILE_THEMES:
        assert latex_text(theme, row_start=True) in tex and markdown_text(theme) in rendered["md"]
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0]
    assert all(len(re.findall(r"(?<!\\)&", line)) == 1 for line in body.splitlines())
    assert "\\caption{Hostile \\$caption\\$ \\textbar{} *x*}" in tex and "Note: 50\\% \\& more\\_\\{\\}" in tex
    md_rows = [line for line in rendered["md"].splitlines() if line.startswith("|")]
    assert {len(re.findall(r"(?<![\\])\|", row)) for row in md_rows} == {3}
    assert rendered["md"].startswith("Hostile \\$caption\\$ \\| \\*x*\n") and "Note: 50% & more_{}" in rendered["md"]
    cells = list(csv.reader(io.StringIO(rendered["csv"])))
    assert cells[2][0] == "'" + HOSTILE_THEMES[0] and cells[2][1] == "-0.648*** (0.092)"
    assert not [cell for row in cells for cell in row if cell.startswith(("=", "+", "@")) or cell.startswith("-2")]


def test_the_report_shows_a_table_csv_as_its_text(tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text(render_table(_table(), caption="Caption", label="tab:x", note="A note")["csv"], encoding="utf-8")
    shown = read_display_table(path)
    assert shown["caption"] == "Caption" and shown["note"] == "A note"
    assert shown["rows"] == _table().map(visible_controls).to_numpy().tolist()


def test_figure_labels_are_not_read_as_mathtext():
    top = pd.DataFrame(
        [("workplace", "rising", rank, label, "affective", 0.1, 0.05, 0.15, 0.001, 5, 30, 0.01, 0.05)
         for rank, label in enumerate(["$\\undefinedcommand{x}$", "$x$ and 50% & more_{}"], start=1)],
        columns=list(TOP_COLUMNS),
    )
    figure = plot_expression_change(top, "themes", quoted=False)
    figure.savefig(io.BytesIO(), format="png")  # mathtext would fail on the undefined command
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["$\\undefinedcommand{x}$", "$x$ and 50% & more {}"]
