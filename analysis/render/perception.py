"""The perception task for people: the logit and rank-correlation tables and the gap-bin figure.

* :func:`perception_tables`: a choice logit (coefficients, N) and its rank correlations, rendered as
  CSV, LaTeX and Markdown by :func:`analysis.render.tables.render_table`;
* :func:`elo_table_keywords`: its keywords for the Elo comparison (label of the gap, name, caption);
* :func:`plot_gap_bins`: the share choosing the higher-scored conversation by gap, with the fitted logit.

The statistics are in :mod:`analysis.secondary.perception`. Rounding happens here and only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.render.style import STYLE, suptitle
from analysis.render.tables import display_table, format_coefficient, format_count, format_number, format_p_value, render_table

__all__ = ["perception_tables", "elo_table_keywords", "plot_gap_bins"]

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _term_label(term: str, gap_label: str) -> str:
    if term == "intercept":
        return "Intercept"
    if term == "abs_gap":
        return gap_label
    return term.replace("scenario[", "Scenario: ").replace("]", "")


def perception_tables(
    logit: pd.DataFrame, fit: pd.DataFrame, ranks: pd.DataFrame, cohort: str, synthetic: bool, gap_label: str = "Absolute composite gap",
    name: str = "perception", caption: str | None = None,
) -> dict[str, dict[str, str]]:
    """A display table of a choice logit (coefficients, N) and its rank correlations.

    Parameters
    ----------
    logit : pandas.DataFrame
        The logit's coefficients (:data:`analysis.secondary.perception.LOGIT_COLUMNS`): one row per
        term (``intercept``, ``abs_gap``, ``scenario[...]``) with ``estimate``, ``std_error``,
        ``p_value`` and ``odds_ratio``.
    fit : pandas.DataFrame
        The fit summary (:data:`analysis.secondary.perception.LOGIT_FIT_COLUMNS`); its first row
        gives ``n_used``, ``n_choices``, ``n_raters`` and, when present and non-empty, ``note``
        (the scenario coding, used in the table's note).
    ranks : pandas.DataFrame
        Rank correlations (:data:`analysis.secondary.perception.RANK_COLUMNS`): ``x``, ``y``, ``n``,
        ``rho`` and ``p_value``, one table row each.
    cohort : str
        Cohort name, used in the default caption and the label.
    synthetic : bool
        Whether the data are simulated (the caption then says so).
    gap_label : str, default "Absolute composite gap"
        Label of the ``abs_gap`` term.
    name : str, default "perception"
        Key of the result; the label is ``tab:<name with - for _>-<cohort>``.
    caption : str, optional
        Table caption; defaults to the perception task's.

    Returns
    -------
    dict
        ``{name: {"csv": ..., "tex": ..., "md": ...}}`` (:func:`analysis.render.tables.render_table`)
        of a table with columns ``Term``, ``Estimate (SE)``, ``Odds ratio`` and ``p``: the terms, the
        choices used of all, the raters, then one row per rank correlation.
    """
    rows = [
        {"Term": _term_label(record.term, gap_label),
         "Estimate (SE)": format_coefficient(record.estimate, record.std_error, record.p_value),
         "Odds ratio": format_number(record.odds_ratio), "p": format_p_value(record.p_value)}
        for record in logit.itertuples()
    ]
    summary = fit.iloc[0]
    rows.append({"Term": "Choices used / all", "Estimate (SE)": f"{format_count(summary['n_used'])} / {format_count(summary['n_choices'])}",
                 "Odds ratio": "", "p": ""})
    rows.append({"Term": "Raters (clusters)", "Estimate (SE)": format_count(summary["n_raters"]), "Odds ratio": "", "p": ""})
    for record in ranks.itertuples():
        rows.append({"Term": f"Spearman rho: {record.x.replace('_', '-')} vs {record.y.replace('_', ' ')} (N = {format_count(record.n)})",
                     "Estimate (SE)": format_number(record.rho), "Odds ratio": "", "p": format_p_value(record.p_value)})
    # an older fit table has no note column; an empty note reads back from CSV as NaN
    fit_note = summary.get("note", "")
    fit_note = fit_note if isinstance(fit_note, str) else ""
    scenarios = f"{fit_note[0].upper()}{fit_note[1:]}." if fit_note else "Scenario dummies against the first scenario in sorted order."
    table = display_table(rows, note=(
        f"Logit with standard errors clustered by rater. {scenarios} "
        "Bradley-Terry strengths from the human choices (choix). * p < .05, ** p < .01, *** p < .001."
    ))
    return {name: render_table(table, caption=caption or f"Perception task: choosing the conversation judged more empathic (cohort {cohort})",
                               label=f"tab:{name.replace('_', '-')}-{cohort}", synthetic=synthetic)}


def elo_table_keywords(agreement_gap: str, cohort: str) -> dict:
    """Keywords of :func:`perception_tables` (all but ``synthetic``) for the table of the Elo comparison.

    Parameters
    ----------
    agreement_gap : str
        The gap the agreement logit uses (the plan's ``perception.elo.agreement_gap``): ``"elo"``
        labels the gap term ``Absolute Elo gap / 100``; any other value ``Absolute composite gap``.
    cohort : str
        Cohort name, used in the caption and the label ``tab:perception-elo-<cohort>``.

    Returns
    -------
    dict
        ``cohort``, ``gap_label``, ``name`` (``perception_elo``, the key of the result) and ``caption``.
    """
    return {
        "cohort": cohort,
        "gap_label": "Absolute Elo gap / 100" if agreement_gap == "elo" else "Absolute composite gap",
        "name": "perception_elo",
        "caption": f"Perception task: agreeing with the LLM's Elo preference (cohort {cohort})",
    }


def plot_gap_bins(bins: pd.DataFrame, curve: pd.DataFrame, fit: pd.DataFrame, logit: pd.DataFrame, synthetic: bool = False) -> Figure:
    """Share choosing the higher-composite conversation by ``|gap|`` bin with CIs, and the fitted logit.

    Each bin's share is drawn at the bin's mean ``|gap|`` (bin edges as light vertical lines, the
    number of choices above each CI); the line is the fitted logit averaged over the scenario mix.

    Parameters
    ----------
    bins : pandas.DataFrame
        Gap bins (:data:`analysis.secondary.perception.GAP_BIN_COLUMNS`); uses ``bin_low``,
        ``bin_high``, ``n``, ``share``, ``ci_low``, ``ci_high`` and ``mean_abs_gap`` (shares as
        proportions, drawn as percentages); bins with ``n`` = 0 are not drawn.
    curve : pandas.DataFrame
        The fitted curve: ``abs_gap`` and ``predicted`` (a proportion).
    fit : pandas.DataFrame
        The fit summary; its first row's ``n_used`` and ``n_choices`` are printed in the panel.
    logit : pandas.DataFrame
        The logit's coefficients; the ``abs_gap`` term's ``estimate`` and ``std_error`` are printed.
    synthetic : bool, default False
        Whether the data are simulated (the suptitle then starts with the synthetic-data banner).

    Returns
    -------
    matplotlib.figure.Figure
        One axes: observed shares with 95% CIs, the fitted curve and a 50% reference line.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(5.2, 3.5), layout="constrained")
        ax = fig.subplots()
        ax.axhline(50, color="#777777", linewidth=0.6, linestyle=":")
        shown = bins[bins["n"] > 0]
        right = float(max(curve["abs_gap"].max(), shown["mean_abs_gap"].max() if len(shown) else 1.0))
        edges = [edge for edge in sorted(set(bins["bin_low"]) | set(bins["bin_high"])) if edge <= right]
        for edge in edges[1:]:
            ax.axvline(edge, color="#DDDDDD", linewidth=0.5, zorder=0)
        x = shown["mean_abs_gap"]
        ax.errorbar(x, 100 * shown["share"], yerr=100 * np.vstack([shown["share"] - shown["ci_low"], shown["ci_high"] - shown["share"]]),
                    fmt="o", color="#0072B2", markersize=4, elinewidth=0.9, capsize=2, label="Observed share per bin, 95% CI", zorder=3)
        for xi, y, n in zip(x, 100 * shown["ci_high"], shown["n"], strict=True):
            ax.text(xi, y + 1.5, f"n = {format_count(n)}", ha="center", va="bottom", fontsize=6.5, color="#444444")
        ax.plot(curve["abs_gap"], 100 * curve["predicted"], color="black", linewidth=1.0, label="Fitted logit (scenario mix)")
        slope = logit.set_index("term").loc["abs_gap"]
        summary = fit.iloc[0]
        ax.text(0.98, 0.04, f"slope {format_number(slope['estimate'])} (SE {format_number(slope['std_error'])}) log-odds per point\n"
                f"{format_count(summary['n_used'])} of {format_count(summary['n_choices'])} choices (non-zero gap)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=6.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, right * 1.03)
        ax.set_xlabel("|Composite gap| between the two conversations (grey lines: bin edges)")
        ax.set_ylabel("Chose the higher-scored conversation (%)")
        low = float(np.nanmin(100 * shown["ci_low"])) if len(shown) else 40.0
        ax.set_ylim(min(40.0, low - 5), 105)
        ax.legend(loc="upper left", frameon=False)
        suptitle(fig, "Do people recognise the better-judged response?", synthetic)
    return fig
