"""Escape text for every format the pipeline renders, so that participant text is shown, never run.

Participant text (theme labels, mined phrases, values quoted in issue files) reaches the rendered
tables and the HTML report. Each format has one function that turns any value into text shown
literally in that format:

* :func:`latex_text`: LaTeX (the ``.tex`` tables);
* :func:`markdown_text`: Markdown (the ``.md`` tables: cells, caption and note lines);
* :func:`html_text`: HTML (the report; its Jinja2 environment also autoescapes);
* :func:`spreadsheet_cell`: CSV cells meant for spreadsheets (the rendered tables' ``.csv`` copies),
  with :func:`spreadsheet_value` to read such a cell back.

The tidy results (``results/NAME/**/*.csv``) are machine-readable data kept at their exact values:
they are not escaped.

Every function first makes invisible controls visible (:func:`visible_controls`): a control character
or a Unicode bidirectional embedding, override or isolate (which would reorder the text around it)
becomes ``[U+XXXX]``; right-to-left and left-to-right marks, emoji and every other character are kept.
Text that needs no escaping comes back unchanged, so the numbers and labels of the pipeline's own
tables render as they always did.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = ["html_text", "latex_text", "markdown_text", "spreadsheet_cell", "spreadsheet_value", "visible_controls"]

# C0 controls but tab, line feed and carriage return; DEL; C1 controls; the bidirectional embeddings,
# overrides (LRE, RLE, PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI). Marks (LRM, RLM, ALM) act
# only on their neighbours and are kept.
_CONTROL_CODES = (
    [code for code in range(0x20) if chr(code) not in "\t\n\r"]
    + list(range(0x7F, 0xA0))
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)
_VISIBLE_CONTROLS = {code: f"[U+{code:04X}]" for code in _CONTROL_CODES}
# Line breaks of any kind (and tabs) become one space where a value must stay on one line.
_LINE_BREAK = re.compile(r"\r\n|[\t\n\r\v\f\x85\u2028\u2029]")

_LATEX_SPECIAL = str.maketrans({
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "`": r"\textasciigrave{}",
})
# Doubled characters TeX fonts turn into another glyph (dashes, quotes): split by an empty group.
_LATEX_LIGATURE = re.compile(r"([-',])(?=\1)")
# After \\ or a booktabs rule, [ is read as an optional argument and * as the starred \\.
_LATEX_LEADING = re.compile(r"^(\s*)([\[*])")

# Markdown (CommonMark and GitHub Flavored Markdown): what would turn into markup inside a line.
_MARKDOWN_ALWAYS = re.compile(r"[`|$@]")  # code spans, table cells, math (GitHub, pandoc), e-mail autolinks
_MARKDOWN_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # HTML tags, comments, autolinks
_MARKDOWN_ENTITY = re.compile(r"&(?=#?\w+;)")
_MARKDOWN_LINK = re.compile(r"\](?=[(\[:])")  # [text](url), ![alt](src), [text][ref], [ref]: url
_MARKDOWN_AUTOLINK = re.compile(r"(?<=[A-Za-z]):(?=//)|(?<=\bwww)\.", re.IGNORECASE)
_MARKDOWN_DELIMITER = re.compile(r"\*+|_+|~+")
# At the start of a line: headings, block quotes, lists, thematic breaks, fences.
_MARKDOWN_BLOCK = re.compile(r"^(\s*)(?:(?P<mark>[#>\-+*=_~])|(?P<number>\d{1,9})(?P<dot>[.)])(?=\s|$))")
_WHITESPACE = re.compile(r"\s")

# Spreadsheets read a cell starting with these as a formula (OWASP CSV injection); full-width forms
# too, and a leading quote, so that the added quote can always be taken off again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = r"[-+]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?"
# A number, or the pipeline's formatted estimate: "-0.648*** (0.092)", "-1.2 [-3.4, 0.5]". Without
# letters, '=', '@', '!', ':' or '|' a cell can neither call a function nor reference a cell or file.
_NUMERIC_CELL = re.compile(rf"{_NUMBER}\**(?: \({_NUMBER}\)| \[{_NUMBER}, {_NUMBER}\])?")


def visible_controls(value) -> str:
    """Show invisible control characters as ``[U+XXXX]``.

    Parameters
    ----------
    value : object
        Any value; it is converted with ``str``.

    Returns
    -------
    str
        The text with every C0 control character but tab, line feed and
        carriage return, DEL, every C1 control character and every
        bidirectional embedding, override and isolate (U+202A-U+202E,
        U+2066-U+2069) replaced by its code point in brackets, e.g.
        ``[U+202E]``. Other characters, including right-to-left marks and
        emoji, are kept.
    """
    return str(value).translate(_VISIBLE_CONTROLS)


def _one_line(text: str) -> str:
    """Line breaks and tabs as single spaces, then invisible controls made visible."""
    return visible_controls(_LINE_BREAK.sub(" ", text))


def latex_text(value, row_start: bool = False) -> str:
    """Text shown literally in a LaTeX document (table cells, captions, notes).

    Parameters
    ----------
    value : object
        Any value; it is converted with ``str``.
    row_start : bool, default False
        Whether the text starts a table row (the first column), where it
        follows ``\\\\`` or a booktabs rule.

    Returns
    -------
    str
        The text on one line (line breaks and tabs become spaces) with
        ``\\ { } $ & # ^ _ ~ % < > |`` and the backtick replaced by the
        commands or escapes that print them, doubled ``-``, ``'`` and ``,``
        split so no ligature forms; with ``row_start``, a leading ``[`` or
        ``*`` braced (``\\\\`` and the rules would read it as their optional
        argument or star). Other characters are kept as UTF-8: emoji and
        right-to-left scripts need LuaLaTeX or XeLaTeX with a font that has
        them.

    Examples
    --------
    >>> latex_text(r"50% & more_{} \\input{x}")
    '50\\\\% \\\\& more\\\\_\\\\{\\\\} \\\\textbackslash{}input\\\\{x\\\\}'
    """
    text = _one_line(str(value)).translate(_LATEX_SPECIAL)
    text = _LATEX_LIGATURE.sub(r"\1{}", text)
    return _LATEX_LEADING.sub(r"\1{\2}", text) if row_start else text


def _escape_delimiter(match: re.Match) -> str:
    """Backslash-escape an emphasis or strikethrough delimiter run that could open (CommonMark's
    left-flanking rule; ``_`` also needs space or punctuation before it). A run that cannot open
    cannot close either, since no opener is left."""
    text, start, end = match.string, match.start(), match.end()
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    punctuation_after = not after.isalnum() and not after.isspace()
    punctuation_before = not before.isalnum() and not before.isspace()
    left_flanking = not after.isspace() and (not punctuation_after or before.isspace() or punctuation_before)
    if match.group()[0] == "_":
        opens = left_flanking and not before.isalnum()
    else:
        opens = left_flanking
    return "".join("\\" + character for character in match.group()) if opens else match.group()


def _escape_block_start(match: re.Match) -> str:
    """Escape the marker that would start a block (heading, list, quote, ...) at the start of a line."""
    if match.group("number") is not None:
        return f"{match.group(1)}{match.group('number')}\\{match.group('dot')}"
    mark = match.group("mark")
    rest = match.string[match.end():]
    if mark in "-+*" and rest and not _WHITESPACE.match(rest[0]) and rest[0] != mark:
        return match.group()  # "-0.5", "+1": not a list item
    if mark == "#" and rest and not _WHITESPACE.match(rest[0]) and rest[0] != "#":
        return match.group()  # "#1": not a heading
    if mark == "=" and rest.strip(" =") != "":
        return match.group()  # only a line of "=" underlines a heading
    return f"{match.group(1)}\\{mark}"


def markdown_text(value) -> str:
    """Text shown literally in Markdown: a table cell, or a caption or note line.

    Parameters
    ----------
    value : object
        Any value; it is converted with ``str``.

    Returns
    -------
    str
        The text on one line (line breaks and tabs become spaces, leading
        and trailing spaces are dropped, as Markdown would) with a
        backslash before every backslash, backtick, ``|``, ``$`` and ``@``, and
        before what would otherwise start markup: ``<`` opening a tag or
        autolink, ``&`` opening an entity, ``]`` closing link text before
        ``(``, ``[`` or ``:``, the ``:`` of ``://`` and the dot of ``www.``
        (autolinks), ``*``, ``_`` and ``~`` runs that could open emphasis or
        strikethrough, and a marker starting a block at the start of the
        line (``#``, ``>``, ``-``, ``+``, ``*``, ``=``, ``_``, ``~``,
        ``1.``).
        Text without such characters is returned unchanged (``0.648***
        (0.092)``, ``<0.001``, ``[-0.04, 0.17]``, ``fdr_bh``).

    Examples
    --------
    >>> markdown_text("| a | b |")
    '\\\\| a \\\\| b \\\\|'
    """
    text = _one_line(str(value)).strip().replace("\\", "\\\\")
    text = _MARKDOWN_ALWAYS.sub(r"\\\g<0>", text)
    text = _MARKDOWN_TAG.sub(r"\\<", text)
    text = _MARKDOWN_ENTITY.sub(r"\\&", text)
    text = _MARKDOWN_LINK.sub(r"\\]", text)
    text = _MARKDOWN_AUTOLINK.sub(lambda match: "\\" + match.group(), text)
    text = _MARKDOWN_DELIMITER.sub(_escape_delimiter, text)
    return _MARKDOWN_BLOCK.sub(_escape_block_start, text, count=1)


def html_text(value) -> Markup:
    """Text shown literally in HTML (element content or a quoted attribute value).

    Parameters
    ----------
    value : object
        Any value; it is converted with ``str``.

    Returns
    -------
    markupsafe.Markup
        The text with ``& < > " '`` as character references
        (:func:`markupsafe.escape`, what Jinja2's autoescape applies) and
        invisible controls made visible (:func:`visible_controls`). As
        ``Markup`` it is not escaped a second time by an autoescaping
        template; values that already are ``Markup`` are kept as they are.
    """
    if isinstance(value, Markup):
        return value
    return escape(visible_controls(value))


def spreadsheet_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text, never evaluates (OWASP's rule against CSV injection).

    Parameters
    ----------
    value : object
        Any value; it is converted with ``str``.

    Returns
    -------
    str
        A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
        return (or their full-width forms) gets a single quote in front,
        which makes spreadsheets read it as text, not as a formula; so does
        a cell already starting with a quote, so that
        :func:`spreadsheet_value` can take it off again. Numbers (``-0.5``, ``1e-3``) and the
        pipeline's formatted estimates (``-0.648*** (0.092)``,
        ``-1.2 [-3.4, 0.5]``) stay as they are: without letters, ``=``,
        ``@``, ``!``, ``:`` or ``|`` they cannot call a function or reach
        another cell or file. Invisible controls are made visible; line
        breaks are kept (the CSV writer quotes the cell).

    Examples
    --------
    >>> spreadsheet_cell('=HYPERLINK("http://x","y")')
    '\\'=HYPERLINK("http://x","y")'
    >>> spreadsheet_cell("-0.25")
    '-0.25'
    """
    text = visible_controls(value)
    if text.startswith(_FORMULA_START) and not _NUMERIC_CELL.fullmatch(text):
        return "'" + text
    return text


def spreadsheet_value(cell: str) -> str:
    """The text of a cell written by :func:`spreadsheet_cell` (its leading quote taken off).

    Parameters
    ----------
    cell : str
        A cell as read from the CSV file.

    Returns
    -------
    str
        The cell without the one leading single quote :func:`spreadsheet_cell`
        added; other cells unchanged.
    """
    return cell[1:] if cell.startswith("'") else cell
