"""Silent empathy for people: the correlation and high-rating-gap tables and the two figures.

* :func:`silent_empathy_tables`: trait and self-rating correlations with judged empathy, and the
  gap between rating oneself highly and being judged highly, rendered as CSV, LaTeX and Markdown by
  :func:`analysis.render.tables.render_table`;
* :func:`plot_trait_panel`: trait score against the participant's mean composite;
* :func:`plot_self_vs_judged`: the distribution of each self-rating beside the judged score.

The statistics are in :mod:`analysis.secondary.silent_empathy`. Rounding happens here and only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.constants import SCORE_MAX, SCORE_MIN
from analysis.render.style import SELF_RATING_LABELS, STYLE, TRAIT_LABELS, suptitle
from analysis.render.tables import display_table, format_count, format_number, format_p_value, outcome_label, render_table
from analysis.secondary.silent_empathy import LEVELS

__all__ = [
    "MIN_LEVEL_N_FOR_CI", "PAIRED_TEST_NOTES", "silent_empathy_tables", "p_text", "plot_trait_panel",
    "plot_self_vs_judged",
]

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# trait levels with fewer participants are drawn as open circles without a CI (figure only)
MIN_LEVEL_N_FOR_CI = 5


def _levels_text(levels: Sequence[int]) -> str:
    levels = sorted(int(level) for level in levels)
    contiguous = levels == list(range(levels[0], levels[-1] + 1))
    return f"{levels[0]}-{levels[-1]}" if contiguous and len(levels) > 1 else ", ".join(map(str, levels))


PAIRED_TEST_NOTES = {"mcnemar": "McNemar, exact binomial p", "paired_ttest": "paired t-test of the 0/1 indicators"}


def silent_empathy_tables(
    trait_correlations: pd.DataFrame, self_judged: pd.DataFrame, gap: pd.DataFrame, *, high_levels: Sequence[int],
    paired_test: str, cohort: str, synthetic: bool,
) -> dict[str, dict[str, str]]:
    """The display tables: correlations (trait and self versus judged) and the high-rating gap.

    Parameters
    ----------
    trait_correlations, self_judged, gap : pandas.DataFrame
        The silent-empathy analysis' tables (:mod:`analysis.secondary.silent_empathy`).
    high_levels : sequence of int
        The registered levels counted as a high rating, for the note.
    paired_test : {"mcnemar", "paired_ttest"}
        The registered paired test of the two shares, for the note.
    cohort : str
        Cohort name, for captions and labels.
    synthetic : bool
        Whether the data are simulated (marks every rendered table).

    Returns
    -------
    dict
        ``{"silent_empathy_correlations": {...}, "silent_empathy_gap": {...}}``, each mapping
        ``csv``, ``tex`` and ``md`` to text (see :func:`analysis.render.tables.render_table`).
    """
    rows = []
    for row in trait_correlations.itertuples():
        rows.append({"Measure": TRAIT_LABELS.get(row.trait, row.trait), "Compared with": "Mean composite (participant)",
                     "Conversations": "", "N": format_count(row.n), "r": format_number(row.r), "R2": format_number(row.r2, 4),
                     "p": format_p_value(row.p_value), "Clustered 95% CI": "", "Left out": format_count(row.n_left_out)})
    for row in self_judged.itertuples():
        rows.append({"Measure": SELF_RATING_LABELS.get(row.self_rating, row.self_rating), "Compared with": outcome_label(row.judged),
                     "Conversations": row.subset, "N": format_count(row.n), "r": format_number(row.r), "R2": format_number(row.r2, 4),
                     "p": format_p_value(row.p_value),
                     "Clustered 95% CI": f"[{format_number(row.cluster_ci_low)}, {format_number(row.cluster_ci_high)}]",
                     "Left out": format_count(row.n_left_out)})
    correlations = display_table(rows, note=(
        "Pearson correlations. Traits: per participant, against the mean composite over their analysed conversations. "
        "Self-ratings: per conversation, against the judged score of that conversation (all analysed conversations, "
        "or the first only). p treats conversations as independent (as published); clustered 95% CI: percentile "
        "interval of a bootstrap resampling participants (their conversations together). Left out: participants or "
        "conversations missing the trait items or the self-rating (listed in silent_empathy/left_out.csv)."
    ))
    gap_rows = []
    for row in gap.itertuples():
        gap_rows.append({"Self-rating": SELF_RATING_LABELS.get(row.self_rating, row.self_rating), "Judged": outcome_label(row.judged),
                         "Conversations": row.subset, "N": format_count(row.n), "Self high (%)": format_number(100 * row.share_self_high, 1),
                         "Judged high (%)": format_number(100 * row.share_judged_high, 1),
                         "Difference (points)": format_number(100 * row.difference, 1), "p": format_p_value(row.p_value),
                         "Clustered p": format_p_value(row.clustered_p_value)})
    gap_table = display_table(gap_rows, note=(
        f"High: levels {_levels_text(high_levels)} on the 1-5 scale (4-5: 'quite a bit' or 'very much'); judged "
        "dimensions rounded half up, the composite mapped linearly from its range onto 1-5 and rounded. p: paired test of "
        f"the two shares ({PAIRED_TEST_NOTES[paired_test]}; conversations treated as independent, as published). "
        "Clustered p: Obuchowski's (1998) clustered McNemar test, a participant's conversations as one cluster."
    ))
    return {
        "silent_empathy_correlations": render_table(
            correlations, caption=f"Silent empathy: trait empathy and self-ratings against judged empathy (cohort {cohort})",
            label=f"tab:silent-empathy-{cohort}", synthetic=synthetic,
        ),
        "silent_empathy_gap": render_table(
            gap_table, caption=f"Rating oneself highly versus being judged highly (cohort {cohort})",
            label=f"tab:silent-empathy-gap-{cohort}", synthetic=synthetic,
        ),
    }


def p_text(p_value: float) -> str:
    """``"p = 0.032"`` or ``"p < 0.001"`` for figure annotations.

    Parameters
    ----------
    p_value : float
        p-value at full precision.

    Returns
    -------
    str
        ``"p = "`` followed by :func:`analysis.render.tables.format_p_value` (3 decimals), or
        ``"p < 0.001"`` below that; ``"p = "`` alone when the p-value is missing.
    """
    text = format_p_value(p_value)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def plot_trait_panel(
    participants: pd.DataFrame, correlations: pd.DataFrame, levels: pd.DataFrame, outcome: str, synthetic: bool = False
) -> Figure:
    """Trait score (x) against the participant's mean composite (y), one panel per trait.

    Jittered points (one per participant), the mean and its 95% CI per trait level (levels with
    fewer than :data:`MIN_LEVEL_N_FOR_CI` participants: an open circle, no CI), and R2, r, p and N
    in the upper-left corner.

    Parameters
    ----------
    participants : pandas.DataFrame
        One row per participant: a score column named after each trait and ``<outcome>_mean``;
        participants missing a trait are left out of its panel.
    correlations : pandas.DataFrame
        Trait correlations (:data:`analysis.secondary.silent_empathy.TRAIT_CORRELATION_COLUMNS`):
        one panel per row, in order; uses ``trait``, ``items`` (``+``-joined, their number sets the
        x range), ``r``, ``r2``, ``p_value`` and ``n``.
    levels : pandas.DataFrame
        Means per trait level (:data:`analysis.secondary.silent_empathy.TRAIT_LEVEL_COLUMNS`):
        ``trait``, ``level``, ``n``, ``mean``, ``ci_low`` and ``ci_high``.
    outcome : str
        The judged outcome whose participant mean is on the y axis.
    synthetic : bool, default False
        Whether the data are simulated (the suptitle then starts with the synthetic-data banner).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trait, sharing the y axis; the jitter is seeded (0), so the figure is
        reproducible.
    """
    import matplotlib
    from matplotlib.figure import Figure

    traits = list(correlations["trait"])
    mean_column = f"{outcome}_mean"
    rng = np.random.default_rng(0)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 3.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(traits), sharey=True))
        for ax, trait in zip(axes, traits, strict=True):
            data = participants.dropna(subset=[trait])
            x = data[trait].to_numpy(dtype=float)
            spread = 0.3 if np.ptp(x) <= 6 else 0.35
            ax.scatter(x + rng.uniform(-spread, spread, len(x)), data[mean_column], s=4, alpha=0.25, color="#56B4E9",
                       edgecolors="none", rasterized=True, zorder=1)
            level = levels[levels["trait"] == trait]
            shown = level[level["n"] >= MIN_LEVEL_N_FOR_CI]
            sparse = level[level["n"] < MIN_LEVEL_N_FOR_CI]
            ax.errorbar(shown["level"], shown["mean"], yerr=np.vstack([shown["mean"] - shown["ci_low"], shown["ci_high"] - shown["mean"]]),
                        fmt="o", color="black", markersize=3, elinewidth=0.8, capsize=1.5, zorder=3, label="Mean, 95% CI")
            ax.scatter(sparse["level"], sparse["mean"], s=9, facecolors="white", edgecolors="black", linewidths=0.7, zorder=3,
                       label=f"Mean (n < {MIN_LEVEL_N_FOR_CI})")
            row = correlations.set_index("trait").loc[trait]
            ax.text(0.03, 0.97, f"$R^2$ = {format_number(row['r2'], 3)}\nr = {format_number(row['r'], 3)}, "
                    f"{p_text(row['p_value'])}\nN = {format_count(row['n'])}",
                    transform=ax.transAxes, ha="left", va="top", fontsize=7,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#BBBBBB", "linewidth": 0.5})
            ax.set_xlabel(TRAIT_LABELS.get(trait, trait))
            n_items = len(str(row["items"]).split("+"))
            low, high = int(n_items * SCORE_MIN), int(n_items * SCORE_MAX)
            ax.set_xticks(np.arange(low, high + 1, 1 if n_items == 1 else 4))
            ax.set_xlim(low - 0.8, high + 0.8)
        axes[0].set_ylabel(f"{outcome_label(outcome)} (participant mean)")
        axes[-1].legend(loc="upper right", frameon=False)
        suptitle(fig, "Trait empathy and judged empathic communication", synthetic)
    return fig


def plot_self_vs_judged(
    distributions: pd.DataFrame, gap: pd.DataFrame, high_levels: Sequence[int] = (4, 5), synthetic: bool = False
) -> Figure:
    """Shares of each level (1-5) of the self-rating beside the matching judged score.

    One column per registered pair and one row per subset; the share rated high by self and
    by the judge is printed in each panel.

    Parameters
    ----------
    distributions : pandas.DataFrame
        Level shares (:data:`analysis.secondary.silent_empathy.DISTRIBUTION_COLUMNS`): ``subset``,
        ``self_rating``, ``judged``, ``source`` (``"self"`` or ``"judged"``), ``level`` and
        ``share`` (a proportion, drawn as a percentage).
    gap : pandas.DataFrame
        High-rating gap (:data:`analysis.secondary.silent_empathy.GAP_COLUMNS`): per ``subset`` and
        ``self_rating``, ``share_self_high``, ``share_judged_high`` and ``n`` for the annotation.
    high_levels : sequence of int, default (4, 5)
        The levels counted as high, named in the annotation (the shares come from ``gap``).
    synthetic : bool, default False
        Whether the data are simulated (the suptitle then starts with the synthetic-data banner).

    Returns
    -------
    matplotlib.figure.Figure
        A grid of bar panels (rows: subsets, columns: self-rating and judged pairs, both in order of
        first appearance) sharing the y axis, with one legend below.
    """
    import matplotlib
    from matplotlib.figure import Figure

    subsets = list(dict.fromkeys(distributions["subset"]))
    pairs = list(dict.fromkeys(zip(distributions["self_rating"], distributions["judged"], strict=True)))
    colours = {"self": "#E69F00", "judged": "#0072B2"}
    width = 0.38
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 1.2 + 2.1 * len(subsets)), layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(subsets), len(pairs), sharey=True, squeeze=False))
        for i, subset in enumerate(subsets):
            for j, (rating, judged) in enumerate(pairs):
                ax = axes[i, j]
                part = distributions[(distributions["subset"] == subset) & (distributions["self_rating"] == rating)]
                for k, source in enumerate(("self", "judged")):
                    rows = part[part["source"] == source]
                    label = "Self-rating" if source == "self" else "Judged score"
                    ax.bar(rows["level"] + (k - 0.5) * width, 100 * rows["share"], width=width * 0.95, color=colours[source],
                           edgecolor="black", linewidth=0.3, label=label)
                row = gap[(gap["subset"] == subset) & (gap["self_rating"] == rating)].iloc[0]
                ax.text(0.03, 0.97, f"rated {_levels_text(high_levels)}: self {format_number(100 * row['share_self_high'], 1)}%\n"
                        f"judged {format_number(100 * row['share_judged_high'], 1)}% (N = {format_count(row['n'])})",
                        transform=ax.transAxes, ha="left", va="top", fontsize=6.5)
                ax.set_xticks(list(LEVELS))
                if i == 0:
                    ax.set_title(f"{SELF_RATING_LABELS.get(rating, rating)}\nvs {outcome_label(judged).lower()} (judged)", fontsize=7.5)
                if i == len(subsets) - 1:
                    ax.set_xlabel("Level (1 = not at all, 5 = very much)")
                if j == 0:
                    ax.set_ylabel(f"{'All conversations' if subset == 'all' else 'First conversation'}\nshare (%)")
        top = float(100 * distributions["share"].max()) if distributions["share"].notna().any() else 100.0
        axes[0, 0].set_ylim(0, top * 1.3 + 2)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
        suptitle(fig, "Self-ratings versus judged scores", synthetic)
    return fig
