"""Tables and the figure of the expression taxonomy, for people (rounding happens here only).

* :func:`taxonomy_table`: the top phrases marking each dimension (route 2);
* :func:`change_table`: the top rising and falling expressions per trouble type;
* :func:`plot_expression_change`: the same as a figure, bars coloured by category, with counts.

Every expression shown is scrubbed again (:func:`analysis.cohorts.privacy.scrub_text`); the inputs already
hold only expressions used by at least k participants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.cohorts.privacy import scrub_text
from analysis.constants import THEME_CATEGORIES, TROUBLE_TYPES
from analysis.render.style import CATEGORY_COLOURS, STYLE, suptitle
from analysis.render.tables import display_table, format_count, format_number, format_p_value, outcome_label, require_columns

__all__ = ["TOP_COLUMNS", "taxonomy_table", "change_table", "plot_expression_change"]

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOP_COLUMNS: tuple[str, ...] = (
    "trouble_type", "direction", "rank", "expression", "category", "estimate", "ci_low", "ci_high", "q_value",
    "messages_using_before_treated", "messages_using_after_treated", "share_before_treated", "share_after_treated",
)
_LABEL_WIDTH = 38


def _label(expression: str, quoted: bool) -> str:
    """Scrubbed expression shortened to fit an axis label: a phrase in quotes, a theme label as words."""
    text = str(scrub_text(str(expression)))
    if not quoted:
        text = text.replace("_", " ")
    if len(text) > _LABEL_WIDTH:
        text = text[: _LABEL_WIDTH - 1].rstrip() + "\u2026"
    return f"\u201c{text}\u201d" if quoted else text


def taxonomy_table(taxonomy: pd.DataFrame, dimensions: Sequence[str], top_n: int = 10, digits: int = 2) -> pd.DataFrame:
    """The ``top_n`` phrases marking each dimension, largest z first.

    Parameters
    ----------
    taxonomy : pandas.DataFrame
        ``taxonomy.csv`` of the miner (phrase, dimension, marks, direction,
        z, rank_in_dimension, support_messages, support_participants).
    dimensions : sequence of str
        Dimensions in display order.
    top_n : int
        Phrases per dimension.
    digits : int
        Decimal places of z.

    Returns
    -------
    pandas.DataFrame
        Display strings: ``Dimension``, ``Phrase``, ``Direction``, ``z``,
        ``Messages``, ``Participants``; ``attrs["note"]`` explains them.
    """
    require_columns(taxonomy, ("phrase", "dimension", "marks", "direction", "z", "rank_in_dimension",
                               "support_messages", "support_participants"), "taxonomy")
    marked = taxonomy[taxonomy["marks"].astype(bool) & (taxonomy["rank_in_dimension"] <= top_n)]
    rows = []
    for dimension in dimensions:
        for record in marked[marked["dimension"] == dimension].sort_values("rank_in_dimension").to_dict("records"):
            rows.append(
                {
                    "Dimension": outcome_label(dimension),
                    "Phrase": str(scrub_text(record["phrase"])),
                    "Direction": record["direction"],
                    "z": format_number(record["z"], digits),
                    "Messages": format_count(record["support_messages"]),
                    "Participants": format_count(record["support_participants"]),
                }
            )
    return display_table(rows, columns=["Dimension", "Phrase", "Direction", "z", "Messages", "Participants"], note=(
        "Recurring supporter phrases (2-6 words, counted once per message) ranked by the weighted log-odds "
        "ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008) between high- and "
        "low-scoring conversations on the dimension; z is the log-odds over its standard error. Each phrase "
        "is listed under the dimension of its largest z. Only phrases used by enough distinct participants "
        "are shown."
    ))


def change_table(top: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """The top rising and falling expressions per trouble type, as display strings.

    Parameters
    ----------
    top : pandas.DataFrame
        The ``*_change_top.csv`` table (columns :data:`TOP_COLUMNS`).
    digits : int
        Decimal places of percentages.

    Returns
    -------
    pandas.DataFrame
        ``Trouble type``, ``Change``, ``Expression``, ``Category``,
        ``Treated before (%)``, ``Treated after (%)``, ``DiD (pp) [95% CI]``,
        ``q``; ``attrs["note"]`` explains them.
    """
    require_columns(top, TOP_COLUMNS, "top")
    rows = []
    for record in _ordered_top(top).to_dict("records"):
        rows.append(
            {
                "Trouble type": str(record["trouble_type"]).capitalize(),
                "Change": record["direction"],
                "Expression": str(scrub_text(record["expression"])),
                "Category": record["category"],
                "Treated before (%)": format_number(100 * record["share_before_treated"], digits),
                "Treated after (%)": format_number(100 * record["share_after_treated"], digits),
                "DiD (pp) [95% CI]": (
                    f"{format_number(100 * record['estimate'], digits)} "
                    f"[{format_number(100 * record['ci_low'], digits)}, {format_number(100 * record['ci_high'], digits)}]"
                ),
                "q": format_p_value(record["q_value"]),
            }
        )
    columns = ["Trouble type", "Change", "Expression", "Category", "Treated before (%)", "Treated after (%)",
               "DiD (pp) [95% CI]", "q"]
    return display_table(rows, columns=columns, note=(
        "Share of supporter messages using the expression in the treated arms (pooled) before training "
        "(conversation 1) and after (conversations 2-3); DiD: the treated change minus the control change, in "
        "percentage points, from a linear probability model with standard errors clustered by participant; "
        "q: Benjamini-Hochberg adjusted p-value across expressions within the trouble type. Only significant "
        "expressions (q below the registered level) are listed."
    ))


def _ordered_top(top: pd.DataFrame) -> pd.DataFrame:
    """Trouble types in design order, rising before falling, then by rank."""
    trouble_order = {name: index for index, name in enumerate(TROUBLE_TYPES)}
    direction_order = {"rising": 0, "falling": 1}
    return top.assign(
        _t=top["trouble_type"].map(trouble_order).fillna(len(trouble_order)),
        _d=top["direction"].map(direction_order),
    ).sort_values(["_t", "trouble_type", "_d", "rank"], kind="stable").drop(columns=["_t", "_d"])


def plot_expression_change(
    top: pd.DataFrame,
    what: str = "expressions",
    quoted: bool = True,
    synthetic: bool = False,
    title: str | None = None,
) -> Figure:
    """Top rising and falling expressions per trouble type, coloured by category, with counts.

    Parameters
    ----------
    top : pandas.DataFrame
        The ``*_change_top.csv`` table (columns :data:`TOP_COLUMNS`).
    what : str
        What the expressions are (``"mined phrases"``, ``"themes"``), for the
        default title.
    quoted : bool
        Show the expressions in quotes (phrases) or as labels with
        underscores read as spaces (themes).
    synthetic : bool
        Start the title with the SYNTHETIC DATA banner.
    title : str, optional
        Title under the banner.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trouble type: horizontal bars of the DiD of the share
        of supporter messages using the expression (percentage points), rising
        expressions above falling ones, each labelled with the number of
        treated-arm messages using it before -> after training. A panel
        without significant changes says so.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    require_columns(top, TOP_COLUMNS, "top")
    ordered = _ordered_top(top)
    troubles = [t for t in TROUBLE_TYPES if t in set(ordered["trouble_type"])] or list(TROUBLE_TYPES)
    troubles += sorted(set(ordered["trouble_type"]) - set(troubles))
    n_bars = max([int((ordered["trouble_type"] == t).sum()) for t in troubles] + [1])
    height = 1.5 + 0.22 * n_bars
    title = title if title is not None else f"Top rising and falling {what} after training (treated vs control)"
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, height), layout="constrained")
        axes = fig.subplots(1, len(troubles), sharex=True, squeeze=False)[0]
        ends = ordered[["ci_low", "ci_high"]].abs().to_numpy(dtype=float)
        limit = max(float(ends.max()) * 100 if len(ordered) else 1.0, 1.0)
        for ax, trouble in zip(axes, troubles):
            rows = ordered[ordered["trouble_type"] == trouble]
            ax.axvline(0, color="black", linewidth=0.6)
            ax.set_title(f"{str(trouble).capitalize()} troubles")
            ax.set_xlim(-1.5 * limit, 1.5 * limit)
            ax.set_xlabel("Change in share of messages,\ntreated \u2212 control (pp)")
            if rows.empty:
                ax.text(0.5, 0.5, "no significant change", transform=ax.transAxes, ha="center", va="center",
                        color="#555555")
                ax.set_yticks([])
                continue
            y = n_bars - 1 - np.arange(len(rows))
            values = 100 * rows["estimate"].to_numpy(dtype=float)
            colours = [CATEGORY_COLOURS.get(category, CATEGORY_COLOURS["unassigned"]) for category in rows["category"]]
            ax.barh(y, values, color=colours, edgecolor="black", linewidth=0.3, height=0.72)
            ax.errorbar(
                values, y,
                xerr=np.vstack([values - 100 * rows["ci_low"].to_numpy(dtype=float),
                                100 * rows["ci_high"].to_numpy(dtype=float) - values]),
                fmt="none", ecolor="#333333", elinewidth=0.6, capsize=1.5,
            )
            # parse_math=False: a "$" in participant text is a dollar sign, not mathtext
            ax.set_yticks(y, [_label(expression, quoted) for expression in rows["expression"]], fontsize=6.5, parse_math=False)
            ax.set_ylim(-0.7, n_bars - 0.3)
            counts = [f"{before}\u2192{after}" for before, after in zip(
                rows["messages_using_before_treated"], rows["messages_using_after_treated"])]
            for position, value, high, low, text in zip(y, values, 100 * rows["ci_high"], 100 * rows["ci_low"], counts):
                end = high if value >= 0 else low
                ax.text(end + (0.02 if value >= 0 else -0.02) * limit, position, text, va="center",
                        ha="left" if value >= 0 else "right", fontsize=5.5, color="#333333")
        present = [c for c in (*THEME_CATEGORIES, "unassigned") if c in set(ordered["category"])] or list(THEME_CATEGORIES)
        handles = [Patch(facecolor=CATEGORY_COLOURS[c], edgecolor="black", linewidth=0.3, label=c) for c in present]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False,
                   title="Category   (labels: treated-arm messages using it, conversation 1 \u2192 conversations 2-3)", title_fontsize=7)
        suptitle(fig, title, synthetic)
    return fig
