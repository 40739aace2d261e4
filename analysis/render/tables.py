"""Publication tables of the primary difference-in-differences analysis.

The builders (:func:`primary_table`, :func:`contrasts_table`) take the full
precision result tables written by the model rules and return a frame of
display strings; rounding happens only here, when the cells are formatted.
:func:`render_table` turns such a frame into CSV, LaTeX and Markdown text.

All functions are pure and deterministic: equal inputs give identical output
strings.

Synthetic data
--------------
``render_table(..., synthetic=True)`` prefixes the caption with
:data:`SYNTHETIC_PREFIX` in every format:

* LaTeX: inside ``\\caption{...}``;
* Markdown: the first line of the text (the caption line above the table);
* CSV: the first data row, whose first cell holds the full caption and whose
  other cells are empty (see :func:`render_table` for the CSV layout).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

from analysis.constants import COMPOSITE, OUTCOMES
from analysis.render.escape import latex_text, markdown_text, spreadsheet_cell
from analysis.runtime import atomic

__all__ = [
    "SYNTHETIC_PREFIX", "STARS_NOTE", "OUTCOME_LABELS", "COEFFICIENT_COLUMNS", "FIT_COLUMNS", "CONTRAST_COLUMNS",
    "require_columns", "outcome_label", "arm_label", "significance_stars", "format_number", "format_p_value",
    "format_coefficient", "format_count", "ordered_outcomes", "did_term_rows", "coefficient_cells", "display_table",
    "primary_table", "contrasts_table", "render_table", "write_rendered_tables",
]

SYNTHETIC_PREFIX = "SYNTHETIC DATA (simulated cohort, not trial results): "

STARS_NOTE = "* p < .05, ** p < .01, *** p < .001 (two-sided)."

OUTCOME_LABELS: dict[str, str] = {
    "validating_emotions": "Validating emotions",
    "encouraging_elaboration": "Encouraging elaboration",
    "demonstrating_understanding": "Demonstrating understanding",
    "advice_giving": "Advice giving",
    "self_oriented": "Self-oriented",
    "dismissing_emotions": "Dismissing emotions",
    COMPOSITE: "Overall empathy",
}

COEFFICIENT_COLUMNS: tuple[str, ...] = ("outcome", "term", "estimate", "std_error", "p_value")
FIT_COLUMNS: tuple[str, ...] = (
    "outcome",
    "n_obs",
    "n_clusters",
    "r2",
    "r2_adj",
    "residual_se",
    "f_statistic",
    "f_p_value",
)
CONTRAST_COLUMNS: tuple[str, ...] = (
    "outcome",
    "arm_a",
    "arm_b",
    "estimate",
    "std_error",
    "p_value",
    "p_adjusted",
    "estimate_sd",
    "ci_low_sd",
    "ci_high_sd",
)
# The primary table's rows below the coefficients, one per statistic of the model_fit table.
_FIT_ROW_LABELS = ("R2", "Adjusted R2", "Residual SE", "F statistic", "N (conversations)", "Participants (clusters)")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise a ``ValueError`` naming the first required column that is missing.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table to check.
    columns : iterable of str
        Columns that must be present.
    name : str
        Name of the table, used in the error message.

    Raises
    ------
    ValueError
        If a column is missing.
    """
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"{name} is missing required column {column!r}")


def outcome_label(outcome: str) -> str:
    """Human readable label of an outcome.

    Parameters
    ----------
    outcome : str
        Outcome column name, e.g. ``"advice_giving"``.

    Returns
    -------
    str
        The label, e.g. ``"Advice giving"``; unknown names get their
        underscores replaced by spaces and the first letter capitalised.
    """
    if outcome in OUTCOME_LABELS:
        return OUTCOME_LABELS[outcome]
    text = outcome.replace("_", " ")
    return text[:1].upper() + text[1:]


def arm_label(arm: str) -> str:
    """Human readable label of an arm (``"coach"`` -> ``"Coach"``).

    Parameters
    ----------
    arm : str
        Arm name as coded in the data.

    Returns
    -------
    str
        The label.
    """
    text = str(arm).replace("_", " ")
    return text[:1].upper() + text[1:]


def significance_stars(p_value: float) -> str:
    """Significance stars of a p-value.

    Parameters
    ----------
    p_value : float
        Two-sided p-value; missing values give no stars.

    Returns
    -------
    str
        ``"***"`` if p < .001, ``"**"`` if p < .01, ``"*"`` if p < .05,
        otherwise ``""`` (thresholds are strict: p = .05 has no star).
    """
    if p_value is None or pd.isna(p_value):
        return ""
    if p_value < 0.001:
        return "***"
    if p_value < 0.01:
        return "**"
    if p_value < 0.05:
        return "*"
    return ""


