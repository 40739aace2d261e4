"""The improvement analysis for people: the effects and baseline-heterogeneity tables and the improvement figure.

* :func:`improvement_tables`: arm effects without and with baseline, their moderation by sex and age,
  and the baseline heterogeneity, rendered as CSV, LaTeX and Markdown by
  :func:`analysis.render.tables.render_table`;
* :func:`plot_improvement`: mean standardized improvement per arm and the arm effects.

The statistics are in :mod:`analysis.secondary.improvement`. Rounding happens here and only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.render.style import STYLE, arm_palette, suptitle
from analysis.render.tables import (
    arm_label,
    display_table,
    format_coefficient,
    format_count,
    format_number,
    format_p_value,
    outcome_label,
    render_table,
)

__all__ = ["BASELINE_NOTES", "STANDARDISER_LABELS", "MODEL_LABELS", "improvement_tables", "plot_improvement"]

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BASELINE_NOTES = {"standardised": "the baseline composite standardised over participants", "raw": "the baseline composite in points"}
STANDARDISER_LABELS = {"control_change_sd": "SD of the control arm's change", "all_change_sd": "SD of all participants' change"}
MODEL_LABELS = {"arm": "Without baseline", "arm_baseline": "With baseline", "arm_x_sex": "Arm x sex", "arm_x_age": "Arm x age"}


def _term_label(term: str) -> str:
    if term == "intercept":
        return "Intercept"
    if term == "baseline":
        return "Baseline composite"
    parts = [arm_label(part) if "[" not in part else part.replace("sex[", "Sex: ").replace("]", "") for part in term.split(":")]
    return " x ".join(parts)


def improvement_tables(
    coefficients: pd.DataFrame, wald: pd.DataFrame, heterogeneity: pd.DataFrame, standardisers: pd.DataFrame, *,
    baseline_covariate: str, age_unit: float, cohort: str, synthetic: bool,
) -> dict[str, dict[str, str]]:
    """The display tables: arm effects (without/with baseline, moderation) and baseline heterogeneity.

    Parameters
    ----------
    coefficients, wald, heterogeneity, standardisers : pandas.DataFrame
        The improvement analysis' tables (:mod:`analysis.secondary.improvement`).
    baseline_covariate : {"standardised", "raw"}
        The registered scale of the baseline covariate, for the note.
    age_unit : float
        The registered age unit in years, for the notes.
    cohort : str
        Cohort name, for captions and labels.
    synthetic : bool
        Whether the data are simulated (marks every rendered table).

    Returns
    -------
    dict
        ``{"improvement_effects": {...}, "baseline_heterogeneity": {...}}``, each mapping ``csv``,
        ``tex`` and ``md`` to text.
    """
    models = list(dict.fromkeys(coefficients["model"]))
    terms = list(dict.fromkeys(coefficients["term"]))
    indexed = coefficients.set_index(["model", "term"])
    rows = []
    for term in terms:
        row = {"Term": _term_label(term)}
        for model in models:
            if (model, term) in indexed.index:
                record = indexed.loc[(model, term)]
                row[MODEL_LABELS.get(model, model)] = format_coefficient(record["estimate"], record["std_error"], record["p_value"])
            else:
                row[MODEL_LABELS.get(model, model)] = ""
        rows.append(row)
    fits = coefficients.groupby("model", sort=False)[["n_obs", "r2"]].first()
    rows.append({"Term": "R2", **{MODEL_LABELS.get(m, m): format_number(fits.loc[m, "r2"]) for m in models}})
    rows.append({"Term": "N (participants)", **{MODEL_LABELS.get(m, m): format_count(fits.loc[m, "n_obs"]) for m in models}})
    for record in wald.itertuples():
        rows.append({"Term": f"Wald test of interactions ({MODEL_LABELS.get(record.model, record.model)})",
                     **{MODEL_LABELS.get(m, m): "" for m in models},
                     MODEL_LABELS.get(record.model, record.model): f"chi2({record.df}) = {format_number(record.statistic, 2)}, p = {format_p_value(record.p_value)}"})
    registered = standardisers[standardisers["registered"]].iloc[0]
    effects = display_table(rows, note=(
        f"OLS of the standardized improvement (mean composite of the post-training conversations minus the baseline "
        f"conversation, divided by {registered['standardiser']} = {format_number(registered['sd'])}) on arm, with HC3 "
        f"standard errors. Baseline: {BASELINE_NOTES[baseline_covariate]}. Age: per {format_number(age_unit, 0)} "
        "years, centred at the mean. "
        "* p < .05, ** p < .01, *** p < .001."
    ))
    hetero_rows = []
    for record in heterogeneity[heterogeneity["term"] != "intercept"].itertuples():
        # the column is absent from tables written before it existed; read back from CSV an empty note is NaN
        note = getattr(record, "note", "")
        if isinstance(note, str) and note:
            hetero_rows.append({"Outcome (baseline)": outcome_label(record.outcome), "Factor": record.factor.replace("_", " "),
                                "Term": "", "Estimate (SE)": "not estimable", "p": "", "N": format_count(record.n_obs)})
            continue
        hetero_rows.append({"Outcome (baseline)": outcome_label(record.outcome), "Factor": record.factor.replace("_", " "),
                            "Term": _term_label(record.term).replace("trouble_type[", "").replace("]", ""),
                            "Estimate (SE)": format_coefficient(record.estimate, record.std_error, record.p_value),
                            "p": format_p_value(record.p_value), "N": format_count(record.n_obs)})
    hetero = display_table(hetero_rows, note=(
        "OLS of the baseline conversation's score on one factor at a time, HC3 standard errors; reference levels: the first "
        f"registered sex level, workplace trouble. Age per {format_number(age_unit, 0)} years, centred at the mean."
    ))
    return {
        "improvement_effects": render_table(
            effects, caption=f"Standardized improvement by arm, with and without baseline, and its moderation (cohort {cohort})",
            label=f"tab:improvement-{cohort}", synthetic=synthetic,
        ),
        "baseline_heterogeneity": render_table(
            hetero, caption=f"Baseline empathic communication by sex, age and trouble type (cohort {cohort})",
            label=f"tab:baseline-heterogeneity-{cohort}", synthetic=synthetic,
        ),
    }


def plot_improvement(
    summary: pd.DataFrame, coefficients: pd.DataFrame, arms: Sequence[str], reference_arm: str, standardiser: str,
    synthetic: bool = False,
) -> Figure:
    """Improvement by arm: mean standardized improvement per arm (95% CI) and arm effects vs reference.

    Left: each arm's mean improvement in SD units with its t-based CI. Right: the arm coefficients
    of the models without and with baseline (HC3 95% CIs).
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    arms = [arm for arm in arms if arm in set(summary["arm"])]
    palette = arm_palette(arms)
    others = [arm for arm in arms if arm != reference_arm]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 3.2), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.25])
        positions = np.arange(len(arms))
        rows = summary.set_index("arm").loc[arms]
        left.bar(positions, rows["mean"], color=[palette[arm] for arm in arms], edgecolor="black", linewidth=0.4,
                 yerr=np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]]),
                 error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "black"})
        left.axhline(0, color="black", linewidth=0.6)
        left.set_xticks(positions, [f"{arm_label(arm)}\n(n = {format_count(rows.loc[arm, 'n'])})" for arm in arms])
        left.set_ylabel(f"Improvement\n(in {STANDARDISER_LABELS.get(standardiser, standardiser)})")
        left.set_title("Mean improvement, 95% CI")
        models = [("arm", "Without baseline", "o"), ("arm_baseline", "With baseline", "s")]
        indexed = coefficients.set_index(["model", "term"])
        for k, (model, label, marker) in enumerate(models):
            for position, arm in enumerate(others):
                record = indexed.loc[(model, arm)]
                right.errorbar([position + (k - 0.5) * 0.25], [record["estimate"]],
                               yerr=[[record["estimate"] - record["ci_low"]], [record["ci_high"] - record["estimate"]]],
                               fmt=marker, color=palette[arm], markerfacecolor="white" if k else palette[arm],
                               markeredgecolor="black", markersize=4.5, elinewidth=0.9, capsize=2)
        right.axhline(0, color="black", linewidth=0.6)
        right.set_xticks(np.arange(len(others)), [f"{arm_label(arm)}\nvs {reference_arm}" for arm in others])
        right.set_xlim(-0.6, len(others) - 0.4)
        right.set_ylabel("Effect on improvement (SD units)")
        right.set_title("Arm effects (OLS, HC3 95% CI)")
        handles = [Line2D([], [], linestyle="none", marker=marker, markersize=4.5, markeredgecolor="black",
                          markerfacecolor="white" if k else "#555555", label=label)
                   for k, (_, label, marker) in enumerate(models)]
        right.legend(handles=handles, loc="upper left", frameon=False)
        suptitle(fig, "Standardized improvement after training", synthetic)
    return fig
