"""Publication figures of the primary analysis.

Figures are built on :class:`matplotlib.figure.Figure` objects (no pyplot
state) with the non-interactive Agg backend, sized for a journal page:

* :func:`plot_effects_sd`: each arm's change after training, per outcome, in
  SD units (double column, 7.2 x 3.6 in);
* :func:`plot_composite_by_conversation`: mean composite score by arm and
  conversation (single column, 3.5 x 3.2 in).

Arms keep one colour everywhere (:func:`analysis.render.style.arm_palette`, Okabe-Ito
colours) and figures are written by :func:`analysis.render.style.save_figure`.
With ``synthetic=True`` the figure's suptitle starts with
``"SYNTHETIC DATA"`` so that no one mistakes it for trial results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.constants import COMPOSITE
from analysis.render.style import OUTCOME_SHORT_LABELS, STYLE, arm_palette, suptitle
from analysis.render.tables import arm_label, ordered_outcomes, require_columns, significance_stars
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "EFFECT_COLUMNS", "CONVERSATION_COLUMNS", "plot_effects_sd", "conversation_means", "plot_composite_by_conversation",
]

stats = lazy_module("scipy.stats")

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EFFECT_COLUMNS: tuple[str, ...] = (
    "outcome",
    "arm",
    "estimate_sd",
    "ci_low_sd",
    "ci_high_sd",
    "p_value",
)
CONVERSATION_COLUMNS: tuple[str, ...] = ("arm", "conversation_number", COMPOSITE)


def _short_label(outcome: str) -> str:
    """Two-line axis label of an outcome."""
    if outcome in OUTCOME_SHORT_LABELS:
        return OUTCOME_SHORT_LABELS[outcome]
    return outcome.replace("_", "\n")


def _arms_present(frame: pd.DataFrame, arms: Sequence[str], name: str) -> list[str]:
    """``arms`` without repeats, after checking that ``frame`` (called ``name`` in the error) has rows for each."""
    arms = list(dict.fromkeys(arms))
    present_arms = set(frame["arm"])
    for arm in arms:
        if arm not in present_arms:
            raise ValueError(f"{name} has no rows for arm {arm!r}")
    return arms


def plot_effects_sd(
    effects_sd: pd.DataFrame,
    arms: Sequence[str],
    reference_arm: str = "control",
    synthetic: bool = False,
    title: str | None = None,
) -> Figure:
    """Grouped bar chart of each arm's post effect per outcome, in SD units.

    Parameters
    ----------
    effects_sd : pandas.DataFrame
        The ``effects_sd`` table: one row per outcome and arm with
        ``estimate_sd``, ``ci_low_sd``, ``ci_high_sd`` (SD units of the
        outcome) and ``p_value``. The reference arm's row is its ``post``
        effect, the others' their ``<arm>:post`` effect.
    arms : sequence of str
        Arms to draw, in legend and bar order (include the reference arm to
        show its change).
    reference_arm : str, default "control"
        The reference arm. Its bar is its own pre-post change (the ``post``
        term), labelled ``"<Arm>: change"`` in the legend; the other arms'
        bars are their difference-in-differences effects (``<arm>:post``,
        change beyond the reference arm's), labelled ``"<Arm>: DiD vs
        <reference>"``.
    synthetic : bool, default False
        Whether the data are simulated; if True the suptitle starts with
        ``"SYNTHETIC DATA"``.
    title : str, optional
        Extra title, shown as the suptitle (below the synthetic banner).

    Returns
    -------
    matplotlib.figure.Figure
        A 7.2 x 3.6 in figure with one axes: x = outcomes (order of
        ``constants.OUTCOMES``, only those present), one bar container per
        arm, 95% CI error bars, significance stars beyond the CI end
        (* p < .05, ** p < .01, *** p < .001) and a zero line.

    Raises
    ------
    ValueError
        If a required column is missing, ``arms`` is empty, an arm has no
        rows, or an ``(outcome, arm)`` pair is duplicated.
    """
    import matplotlib
    from matplotlib.figure import Figure

    require_columns(effects_sd, EFFECT_COLUMNS, "effects_sd")
    arms = _arms_present(effects_sd, arms, "effects_sd")
    if not arms:
        raise ValueError("arms must name at least one arm")
    data = effects_sd[effects_sd["arm"].isin(arms)]
    if data.duplicated(["outcome", "arm"]).any():
        raise ValueError("effects_sd has duplicated (outcome, arm) rows")

    outcomes = ordered_outcomes(list(data["outcome"]))
    indexed = data.set_index(["outcome", "arm"])
    palette = arm_palette(arms)
    positions = np.arange(len(outcomes), dtype=float)
    group_width = 0.8
    width = group_width / len(arms)

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 3.6), layout="constrained")
        ax = fig.subplots()
        ax.axhline(0.0, color="black", linewidth=0.6, zorder=1)
        for boundary in positions[:-1] + 0.5:
            ax.axvline(boundary, color="#DDDDDD", linewidth=0.5, zorder=0)

        star_positions: list[tuple[float, float, str, str]] = []
        for index, arm in enumerate(arms):
            rows = indexed.reindex([(outcome, arm) for outcome in outcomes])
            estimate = rows["estimate_sd"].to_numpy(dtype=float)
            low = rows["ci_low_sd"].to_numpy(dtype=float)
            high = rows["ci_high_sd"].to_numpy(dtype=float)
            offset = -group_width / 2 + width * (index + 0.5)
            x = positions + offset
            if arm == reference_arm:
                label = f"{arm_label(arm)}: change"
            else:
                label = f"{arm_label(arm)}: DiD vs {reference_arm}"
            ax.bar(
                x,
                estimate,
                width=width * 0.92,
                yerr=np.vstack([estimate - low, high - estimate]),
                color=palette[arm],
                edgecolor="black",
                linewidth=0.4,
                label=label,
                zorder=2,
                error_kw={"elinewidth": 0.7, "capsize": 1.5, "capthick": 0.7, "ecolor": "black"},
            )
            for xi, est, lo, hi, p in zip(x, estimate, low, high, rows["p_value"], strict=True):
                stars = significance_stars(p)
                if stars and not np.isnan(est):
                    if est >= 0:
                        end = hi if not np.isnan(hi) else est
                        star_positions.append((xi, end, stars, "bottom"))
                    else:
                        end = lo if not np.isnan(lo) else est
                        star_positions.append((xi, end, stars, "top"))

        lows = data["ci_low_sd"].to_numpy(dtype=float)
        highs = data["ci_high_sd"].to_numpy(dtype=float)
        finite = np.concatenate([lows[np.isfinite(lows)], highs[np.isfinite(highs)], [0.0]])
        span = float(finite.max() - finite.min()) or 1.0
        pad = 0.04 * span
        for xi, y, stars, va in star_positions:
            ax.text(
                xi,
                y + (pad * 0.3 if va == "bottom" else -pad * 0.3),
                stars,
                ha="center",
                va=va,
                fontsize=7,
            )
        ax.set_ylim(finite.min() - 3 * pad, finite.max() + 3 * pad)
        ax.set_xlim(-0.5, len(outcomes) - 0.5)
        ax.set_xticks(positions, [_short_label(outcome) for outcome in outcomes])
        ax.tick_params(axis="x", length=0)
        ax.set_ylabel("Change after training (SD units)")
        ax.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncol=len(arms),
            frameon=False,
            handlelength=1.2,
            columnspacing=1.2,
            borderaxespad=0.2,
        )
        suptitle(fig, title, synthetic)
    return fig


def conversation_means(conversation_scores: pd.DataFrame, arms: Sequence[str]) -> pd.DataFrame:
    """Mean composite score by arm and conversation with t-based 95% CIs.

    Parameters
    ----------
    conversation_scores : pandas.DataFrame
        One row per analysed conversation with ``arm``,
        ``conversation_number`` and ``overall_empathy``.
    arms : sequence of str
        Arms to summarise, in output order.

    Returns
    -------
    pandas.DataFrame
        Columns ``arm``, ``conversation_number``, ``n``, ``mean``, ``sd``,
        ``ci_low`` and ``ci_high`` (mean +- t(0.975, n - 1) * sd / sqrt(n);
        NaN when n < 2), sorted by arm (order of ``arms``) and conversation.

    Raises
    ------
    ValueError
        If a required column is missing or an arm has no conversations.
    """
    require_columns(conversation_scores, CONVERSATION_COLUMNS, "conversation_scores")
    arms = _arms_present(conversation_scores, arms, "conversation_scores")
    data = conversation_scores[conversation_scores["arm"].isin(arms)]
    data = data.dropna(subset=[COMPOSITE])
    summary = (
        data.groupby(["arm", "conversation_number"], sort=False)[COMPOSITE]
        .agg(n="count", mean="mean", sd="std")
        .reset_index()
    )
    n = summary["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        critical = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        half_width = critical * summary["sd"].to_numpy(dtype=float) / np.sqrt(n)
    summary["ci_low"] = summary["mean"] - half_width
    summary["ci_high"] = summary["mean"] + half_width
    rank = {arm: index for index, arm in enumerate(arms)}
    summary = summary.assign(_rank=summary["arm"].map(rank))
    summary = summary.sort_values(["_rank", "conversation_number"], kind="stable")
    return summary.drop(columns="_rank").reset_index(drop=True)


def plot_composite_by_conversation(
    conversation_scores: pd.DataFrame,
    arms: Sequence[str],
    synthetic: bool = False,
    title: str | None = None,
) -> Figure:
    """Mean composite score by arm across the three conversations.

    Parameters
    ----------
    conversation_scores : pandas.DataFrame
        One row per analysed conversation with ``arm``,
        ``conversation_number`` (1 = baseline, before training) and
        ``overall_empathy``.
    arms : sequence of str
        Arms to draw, in legend order.
    synthetic : bool, default False
        Whether the data are simulated; if True the suptitle starts with
        ``"SYNTHETIC DATA"``.
    title : str, optional
        Extra title, shown as the suptitle (below the synthetic banner).

    Returns
    -------
    matplotlib.figure.Figure
        A 3.5 x 3.2 in figure with one axes: one line with markers and 95%
        CI error bars (one ``ErrorbarContainer``) per arm, dodged slightly
        along x, x ticks ``"1 (baseline)"``, ``"2"``, ``"3"`` and a dotted
        line marking the training between conversations 1 and 2.

    Raises
    ------
    ValueError
        If a required column is missing or an arm has no conversations.
    """
    import matplotlib
    from matplotlib.figure import Figure

    arms = list(dict.fromkeys(arms))
    summary = conversation_means(conversation_scores, arms)
    palette = arm_palette(arms)
    numbers = sorted(int(number) for number in summary["conversation_number"].unique())
    dodge = 0.06
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(3.5, 3.2), layout="constrained")
        ax = fig.subplots()
        if 1 in numbers and 2 in numbers:
            ax.axvline(1.5, color="#777777", linewidth=0.6, linestyle=":", zorder=0)
            ax.text(
                1.5,
                1.0,
                "training",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=7,
                color="#555555",
            )
        for index, arm in enumerate(arms):
            rows = summary[summary["arm"] == arm]
            mean = rows["mean"].to_numpy(dtype=float)
            low = rows["ci_low"].to_numpy(dtype=float)
            high = rows["ci_high"].to_numpy(dtype=float)
            x = rows["conversation_number"].to_numpy(dtype=float)
            x = x + (index - (len(arms) - 1) / 2) * dodge
            ax.errorbar(
                x,
                mean,
                yerr=np.vstack([mean - low, high - mean]),
                color=palette[arm],
                marker="o",
                markersize=3.5,
                markeredgecolor="black",
                markeredgewidth=0.4,
                linewidth=1.2,
                elinewidth=0.8,
                capsize=2,
                label=arm_label(arm),
            )
        ax.set_xticks(numbers, [f"{n} (baseline)" if n == 1 else str(n) for n in numbers])
        ax.set_xlim(min(numbers) - 0.35, max(numbers) + 0.35)
        ax.set_xlabel("Conversation")
        ax.set_ylabel("Overall empathy (composite, mean)")
        ax.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, 1.07),
            ncol=len(arms) if len(arms) <= 4 else 3,
            frameon=False,
            handlelength=1.3,
            handletextpad=0.4,
            columnspacing=0.8,
            borderaxespad=0.2,
        )
        suptitle(fig, title, synthetic)
    return fig