def format_number(value: float, digits: int = 3) -> str:
    """Round a number for display.

    Parameters
    ----------
    value : float
        Value at full precision; missing values give ``""``.
    digits : int, default 3
        Decimal places.

    Returns
    -------
    str
        Fixed-point text; values that round to zero never show a minus sign.
    """
    if value is None or pd.isna(value):
        return ""
    text = f"{float(value):.{digits}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    return text


def format_p_value(p_value: float, digits: int = 3) -> str:
    """Format a p-value for display.

    Parameters
    ----------
    p_value : float
        p-value at full precision; missing values give ``""``.
    digits : int, default 3
        Decimal places.

    Returns
    -------
    str
        ``"0.032"``-style text, or ``"<0.001"`` when the value would round
        below the smallest displayable value.
    """
    if p_value is None or pd.isna(p_value):
        return ""
    smallest = 10.0 ** (-digits)
    if p_value < smallest:
        return f"<{smallest:.{digits}f}"
    return format_number(p_value, digits)


def format_coefficient(estimate: float, std_error: float, p_value: float, digits: int = 3) -> str:
    """Format a coefficient cell as ``"0.648*** (0.092)"``.

    Parameters
    ----------
    estimate, std_error, p_value : float
        Full precision estimate, standard error and p-value.
    digits : int, default 3
        Decimal places of the estimate and the standard error.

    Returns
    -------
    str
        Estimate with significance stars and the standard error in
        parentheses; ``""`` when the estimate is missing.
    """
    if estimate is None or pd.isna(estimate):
        return ""
    text = format_number(estimate, digits) + significance_stars(p_value)
    if std_error is not None and not pd.isna(std_error):
        text += f" ({format_number(std_error, digits)})"
    return text


def format_count(value: float) -> str:
    """Format a count with thousands separators (``2904`` -> ``"2,904"``).

    Parameters
    ----------
    value : float
        Count; missing values give ``""``.

    Returns
    -------
    str
        The formatted count.
    """
    if value is None or pd.isna(value):
        return ""
    return f"{int(round(float(value))):,}"


def ordered_outcomes(outcomes: Iterable[str]) -> list[str]:
    """Outcomes in the order of ``constants.OUTCOMES``, unknown ones sorted after.

    Parameters
    ----------
    outcomes : iterable of str
        Outcome names, possibly repeated (a table's ``outcome`` column).

    Returns
    -------
    list of str
        Each distinct outcome once: the known ones in the order of
        ``constants.OUTCOMES``, then the others alphabetically.
    """
    present = set(outcomes)
    known = [outcome for outcome in OUTCOMES if outcome in present]
    unknown = sorted(present.difference(OUTCOMES))
    return known + unknown


def _non_reference_arms(arms: Sequence[str], reference_arm: str) -> list[str]:
    """The arms in the given order, without the reference arm and duplicates."""
    result: list[str] = []
    for arm in arms:
        if arm != reference_arm and arm not in result:
            result.append(arm)
    return result


def did_term_rows(arms: Sequence[str], reference_arm: str) -> list[tuple[str, str]]:
    """The difference-in-differences terms with their row labels, in the order the tables show them.

    Parameters
    ----------
    arms : sequence of str
        Arms in display order; the reference arm and repeats are skipped.
    reference_arm : str
        The arm absorbed in the intercept.

    Returns
    -------
    list of tuple of (str, str)
        ``(term, label)`` pairs: ``("intercept", "Intercept")``, one
        ``(<arm>, <Arm>)`` per non-reference arm (its baseline difference),
        ``("post", "Post")``, then one ``(<arm>:post, "<Arm> x post")`` per
        non-reference arm (its difference-in-differences effect).
    """
    treated = _non_reference_arms(arms, reference_arm)
    rows = [("intercept", "Intercept")]
    rows += [(arm, arm_label(arm)) for arm in treated]
    rows.append(("post", "Post"))
    rows += [(f"{arm}:post", f"{arm_label(arm)} x post") for arm in treated]
    return rows


