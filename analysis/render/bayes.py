"""Tables and figures of the Bayesian models, for people.

* :func:`effects_table`: each arm's effect per dimension (log-odds and change in expected score,
  posterior median and 95% HDI, probability of improvement) and on the composite;
* :func:`diagnostics_summary_table`: per model and quantity, the worst R-hat and ESS and the
  divergences, against the registered gates;
* :func:`bayes_tables_text`: both rendered as CSV, LaTeX and Markdown;
* :func:`plot_bayes_effects`: forest plot of the effects by dimension and arm;
* :func:`plot_ppc_proportions`: posterior predictive check of the category shares by arm and
  conversation.

Rounding happens here and only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.models.bayes_columns import DIAGNOSTIC_COLUMNS, EFFECT_COLUMNS, PPC_COLUMNS
from analysis.render import tables
from analysis.render.style import CONVERSATION_COLOURS, STYLE, arm_palette, suptitle

__all__ = [
    "SCALE_TITLES", "effects_table", "diagnostics_summary_table", "bayes_tables_text", "plot_bayes_effects",
    "plot_ppc_proportions",
]

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SCALE_TITLES = {
    "log_odds": "Log-odds (cumulative logit)",
    "expected_score": "Change in expected score (1-5)",
}


def _interval(median: float, low: float, high: float, digits: int = 2) -> str:
    return f"{tables.format_number(median, digits)} [{tables.format_number(low, digits)}, {tables.format_number(high, digits)}]"


def effects_table(effects: pd.DataFrame, arms: Sequence[str], reference_arm: str, digits: int = 2) -> pd.DataFrame:
    """Each arm's effect per outcome: log-odds, change in score, probability of improvement.

    Parameters
    ----------
    effects : pandas.DataFrame
        ``bayes/effects.csv``.
    arms, reference_arm
        Arms in display order and the reference arm.
    digits : int
        Decimal places.

    Returns
    -------
    pandas.DataFrame
        Display strings with columns ``Outcome``, ``Arm``, ``Term``, ``Log-odds [95% HDI]``
        (ordinal dimensions), ``Change in score [95% HDI]`` (population-averaged change in
        expected score for the dimensions, the composite's own scale for the composite) and
        ``P(improvement)``; ``attrs["note"]`` explains them.
    """
    tables.require_columns(effects, EFFECT_COLUMNS, "effects")
    prob = float(effects["hdi_prob"].iloc[0]) if len(effects) else 0.95
    level = f"{100 * prob:g}%"
    indexed = effects.set_index(["outcome", "arm", "scale"])
    rows = []
    for outcome in tables.ordered_outcomes(effects["outcome"]):
        for arm in arms:
            log_odds = indexed.loc[(outcome, arm, "log_odds")] if (outcome, arm, "log_odds") in indexed.index else None
            score_key = (outcome, arm, "expected_score") if (outcome, arm, "expected_score") in indexed.index else (outcome, arm, "score")
            if score_key not in indexed.index:
                continue
            score = indexed.loc[score_key]
            rows.append(
                {
                    "Outcome": tables.outcome_label(outcome),
                    "Arm": tables.arm_label(arm),
                    "Term": score["term"],
                    f"Log-odds [{level} HDI]": "" if log_odds is None else _interval(log_odds["median"], log_odds["hdi_low"], log_odds["hdi_high"], digits),
                    f"Change in score [{level} HDI]": _interval(score["median"], score["hdi_low"], score["hdi_high"], digits),
                    "P(improvement)": tables.format_number(score["prob_improvement"], 3),
                }
            )
    return tables.display_table(rows, note=(
        f"Posterior median [{level} highest-density interval]. Reference arm ({reference_arm}): its change after training "
        "(post); other arms: the difference-in-differences effect (arm x post). Dimensions: joint cumulative-logit model "
        "(log-odds) and its population-averaged change in expected score; overall empathy: Bayesian linear model with a "
        "participant random intercept (score scale). P(improvement): posterior probability of a change in the beneficial "
        "direction (up for prescriptive dimensions and the composite, down for misattuned ones)."
    ))


def diagnostics_summary_table(diagnostics: pd.DataFrame, gates: Mapping, digits: int = 3) -> pd.DataFrame:
    """Per model and quantity: worst R-hat and ESS, elements breaking the registered gates, divergences.

    Parameters
    ----------
    diagnostics : pandas.DataFrame
        ``bayes/diagnostics.csv``.
    gates : mapping
        ``bayesian_models.diagnostics`` (shown in the note).
    digits : int
        Decimal places of R-hat.

    Returns
    -------
    pandas.DataFrame
        Display strings: ``Model``, ``Quantity``, ``Elements``, ``Max R-hat``, ``Min bulk ESS``,
        ``Min tail ESS``, ``Gated``, ``Failing``, ``Divergences``.
    """
    tables.require_columns(diagnostics, DIAGNOSTIC_COLUMNS, "diagnostics")
    rows = []
    for (model, quantity), group in diagnostics.groupby(["model", "quantity"], sort=False):
        rows.append(
            {
                "Model": model,
                "Quantity": quantity,
                "Elements": tables.format_count(len(group)),
                "Max R-hat": tables.format_number(group["r_hat"].max(), digits),
                "Min bulk ESS": tables.format_count(group["ess_bulk"].min()),
                "Min tail ESS": tables.format_count(group["ess_tail"].min()),
                "Gated": "yes" if bool(group["gated"].any()) else "no",
                "Failing": tables.format_count(int((~group["passed"]).sum())),
                "Divergences": tables.format_count(group["divergences"].iloc[0]),
            }
        )
    chains = int(diagnostics["chains"].iloc[0]) if len(diagnostics) else 0
    draws = int(diagnostics["draws"].iloc[0]) if len(diagnostics) else 0
    thin = int(diagnostics["thin"].iloc[0]) if len(diagnostics) else 1
    kept = f" (1 in {thin} of {draws * thin} iterations kept)" if thin > 1 else ""
    return tables.display_table(rows, note=(
        f"{chains} chains x {draws} draws{kept}. Registered gates: R-hat <= {gates['max_r_hat']}, bulk and tail ESS >= "
        f"{gates['min_ess_bulk']} / {gates['min_ess_tail']} for every element of a gated quantity, at most "
        f"{gates['max_divergences']} divergent transitions (policy: {gates['policy']}). Correlations: lower triangle only."
    ))


def bayes_tables_text(
    effects: pd.DataFrame, diagnostics: pd.DataFrame, arms: Sequence[str], reference_arm: str, gates: Mapping,
    cohort: str, synthetic: bool,
) -> dict[str, dict[str, str]]:
    """The effects and diagnostics tables rendered as CSV, LaTeX and Markdown text."""
    return {
        "bayes_effects": tables.render_table(
            effects_table(effects, arms, reference_arm),
            f"Bayesian models: training effects per outcome and arm (cohort {cohort})",
            "tab:bayes_effects", synthetic=synthetic,
        ),
        "bayes_diagnostics": tables.render_table(
            diagnostics_summary_table(diagnostics, gates),
            f"Bayesian models: sampling diagnostics (cohort {cohort})",
            "tab:bayes_diagnostics", synthetic=synthetic,
        ),
    }


def plot_bayes_effects(effects: pd.DataFrame, arms: Sequence[str], reference_arm: str, synthetic: bool = False) -> Figure:
    """Forest plot of the ordinal model's effects by dimension and arm, on two scales.

    Parameters
    ----------
    effects : pandas.DataFrame
        ``bayes/effects.csv`` (its ``ordinal`` rows on the ``log_odds`` and ``expected_score``
        scales are drawn).
    arms, reference_arm
        Arms (order within a dimension) and the reference arm (drawn with an open marker: its
        own change, not a DiD).
    synthetic : bool
        Whether the cohort is simulated.

    Returns
    -------
    matplotlib.figure.Figure
        7.2 x 6.2 in, two panels sharing the rows: posterior medians and HDIs, a zero line,
        dimensions labelled on the left, arms by colour.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    tables.require_columns(effects, EFFECT_COLUMNS, "effects")
    ordinal = effects[effects["model"] == "ordinal"]
    dimensions = tables.ordered_outcomes(ordinal["outcome"])
    palette = arm_palette(arms)
    indexed = ordinal.set_index(["outcome", "arm", "scale"])
    gap = 0.8
    positions = {}
    y = 0.0
    for dimension in dimensions:
        for arm in arms:
            positions[(dimension, arm)] = y
            y += 1.0
        y += gap
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 6.2))
        axes = fig.subplots(1, 2, sharey=True)
        for axis, scale in zip(axes, SCALE_TITLES):
            axis.axvline(0.0, color="#777777", linewidth=0.6, zorder=0)
            for (dimension, arm), position in positions.items():
                if (dimension, arm, scale) not in indexed.index:
                    continue
                row = indexed.loc[(dimension, arm, scale)]
                colour = palette[arm]
                axis.plot([row["hdi_low"], row["hdi_high"]], [position, position], color=colour, linewidth=1.2)
                axis.plot(row["median"], position, marker="o", markersize=4, color=colour,
                          markerfacecolor="white" if arm == reference_arm else colour, linestyle="none")
            axis.set_title(SCALE_TITLES[scale])
            axis.set_xlabel("Posterior median and 95% HDI")
        centres = [np.mean([positions[(dimension, arm)] for arm in arms]) for dimension in dimensions]
        axes[0].set_yticks(centres)
        axes[0].set_yticklabels([tables.outcome_label(dimension) for dimension in dimensions])
        axes[0].set_ylim(y - gap + 0.2, -0.8)
        for axis in axes:
            axis.tick_params(axis="y", length=0)
        handles = [
            Line2D([0], [0], color=palette[arm], marker="o", markersize=4, markerfacecolor="white" if arm == reference_arm else palette[arm],
                   label=f"{tables.arm_label(arm)}: change" if arm == reference_arm else f"{tables.arm_label(arm)}: DiD vs {reference_arm}")
            for arm in arms
        ]
        fig.legend(handles=handles, loc="lower center", ncol=len(arms), frameon=False, bbox_to_anchor=(0.5, 0.0))
        suptitle(fig, "Joint ordinal model: training effects by dimension and arm", synthetic)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_ppc_proportions(ppc: pd.DataFrame, arms: Sequence[str], synthetic: bool = False) -> Figure:
    """Posterior predictive check: observed share of each score vs its predictive interval.

    Parameters
    ----------
    ppc : pandas.DataFrame
        ``bayes/ppc_proportions.csv``.
    arms : sequence of str
        Arms (columns of the grid).
    synthetic : bool
        Whether the cohort is simulated.

    Returns
    -------
    matplotlib.figure.Figure
        A grid of dimensions (rows) x arms (columns); in each panel, for every score 1-5 and
        conversation, the predictive median and interval (line with a tick) and the observed
        share (filled dot).
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    tables.require_columns(ppc, PPC_COLUMNS, "ppc_proportions")
    dimensions = tables.ordered_outcomes(ppc["dimension"])
    present = [arm for arm in arms if arm in set(ppc["arm"])]
    conversations = sorted(ppc["conversation_number"].unique())
    offsets = np.linspace(-0.24, 0.24, len(conversations)) if len(conversations) > 1 else np.zeros(1)
    top = float(max(ppc["predicted_high"].max(), ppc["observed_share"].max()))
    prob = float(ppc["interval_prob"].iloc[0]) if len(ppc) else 0.95
    indexed = ppc.set_index(["dimension", "arm"])
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 1.45 * len(dimensions) + 1.1))
        axes = fig.subplots(len(dimensions), len(present), sharex=True, sharey=True, squeeze=False)
        for row, dimension in enumerate(dimensions):
            for column, arm in enumerate(present):
                axis = axes[row, column]
                cell = indexed.loc[(dimension, arm)]
                for offset, number, colour in zip(offsets, conversations, CONVERSATION_COLOURS * 3):
                    part = cell[cell["conversation_number"] == number]
                    x = part["category"].to_numpy() + offset
                    axis.vlines(x, part["predicted_low"], part["predicted_high"], color=colour, linewidth=1.0, alpha=0.6)
                    axis.plot(x, part["predicted_median"], marker="_", markersize=5, color=colour, linestyle="none", alpha=0.8)
                    axis.plot(x, part["observed_share"], marker="o", markersize=2.4, color=colour, linestyle="none")
                axis.set_ylim(0, top * 1.05)
                axis.set_xticks(range(1, 6))
                if row == 0:
                    axis.set_title(tables.arm_label(arm))
                if column == 0:
                    axis.set_ylabel(tables.outcome_label(dimension).replace(" ", "\n", 1), fontsize=7)
                if row == len(dimensions) - 1:
                    axis.set_xlabel("Score")
        handles = [
            Line2D([0], [0], color=colour, marker="o", markersize=3, linewidth=1.0, label=f"Conversation {number}")
            for number, colour in zip(conversations, CONVERSATION_COLOURS * 3)
        ]
        handles.append(Line2D([0], [0], color="#777777", marker="o", markersize=3, linestyle="none", label="observed share"))
        handles.append(Line2D([0], [0], color="#777777", marker="_", markersize=6, linewidth=1.0,
                              label=f"posterior predictive median, {100 * prob:g}% interval"))
        fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
        suptitle(fig, "Posterior predictive check: share of conversations per score", synthetic)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
