"""Tables and the responder figure of the mixed-model family, for people.

* :func:`lmm_table`: the fixed effects of the linear mixed models, one column
  per outcome, in the primary table's layout plus scenario rows and the
  variance components;
* :func:`responders_table`: per arm, the shares of reliable improvement, no
  reliable change and reliable decline, and the mean (SD) change;
* :func:`mixed_tables_text`: both, rendered as CSV, LaTeX and Markdown by
  :func:`analysis.render.tables.render_table`;
* :func:`plot_responders`: the paper's responder figure.

Rounding happens here and only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.models.mixed import VARIANCE_TERMS
from analysis.models.reliable_change import IMPROVED, NO_CHANGE, PARTICIPANT_COLUMNS, RESPONDER_COLUMNS, WORSENED
from analysis.render import tables
from analysis.render.style import STYLE, arm_palette, suptitle

__all__ = [
    "CLASSIFICATION_COLOURS", "SHARE_COLUMNS", "LMM_COLUMNS", "CONVERGENCE_TABLE_COLUMNS", "RELIABILITY_TABLE_COLUMNS",
    "lmm_table", "responders_table", "mixed_tables_text", "plot_responders",
]

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CLASSIFICATION_COLOURS = {IMPROVED: "#56B4E9", NO_CHANGE: "#BBBBBB", WORSENED: "#D55E00"}
SHARE_COLUMNS = {IMPROVED: "share_improved", NO_CHANGE: "share_no_change", WORSENED: "share_worsened"}
LMM_COLUMNS = ("outcome", "term", "estimate", "std_error", "p_value", "n_obs", "n_clusters")
CONVERGENCE_TABLE_COLUMNS = ("outcome", "optimizer", "log_likelihood")
RELIABILITY_TABLE_COLUMNS = ("r1", "r2", "se_d", "critical_value", "threshold", "arm")


def _percent(share: float, digits: int = 1) -> str:
    """A share (0-1) as ``"9.0%"``; missing gives ``""``."""
    text = tables.format_number(100 * share if share is not None and not pd.isna(share) else share, digits)
    return f"{text}%" if text else ""


def lmm_table(
    coefficients: pd.DataFrame,
    convergence: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str = "control",
    reference_scenario: str | None = None,
    digits: int = 3,
) -> pd.DataFrame:
    """The linear mixed models' estimates, one column per outcome.

    Parameters
    ----------
    coefficients : pandas.DataFrame
        ``results/<cohort>/mixed/lmm_coefficients.csv``: fixed-effect rows
        (``intercept``, ``<arm>``, ``post``, ``<arm>:post``,
        ``scenario[<level>]``) and the variance rows ``var(participant)`` and
        ``var(residual)``.
    convergence : pandas.DataFrame
        ``convergence.csv`` (outcome, optimizer, log_likelihood).
    arms : sequence of str
        Arms in display order; the reference arm is skipped.
    reference_arm : str
        The arm absorbed in the intercept.
    reference_scenario : str, optional
        The scenario absorbed in the intercept, named in the note.
    digits : int
        Decimal places.

    Returns
    -------
    pandas.DataFrame
        Display strings: column ``Term`` then one column per outcome. Rows:
        Intercept, ``<Arm>``, Post, ``<Arm> x post``, ``Scenario: <level>``,
        Participant variance, Residual variance, REML log-likelihood,
        Optimizer, N (conversations), Participants. Coefficient cells read
        ``"estimate<stars> (SE)"``. ``attrs["note"]`` explains them.

    Raises
    ------
    ValueError
        When a required column is missing or an (outcome, term) pair is duplicated.
    """
    tables.require_columns(coefficients, LMM_COLUMNS, "lmm_coefficients")
    tables.require_columns(convergence, CONVERGENCE_TABLE_COLUMNS, "convergence")
    if coefficients.duplicated(["outcome", "term"]).any():
        raise ValueError("lmm_coefficients has duplicated (outcome, term) rows")
    scenario_terms = list(dict.fromkeys(term for term in coefficients["term"] if term.startswith("scenario[")))
    fixed_rows = tables.did_term_rows(arms, reference_arm)
    fixed_rows += [(term, f"Scenario: {term[len('scenario['):-1].replace('_', ' ')}") for term in scenario_terms]
    labels = [label for _, label in fixed_rows]
    labels += ["Participant variance", "Residual variance", "REML log-likelihood", "Optimizer", "N (conversations)", "Participants"]
    by_key = coefficients.set_index(["outcome", "term"])
    fits = convergence.set_index("outcome")
    columns: dict[str, list[str]] = {"Term": labels}
    for outcome in tables.ordered_outcomes(coefficients["outcome"]):
        cells = tables.coefficient_cells(by_key, outcome, [term for term, _ in fixed_rows], digits)
        for term in VARIANCE_TERMS:
            cells.append(tables.format_number(by_key.loc[(outcome, term), "estimate"], digits) if (outcome, term) in by_key.index else "")
        fit = fits.loc[outcome] if outcome in fits.index else None
        cells.append(tables.format_number(fit["log_likelihood"], digits) if fit is not None else "")
        cells.append(str(fit["optimizer"]) if fit is not None else "")
        sample = coefficients[coefficients["outcome"] == outcome].iloc[0]
        cells += [tables.format_count(sample["n_obs"]), tables.format_count(sample["n_clusters"])]
        columns[tables.outcome_label(outcome)] = cells
    return tables.display_table(columns, note=(
        "Cells: REML estimate (model-based standard error, as lme4's vcov) of the linear mixed model "
        "score ~ arm * post + scenario + (1 | participant); Wald z tests. "
        f"Reference arm: {reference_arm}"
        + (f"; reference scenario: {reference_scenario.replace('_', ' ')}. " if reference_scenario else ". ")
        + f"Variances: between-participant (random intercept) and residual. {tables.STARS_NOTE}"
    ))


def responders_table(responders: pd.DataFrame, arms: Sequence[str], digits: int = 1) -> pd.DataFrame:
    """Reliable change per arm.

    Parameters
    ----------
    responders : pandas.DataFrame
        ``results/<cohort>/mixed/responders.csv``.
    arms : sequence of str
        Arms in display order.
    digits : int
        Decimal places of the percentages.

    Returns
    -------
    pandas.DataFrame
        Display strings: Arm, N, Improved, No reliable change, Worsened
        (``"9.0% (22)"``: share of N and count), Mean d (SD) and Left out
        (participants without every registered conversation).
    """
    tables.require_columns(responders, RESPONDER_COLUMNS, "responders")
    indexed = responders.set_index("arm")
    rows = []
    for arm in dict.fromkeys(arms):
        if arm not in indexed.index:
            raise ValueError(f"responders has no row for arm {arm!r}")
        row = indexed.loc[arm]
        cell = {
            "Arm": tables.arm_label(arm),
            "N": tables.format_count(row["n"]),
            "Improved": f"{_percent(row['share_improved'], digits)} ({tables.format_count(row['n_improved'])})",
            "No reliable change": f"{_percent(row['share_no_change'], digits)} ({tables.format_count(row['n_no_change'])})",
            "Worsened": f"{_percent(row['share_worsened'], digits)} ({tables.format_count(row['n_worsened'])})",
            "Mean d (SD)": f"{tables.format_number(row['mean_d'], 3)} ({tables.format_number(row['sd_d'], 3)})",
            "Left out": tables.format_count(row["n_excluded"]),
        }
        rows.append(cell)
    return pd.DataFrame(rows, dtype=object)


def mixed_tables_text(
    coefficients: pd.DataFrame,
    convergence: pd.DataFrame,
    responders: pd.DataFrame,
    reliability: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str,
    cohort: str,
    synthetic: bool,
    reference_scenario: str | None = None,
) -> dict[str, dict[str, str]]:
    """The LMM table and the responder table, each as CSV, LaTeX and Markdown text.

    Parameters
    ----------
    coefficients, convergence, responders, reliability : pandas.DataFrame
        The family's result tables at full precision (lmm_coefficients,
        convergence, responders, reliability).
    arms, reference_arm : sequence of str, str
        Registered arms (display order) and the reference arm.
    cohort : str
        Cohort name, shown in the captions.
    synthetic : bool
        Whether the cohort is simulated; captions then say SYNTHETIC.
    reference_scenario : str, optional
        The scenario absorbed in the intercept (from the spec record).

    Returns
    -------
    dict
        ``{"lmm_coefficients": {...}, "responders": {...}}``, each mapping
        ``csv``, ``tex`` and ``md`` to the rendered text.
    """
    tables.require_columns(reliability, RELIABILITY_TABLE_COLUMNS, "reliability")
    table = lmm_table(coefficients, convergence, arms, reference_arm, reference_scenario)
    n_obs = int(coefficients["n_obs"].max())
    lmm = tables.render_table(
        table,
        caption=f"Linear mixed models by outcome (REML; reference arm {reference_arm}; cohort {cohort}, N = {n_obs:,} conversations)",
        label=f"tab:lmm-{cohort}",
        synthetic=synthetic,
    )
    stats = reliability.iloc[0]
    responder = tables.render_table(
        responders_table(responders, arms),
        caption=(
            f"Reliable change of the composite by arm (cohort {cohort}; r1 = {tables.format_number(stats['r1'])}, "
            f"r2 = {tables.format_number(stats['r2'])}, SE_d = {tables.format_number(stats['se_d'])})"
        ),
        label=f"tab:responders-{cohort}",
        synthetic=synthetic,
        note=(
            "d = mean of the post-training conversations minus the baseline conversation; improved if "
            f"d > {tables.format_number(stats['critical_value'], 2)} SE_d = {tables.format_number(stats['threshold'], 2)}, "
            "worsened if d < minus that, otherwise no reliable change. Variance components from a random-intercept "
            f"model of the composite in the {stats['arm']} arm; r1 = sigma2_u / (sigma2_u + sigma2_e), "
            "r2 = sigma2_u / (sigma2_u + sigma2_e / 2), SE_d = sqrt(3/2 sigma2_e). Percentages of N (count); "
            "SD with ddof = 1. Left out: participants without every registered conversation."
        ),
    )
    return {"lmm_coefficients": lmm, "responders": responder}


def _sorted_by_change(participants: pd.DataFrame) -> pd.DataFrame:
    """Participants ordered by change, ties by baseline and ID (deterministic)."""
    return participants.sort_values(["d", "baseline", "participant_id"], kind="stable").reset_index(drop=True)


def plot_responders(
    participants: pd.DataFrame,
    responders: pd.DataFrame,
    threshold: float,
    arms: Sequence[str],
    synthetic: bool = False,
    title: str | None = None,
) -> Figure:
    """The responder figure: every participant's baseline and post score, sorted by change, per arm.

    Parameters
    ----------
    participants : pandas.DataFrame
        ``participant_change.csv`` (participant_id, arm, baseline, post_mean,
        d, classification).
    responders : pandas.DataFrame
        ``responders.csv`` (per-arm shares).
    threshold : float
        ``z * SE_d``, the change needed for a reliable change (in the legend).
    arms : sequence of str
        Arms, one panel each, in this order.
    synthetic : bool
        Whether the data are simulated; the suptitle then starts with
        ``"SYNTHETIC DATA"``.
    title : str, optional
        Extra title below the synthetic banner.

    Returns
    -------
    matplotlib.figure.Figure
        7.2 x 4.4 in. Top row: one panel per arm, participants along x
        sorted by their change d; a vertical segment joins each
        participant's baseline (open circle) and post mean (filled circle),
        coloured by classification. Bottom row: per arm a 100 % stacked bar
        of reliable decline, no reliable change and reliable improvement,
        with the decline and improvement shares written beside it. Panel
        strips carry the arm's colour.

    Raises
    ------
    ValueError
        When a required column is missing or an arm has no participants.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    tables.require_columns(participants, PARTICIPANT_COLUMNS, "participant_change")
    tables.require_columns(responders, RESPONDER_COLUMNS, "responders")
    arms = list(dict.fromkeys(arms))
    for arm in arms:
        if not (participants["arm"] == arm).any():
            raise ValueError(f"participant_change has no participants in arm {arm!r}")
    palette = arm_palette(arms)
    shares = responders.set_index("arm")
    scores = participants[["baseline", "post_mean"]].to_numpy(dtype=float)
    low, high = float(np.nanmin(scores)), float(np.nanmax(scores))
    pad = 0.05 * (high - low or 1.0)
    order = (WORSENED, NO_CHANGE, IMPROVED)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 4.4), layout="constrained")
        grid = fig.add_gridspec(2, len(arms), height_ratios=[6, 1])
        first = None
        for index, arm in enumerate(arms):
            ax = fig.add_subplot(grid[0, index], sharey=first)
            first = first or ax
            rows = _sorted_by_change(participants[participants["arm"] == arm])
            x = np.arange(1, len(rows) + 1)
            colours = rows["classification"].map(CLASSIFICATION_COLOURS).to_numpy()
            ax.vlines(x, rows["baseline"], rows["post_mean"], colors=colours, linewidth=0.6, zorder=2)
            ax.scatter(x, rows["baseline"], s=2.5, facecolors="white", edgecolors="#333333", linewidths=0.3, zorder=3)
            ax.scatter(x, rows["post_mean"], s=2.5, c=colours, edgecolors="none", zorder=4)
            ax.axhline(0.0, color="#DDDDDD", linewidth=0.5, zorder=0)
            ax.set_xlim(0, len(rows) + 1)
            ax.set_ylim(low - pad, high + pad)
            ax.set_xticks([1, len(rows)])
            ax.set_xlabel("Participants, by change")
            ax.set_title(
                f"{tables.arm_label(arm)} (n = {len(rows)})",
                bbox={"facecolor": palette[arm], "alpha": 0.45, "edgecolor": "none", "boxstyle": "square,pad=0.25"},
            )
            if index == 0:
                ax.set_ylabel("Overall empathy (composite)")
            else:
                ax.tick_params(axis="y", labelleft=False)

            bar = fig.add_subplot(grid[1, index])
            left = 0.0
            for classification in order:
                share = float(shares.loc[arm, SHARE_COLUMNS[classification]])
                share = 0.0 if np.isnan(share) else share
                bar.barh(0, share, left=left, height=0.6, color=CLASSIFICATION_COLOURS[classification], edgecolor="black", linewidth=0.3)
                left += share
            decline = shares.loc[arm, "share_worsened"]
            improvement = shares.loc[arm, "share_improved"]
            bar.text(0.0, 0.55, f"\u2193 {_percent(decline)}", ha="left", va="bottom", fontsize=7, color="#9A3B00")
            bar.text(1.0, 0.55, f"\u2191 {_percent(improvement)}", ha="right", va="bottom", fontsize=7, color="#1F6F99")
            bar.set_xlim(0, 1)
            bar.set_ylim(-0.45, 1.25)
            bar.set_yticks([])
            bar.set_xticks([0, 0.5, 1], ["0", "50%", "100%"])
            bar.spines["left"].set_visible(False)
        handles = [
            Line2D([], [], marker="o", linestyle="none", markerfacecolor="white", markeredgecolor="#333333", markersize=3.5, label="Baseline"),
            Line2D([], [], marker="o", linestyle="none", markerfacecolor="#666666", markeredgecolor="none", markersize=3.5, label="Post-training mean"),
        ]
        limit = tables.format_number(threshold, 2)
        labels = {IMPROVED: f"Improved (d > {limit})", NO_CHANGE: "No reliable change", WORSENED: f"Worsened (d < \u2212{limit})"}
        handles += [Line2D([], [], color=CLASSIFICATION_COLOURS[key], linewidth=3, label=labels[key]) for key in reversed(order)]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, handlelength=1.2, columnspacing=1.0)
        suptitle(fig, title, synthetic)
    return fig