def coefficient_cells(by_key: pd.DataFrame, outcome: str, terms: Iterable[str], digits: int = 3) -> list[str]:
    """One outcome's coefficient cells, one per term (:func:`format_coefficient`).

    Parameters
    ----------
    by_key : pandas.DataFrame
        Coefficients indexed by ``(outcome, term)`` with the columns
        ``estimate``, ``std_error`` and ``p_value`` at full precision.
    outcome : str
        The outcome whose cells to format.
    terms : iterable of str
        Model terms, in row order.
    digits : int, default 3
        Decimal places of the estimate and the standard error.

    Returns
    -------
    list of str
        ``"estimate<stars> (SE)"`` per term; ``""`` for a term the outcome
        has no coefficient for.
    """
    cells = []
    for term in terms:
        if (outcome, term) in by_key.index:
            row = by_key.loc[(outcome, term)]
            cells.append(format_coefficient(row["estimate"], row["std_error"], row["p_value"], digits))
        else:
            cells.append("")
    return cells


def display_table(data, note: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A table of display strings that carries its note for :func:`render_table`.

    Parameters
    ----------
    data : list of dict or dict of list
        The cells: one dict per row, or one list per column.
    note : str
        The table's note, kept in ``attrs["note"]``.
    columns : sequence of str, optional
        Column order (and the columns of a table without rows).

    Returns
    -------
    pandas.DataFrame
        The cells as ``object`` columns, with ``attrs["note"]`` set.
    """
    table = pd.DataFrame(data, columns=columns, dtype=object)
    table.attrs["note"] = note
    return table


def primary_table(
    coefficients: pd.DataFrame,
    fit: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str = "control",
    digits: int = 3,
) -> pd.DataFrame:
    """Primary difference-in-differences table in the paper's layout.

    Parameters
    ----------
    coefficients : pandas.DataFrame
        The ``did_coefficients`` table: one row per outcome and model term
        (``intercept``, ``post``, ``<arm>`` and ``<arm>:post``) with at least
        the columns ``outcome``, ``term``, ``estimate``, ``std_error`` and
        ``p_value`` at full precision.
    fit : pandas.DataFrame
        The ``model_fit`` table, one row per outcome, with ``n_obs``,
        ``n_clusters``, ``r2``, ``r2_adj``, ``residual_se``, ``f_statistic``
        and ``f_p_value``.
    arms : sequence of str
        Arms in display order; the reference arm may be included and is
        skipped.
    reference_arm : str, default "control"
        The arm absorbed in the intercept.
    digits : int, default 3
        Decimal places of every non-count cell.

    Returns
    -------
    pandas.DataFrame
        Display strings, one row per line of the table and a first column
        ``"Term"`` holding the row labels, then one column per outcome
        (labelled as in :data:`OUTCOME_LABELS`, ordered as
        ``constants.OUTCOMES``; only outcomes present in ``coefficients``).
        Rows: ``Intercept``, one ``<Arm>`` row per non-reference arm
        (baseline difference from the reference arm), ``Post``, one
        ``<Arm> x post`` row per non-reference arm (the difference-in-
        differences effect), then ``R2``, ``Adjusted R2``, ``Residual SE``,
        ``F statistic`` (with stars from ``f_p_value``),
        ``N (conversations)`` and ``Participants (clusters)``. Coefficient
        cells read ``"estimate<stars> (SE)"``; missing cells are ``""``.
        ``attrs["note"]`` explains the cells, stars and standard errors and
        is used by :func:`render_table`. Model terms other than those listed
        are not shown.

    Raises
    ------
    ValueError
        If a required column is missing, an ``(outcome, term)`` pair is
        duplicated, a non-reference arm has no coefficient at all, or an
        ``<arm>:post`` term belongs to an arm not in ``arms``.
    """
    require_columns(coefficients, COEFFICIENT_COLUMNS, "coefficients")
    require_columns(fit, FIT_COLUMNS, "fit")
    if coefficients.duplicated(["outcome", "term"]).any():
        raise ValueError("coefficients has duplicated (outcome, term) rows")
    if fit.duplicated(["outcome"]).any():
        raise ValueError("fit has duplicated outcome rows")

    treated = _non_reference_arms(arms, reference_arm)
    terms = set(coefficients["term"])
    unexpected = sorted(
        term for term in terms if term.endswith(":post") and term.split(":")[0] not in treated
    )
    if unexpected:
        raise ValueError(f"coefficients has interaction terms for arms not in arms: {unexpected}")
    for arm in treated:
        if arm not in terms and f"{arm}:post" not in terms:
            raise ValueError(f"coefficients has no terms for arm {arm!r}")

    row_terms = did_term_rows(arms, reference_arm)

    outcomes = ordered_outcomes(coefficients["outcome"])
    by_key = coefficients.set_index(["outcome", "term"])
    fit_by_outcome = fit.set_index("outcome")

    columns: dict[str, list[str]] = {"Term": [label for _, label in row_terms] + list(_FIT_ROW_LABELS)}
    for outcome in outcomes:
        cells = coefficient_cells(by_key, outcome, [term for term, _ in row_terms], digits)
        if outcome in fit_by_outcome.index:
            stats = fit_by_outcome.loc[outcome]
            f_text = format_number(stats["f_statistic"], digits)
            if f_text:
                f_text += significance_stars(stats["f_p_value"])
            cells += [
                format_number(stats["r2"], digits),
                format_number(stats["r2_adj"], digits),
                format_number(stats["residual_se"], digits),
                f_text,
                format_count(stats["n_obs"]),
                format_count(stats["n_clusters"]),
            ]
        else:
            cells += [""] * len(_FIT_ROW_LABELS)
        columns[outcome_label(outcome)] = cells

    return display_table(columns, note=(
        "Cells: OLS estimate (standard error) of score ~ arm + post + arm:post; "
        "standard errors are cluster-robust, clustered by participant. "
        f"Reference arm: {reference_arm}; arm rows are baseline differences from it, "
        "'x post' rows are the difference-in-differences effects. "
        f"F statistic: cluster-robust Wald test that all slopes are zero. {STARS_NOTE}"
    ))


def contrasts_table(contrasts: pd.DataFrame, digits: int = 3, method: str = "Holm") -> pd.DataFrame:
    """Pairwise contrasts between the training arms' difference-in-differences effects.

    Parameters
    ----------
    contrasts : pandas.DataFrame
        The ``arm_contrasts`` table (estimate = effect of ``arm_a`` minus
        effect of ``arm_b``) with at least ``outcome``, ``arm_a``, ``arm_b``,
        ``estimate``, ``std_error``, ``p_value``, ``p_adjusted``,
        ``estimate_sd``, ``ci_low_sd`` and ``ci_high_sd`` at full precision.
    digits : int, default 3
        Decimal places of every cell.
    method : str, default "Holm"
        Name of the multiplicity adjustment behind ``p_adjusted``; used in
        the column label ``"<method>-adjusted p"``.

    Returns
    -------
    pandas.DataFrame
        Display strings with columns ``Outcome``, ``Contrast``
        (``"Coach - Video"``), ``Estimate (SE)``, ``p``,
        ``<method>-adjusted p`` and ``Effect in SD [95% CI]``. Rows are
        ordered by outcome (order of ``constants.OUTCOMES``) and keep the
        input order within an outcome. ``attrs["note"]`` explains the
        columns.

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    require_columns(contrasts, CONTRAST_COLUMNS, "contrasts")
    order = {outcome: rank for rank, outcome in enumerate(ordered_outcomes(contrasts["outcome"]))}
    ranked = contrasts.assign(_rank=contrasts["outcome"].map(order))
    ranked = ranked.sort_values("_rank", kind="stable")

    adjusted_label = f"{method}-adjusted p"
    rows = []
    for record in ranked.to_dict("records"):
        low = format_number(record["ci_low_sd"], digits)
        high = format_number(record["ci_high_sd"], digits)
        effect = format_number(record["estimate_sd"], digits)
        if effect and low and high:
            effect += f" [{low}, {high}]"
        rows.append(
            {
                "Outcome": outcome_label(record["outcome"]),
                "Contrast": f"{arm_label(record['arm_a'])} - {arm_label(record['arm_b'])}",
                "Estimate (SE)": format_coefficient(
                    record["estimate"], record["std_error"], math.nan, digits
                ),
                "p": format_p_value(record["p_value"], digits),
                adjusted_label: format_p_value(record["p_adjusted"], digits),
                "Effect in SD [95% CI]": effect,
            }
        )
    columns = [
        "Outcome",
        "Contrast",
        "Estimate (SE)",
        "p",
        adjusted_label,
        "Effect in SD [95% CI]",
    ]
    return display_table(rows, columns=columns, note=(
        "Contrast a - b: difference between the two arms' difference-in-differences "
        "effects (arm x post), with cluster-robust standard errors (clustered by "
        f"participant). p: unadjusted two-sided Wald test; {adjusted_label}: "
        f"{method} correction for multiple comparisons. Effect in SD: the estimate in "
        "standard deviation units of the outcome, with its 95% confidence interval."
    ))


def render_table(
    table: pd.DataFrame,
    caption: str,
    label: str,
    synthetic: bool = False,
    note: str | None = None,
) -> dict[str, str]:
    """Render a display table as CSV, LaTeX and Markdown text.

    Parameters
    ----------
    table : pandas.DataFrame
        Table of display strings, e.g. from :func:`primary_table` or
        :func:`contrasts_table`; its index is not rendered.
    caption : str
        Table caption (plain text; escaped for each format).
    label : str
        Cross-reference label, e.g. ``"tab:primary"``; used as
        ``\\label{...}`` in LaTeX.
    synthetic : bool, default False
        Whether the table was computed from simulated data. When True the
        caption starts with :data:`SYNTHETIC_PREFIX` in all three formats,
        so the table cannot be mistaken for trial results.
    note : str, optional
        Table note; defaults to ``table.attrs["note"]`` when present.

    Returns
    -------
    dict of str to str
        ``"csv"``: the header, then a caption row (first cell = the full
        caption, other cells empty), then the table rows, then, when there
        is a note, a note row (first cell ``"Note: ..."``, other cells
        empty); ``\\n`` line endings, readable by ``pandas.read_csv``; every
        cell made spreadsheet-safe (:func:`analysis.render.escape.spreadsheet_cell`).
        ``"tex"``: a ``table`` float with ``\\caption``, ``\\label`` and a
        booktabs tabular (``\\toprule``, ``\\midrule``, ``\\bottomrule``;
        needs ``\\usepackage{booktabs}``), the note as a footnote-sized
        paragraph below the tabular; all text escaped
        (:func:`analysis.render.escape.latex_text`).
        ``"md"``: the caption line, a blank line, the pipe table
        (tabulate ``pipe`` format) and the note line; all text escaped
        (:func:`analysis.render.escape.markdown_text`).
        Every text ends with a newline.
    """
    full_caption = (SYNTHETIC_PREFIX if synthetic else "") + caption
    if note is None:
        note = table.attrs.get("note")
    body = table.reset_index(drop=True).astype(object).where(table.notna().to_numpy(), "")
    body = body.map(str)
    columns = [str(column) for column in body.columns]
    body.columns = columns

    empty_row = dict.fromkeys(columns, "")
    csv_rows = [{**empty_row, columns[0]: full_caption}]
    csv_rows += body.to_dict("records")
    if note:
        csv_rows.append({**empty_row, columns[0]: f"Note: {note}"})
    csv_frame = pd.DataFrame(csv_rows, columns=columns, dtype=object).map(spreadsheet_cell)
    csv_frame.columns = [spreadsheet_cell(column) for column in columns]
    csv_text = csv_frame.to_csv(index=False, lineterminator="\n")

    # The first column starts each row, after \\ or a booktabs rule.
    latex_body = body.map(latex_text)
    latex_body.iloc[:, 0] = body.iloc[:, 0].map(lambda cell: latex_text(cell, row_start=True))
    latex_body.columns = [latex_text(column, row_start=index == 0) for index, column in enumerate(columns)]
    styler = latex_body.style.hide(axis="index")
    tex = styler.to_latex(
        caption=latex_text(full_caption),
        label=label,
        hrules=True,
        position_float="centering",
        column_format="l" * len(columns),
    )
    if note:
        end = "\\end{table}"
        tex = tex.replace(
            end,
            "\\par\\smallskip\n{\\footnotesize Note: " + latex_text(note) + "\\par}\n" + end,
        )
    if not tex.endswith("\n"):
        tex += "\n"

    markdown_body = body.map(markdown_text)
    markdown_body.columns = [markdown_text(column) for column in columns]
    markdown = markdown_body.to_markdown(index=False, tablefmt="pipe", disable_numparse=True)
    md = f"{markdown_text(full_caption)}\n\n{markdown}\n"
    if note:
        md += f"\nNote: {markdown_text(note)}\n"
    return {"csv": csv_text, "tex": tex, "md": md}


def write_rendered_tables(rendered: dict[str, dict[str, str]], outputs, log=None) -> list[str]:
    """Write rendered tables to the rule outputs named ``<table>_<format>``.

    Parameters
    ----------
    rendered : dict
        Table name to ``{"csv": text, "tex": text, "md": text}`` (as from
        :func:`render_table`).
    outputs : mapping
        The rule's named outputs (``snakemake.output``); each table/format
        pair must have an output called ``<table>_<format>``.
    log : logging.Logger, optional
        Where to record each file written.

    Returns
    -------
    list of str
        The paths written.
    """
    written = []
    for name, formats in rendered.items():
        for extension, text in formats.items():
            path = outputs[f"{name}_{extension}"]
            atomic.write_text(path, text)
            written.append(path)
            if log is not None:
                log.info("wrote %s", path)
    return written
