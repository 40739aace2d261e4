"""The agreement analysis for people: the kappa table, the expert-reliability table and the kappa heatmap.

* :func:`agreement_table`: kappa per dimension and rater pair, in the companion study's layout;
* :func:`expert_reliability_table`: ICC(2,1), ICC(2,k) and Krippendorff's alpha per dimension;
* :func:`agreement_tables_text`: both, rendered as CSV, LaTeX and Markdown by
  :func:`analysis.render.tables.render_table`;
* :func:`plot_agreement_heatmap`: kappa by dimension and rater pair.

The statistics are in :mod:`analysis.secondary.agreement`. Rounding happens here and only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.render.style import HEATMAP_STYLE, RATER_LABELS, suptitle
from analysis.render.tables import display_table, format_number, outcome_label, render_table, significance_stars

__all__ = [
    "rater_label", "pair_label", "agreement_table", "expert_reliability_table", "agreement_tables_text",
    "plot_agreement_heatmap",
]

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def rater_label(rater: str) -> str:
    """Display label of a rater (``gemini`` -> ``Gemini``; unknown labels are kept).

    Parameters
    ----------
    rater : str
        Rater name as coded in the agreement tables (``expert1``, ``experts``, ``crowd``, a judge).

    Returns
    -------
    str
        Its label in :data:`analysis.render.style.RATER_LABELS`, or ``rater`` unchanged when it has none.
    """
    return RATER_LABELS.get(rater, rater)


def pair_label(rater_a: str, rater_b: str) -> str:
    """Display label of a rater pair, as in the companion study's table (``Experts & Gemini``).

    Parameters
    ----------
    rater_a, rater_b : str
        The pair's two raters, in display order.

    Returns
    -------
    str
        ``"<label a> & <label b>"``, each label from :func:`rater_label`.
    """
    return f"{rater_label(rater_a)} & {rater_label(rater_b)}"


def _ordered_pairs(pairwise: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(pairwise["rater_a"], pairwise["rater_b"], strict=True)))


def agreement_table(pairwise: pd.DataFrame, weights: str = "quadratic", digits: int = 2) -> pd.DataFrame:
    """Kappa per dimension (rows) and rater pair (columns), as in the companion study's table.

    Cells read ``0.86***`` (stars from ``kappa_p``); ``attrs["note"]`` explains the statistic.

    Parameters
    ----------
    pairwise : pandas.DataFrame
        Pairwise agreement (:data:`analysis.secondary.agreement.PAIRWISE_COLUMNS`): one row per
        dimension and rater pair; uses ``dimension``, ``rater_a``, ``rater_b``, ``kappa``,
        ``kappa_p``, ``kappa_categories`` and ``kappa_z_variance``.
    weights : str, default "quadratic"
        Name of the kappa's disagreement weights, as the note states them (not recomputed here).
    digits : int, default 2
        Decimal places of kappa.

    Returns
    -------
    pandas.DataFrame
        Display strings: ``Dimension``, then one column per rater pair (:func:`pair_label`, in order
        of first appearance); ``n/a`` where kappa is undefined; ``attrs["note"]`` set.

    Raises
    ------
    AnalysisError
        When ``kappa_z_variance`` is missing or is not one single value (``under_null`` or
        ``estimate``) throughout.
    """
    pairs = _ordered_pairs(pairwise)
    dimensions = list(dict.fromkeys(pairwise["dimension"]))
    indexed = pairwise.set_index(["dimension", "rater_a", "rater_b"])
    columns = {"Dimension": [outcome_label(dimension) for dimension in dimensions]}
    for rater_a, rater_b in pairs:
        cells = []
        for dimension in dimensions:
            row = indexed.loc[(dimension, rater_a, rater_b)]
            text = format_number(row["kappa"], digits)
            cells.append(text + significance_stars(row["kappa_p"]) if text else "n/a")
        columns[pair_label(rater_a, rater_b)] = cells
    categories = set(pairwise["kappa_categories"])
    variances = set(pairwise["kappa_z_variance"]) if "kappa_z_variance" in pairwise else set()
    if variances == {"under_null"}:
        stars = ("Stars: two-sided normal test of kappa = 0, z = kappa / SE under kappa = 0 "
                 "(Fleiss, Cohen & Everitt 1969).")
    elif variances == {"estimate"}:
        stars = ("Stars: z = kappa / SE of the estimate, as the companion study reported; that SE shrinks as kappa "
                 "nears 1, so these stars overstate the evidence against kappa = 0.")
    else:
        raise AnalysisError(f"the kappa table needs one z variance throughout, found {sorted(variances) or 'none'}")
    return display_table(columns, note=(
        f"Cells: Cohen's kappa with {weights} disagreement weights between the two raters' scores of the same conversations; "
        f"weights built on the {'full 1-5 scale' if categories == {'full'} else 'categories observed in each pair'}. "
        f"Experts: the median of the three experts. {stars} * p < .05, ** p < .01, *** p < .001. n/a: kappa undefined."
    ))


def expert_reliability_table(experts: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """ICC(2,1), ICC(2,k) with 95% CIs and Krippendorff's alpha per dimension, for display.

    Parameters
    ----------
    experts : pandas.DataFrame
        Expert reliability (:data:`analysis.secondary.agreement.EXPERT_COLUMNS`): one row per
        dimension; uses ``dimension``, ``n_conversations``, ``icc2_1``, ``icc2_1_ci_low``,
        ``icc2_1_ci_high``, ``icc2_k``, ``icc2_k_ci_low``, ``icc2_k_ci_high`` and
        ``krippendorff_alpha_ordinal``.
    digits : int, default 2
        Decimal places of the ICCs, their bounds and alpha.

    Returns
    -------
    pandas.DataFrame
        Display strings, one row per dimension in input order: ``Dimension``, ``Conversations``,
        ``ICC(2,1) [95% CI]``, ``ICC(2,k) [95% CI]`` (``value [low, high]``) and
        ``Krippendorff's alpha (ordinal)``; ``n/a`` where a value is missing; ``attrs["note"]`` set.
    """
    def interval(value, low, high):
        text = format_number(value, digits)
        return f"{text} [{format_number(low, digits)}, {format_number(high, digits)}]" if text else "n/a"

    return display_table(
        {
            "Dimension": [outcome_label(dimension) for dimension in experts["dimension"]],
            "Conversations": experts["n_conversations"].astype(int).astype(str).to_numpy(),
            "ICC(2,1) [95% CI]": [interval(*values) for values in experts[["icc2_1", "icc2_1_ci_low", "icc2_1_ci_high"]].to_numpy()],
            "ICC(2,k) [95% CI]": [interval(*values) for values in experts[["icc2_k", "icc2_k_ci_low", "icc2_k_ci_high"]].to_numpy()],
            "Krippendorff's alpha (ordinal)": [format_number(value, digits) or "n/a" for value in experts["krippendorff_alpha_ordinal"]],
        },
        note=(
            "ICC(2,1): two-way random effects, absolute agreement, single expert; ICC(2,k): the mean of the experts "
            "(McGraw & Wong 1996; pingouin). Krippendorff's alpha for ordinal data over all expert ratings."
        ),
    )


def agreement_tables_text(pairwise: pd.DataFrame, experts: pd.DataFrame, cohort: str, synthetic: bool,
                          weights: str = "quadratic") -> dict[str, dict[str, str]]:
    """The kappa table and the expert-reliability table, each as CSV, LaTeX and Markdown text.

    Parameters
    ----------
    pairwise : pandas.DataFrame
        Pairwise agreement, as :func:`agreement_table` takes it; its largest ``n`` is the caption's
        number of conversations (0 when empty).
    experts : pandas.DataFrame
        Expert reliability, as :func:`expert_reliability_table` takes it.
    cohort : str
        Cohort name, used in the captions and the labels ``tab:agreement-<cohort>`` and
        ``tab:expert-reliability-<cohort>``.
    synthetic : bool
        Whether the data are simulated (the captions then say so; see
        :func:`analysis.render.tables.render_table`).
    weights : str, default "quadratic"
        Name of the kappa's disagreement weights, for the caption and the note.

    Returns
    -------
    dict of str to dict of str to str
        ``"agreement"`` and ``"expert_reliability"``, each the ``csv``, ``tex`` and ``md`` text of
        :func:`analysis.render.tables.render_table`; both tables rounded to 2 decimals.
    """
    n = int(pairwise["n"].max()) if len(pairwise) else 0
    return {
        "agreement": render_table(
            agreement_table(pairwise, weights),
            caption=f"Agreement between raters per dimension: {weights}-weighted Cohen's kappa (cohort {cohort}, up to {n} conversations)",
            label=f"tab:agreement-{cohort}",
            synthetic=synthetic,
        ),
        "expert_reliability": render_table(
            expert_reliability_table(experts),
            caption=f"Agreement among the experts per dimension (cohort {cohort})",
            label=f"tab:expert-reliability-{cohort}",
            synthetic=synthetic,
        ),
    }


def plot_agreement_heatmap(pairwise: pd.DataFrame, synthetic: bool = False, weights: str = "quadratic") -> Figure:
    """Heatmap of kappa by dimension (rows) and rater pair (columns), each cell labelled.

    The colour scale runs from min(0, smallest kappa) to 1; undefined kappas are grey and read
    ``n/a``. The title says which category set the weights used.

    Parameters
    ----------
    pairwise : pandas.DataFrame
        Pairwise agreement, as :func:`agreement_table` takes it; uses ``dimension``, ``rater_a``,
        ``rater_b``, ``kappa`` and ``kappa_categories``.
    synthetic : bool, default False
        Whether the data are simulated: the title then goes in a suptitle led by the synthetic-data
        banner (:func:`analysis.render.style.suptitle`) instead of the axes title.
    weights : str, default "quadratic"
        Name of the kappa's disagreement weights, for the colour bar's label.

    Returns
    -------
    matplotlib.figure.Figure
        One axes (rows: dimensions, columns: rater pairs, both in order of first appearance) and its
        colour bar.
    """
    import matplotlib
    from matplotlib.figure import Figure

    pairs = _ordered_pairs(pairwise)
    dimensions = list(dict.fromkeys(pairwise["dimension"]))
    matrix = (
        pairwise.set_index(["dimension", "rater_a", "rater_b"])["kappa"]
        .reindex(pd.MultiIndex.from_tuples([(d, a, b) for d in dimensions for a, b in pairs]))
        .to_numpy(dtype=float)
        .reshape(len(dimensions), len(pairs))
    )
    low = min(0.0, float(np.nanmin(matrix))) if np.isfinite(matrix).any() else 0.0
    categories = "full 1-5 scale" if set(pairwise["kappa_categories"]) == {"full"} else "observed categories"
    with matplotlib.rc_context(HEATMAP_STYLE):
        fig = Figure(figsize=(7.2, 0.4 * len(dimensions) + 2.4), layout="constrained")
        ax = fig.subplots()
        colormap = matplotlib.colormaps["viridis"].with_extremes(bad="#DDDDDD")
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=colormap, vmin=low, vmax=1.0, aspect="auto")
        for (row, column), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                shade = (value - low) / (1.0 - low) if 1.0 > low else 0.0
                ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color="black" if shade > 0.55 else "white")
            else:
                ax.text(column, row, "n/a", ha="center", va="center", fontsize=7, color="#555555")
        ax.set_xticks(np.arange(len(pairs)), [pair_label(a, b) for a, b in pairs], rotation=35, ha="right", rotation_mode="anchor")
        ax.set_yticks(np.arange(len(dimensions)), [outcome_label(dimension) for dimension in dimensions])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        colorbar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01)
        colorbar.set_label(f"Cohen's kappa ({weights} weights)")
        title = f"Agreement by dimension and rater pair (weights on the {categories})"
        if synthetic:
            suptitle(fig, title, synthetic)
        else:
            ax.set_title(title)
    return fig
