"""The estimator comparison for people: each arm's effect from every estimator, side by side.

:func:`plot_estimator_comparison` draws the table of
:func:`analysis.models.estimator_comparison.compare_estimators`, one panel per outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.models.estimator_comparison import COMPARISON_COLUMNS, ESTIMATORS
from analysis.render.style import ESTIMATOR_COLOURS, ESTIMATOR_MARKERS, STYLE, suptitle
from analysis.render.tables import arm_label, ordered_outcomes, outcome_label, require_columns

__all__ = ["plot_estimator_comparison"]

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_estimator_comparison(comparison: pd.DataFrame, arms: Sequence[str], synthetic: bool = False) -> Figure:
    """One panel per outcome: each arm's effect in SD units from each estimator, with intervals.

    Parameters
    ----------
    comparison : pandas.DataFrame
        From :func:`analysis.models.estimator_comparison.compare_estimators`.
    arms : sequence of str
        Arms, top to bottom.
    synthetic : bool
        Whether the cohort is simulated (the suptitle then starts with ``SYNTHETIC DATA``).

    Returns
    -------
    matplotlib.figure.Figure
        7.2 in wide; estimators distinguished by colour and marker, a shared legend below, a zero line.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    require_columns(comparison, COMPARISON_COLUMNS, "estimator_comparison")
    outcomes = ordered_outcomes(comparison["outcome"])
    estimators = [name for name in ESTIMATORS if name in set(comparison["estimator"])]
    n_columns = 4
    n_rows = int(np.ceil(len(outcomes) / n_columns))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 2.9 * n_rows + 0.8))
        axes = fig.subplots(n_rows, n_columns, squeeze=False)
        indexed = comparison.set_index(["outcome", "arm", "estimator"])
        offsets = np.linspace(-0.27, 0.27, max(len(estimators), 1))
        low = float(np.nanmin(comparison["ci_low_sd"]))
        high = float(np.nanmax(comparison["ci_high_sd"]))
        margin = 0.05 * (high - low if high > low else 1.0)
        for position, outcome in enumerate(outcomes):
            axis = axes.flat[position]
            axis.axvline(0.0, color="#777777", linewidth=0.6, zorder=0)
            for row, arm in enumerate(arms):
                for offset, estimator in zip(offsets, estimators):
                    if (outcome, arm, estimator) not in indexed.index:
                        continue
                    values = indexed.loc[(outcome, arm, estimator)]
                    y = row + offset
                    axis.plot([values["ci_low_sd"], values["ci_high_sd"]], [y, y], color=ESTIMATOR_COLOURS[estimator], linewidth=1.0)
                    axis.plot(values["estimate_sd"], y, marker=ESTIMATOR_MARKERS[estimator], color=ESTIMATOR_COLOURS[estimator],
                              markersize=3.5, linestyle="none")
            axis.set_yticks(range(len(arms)))
            axis.set_yticklabels([arm_label(arm) for arm in arms] if position % n_columns == 0 else [])
            axis.set_ylim(len(arms) - 0.5, -0.5)
            axis.set_xlim(low - margin, high + margin)
            axis.set_title(outcome_label(outcome))
            axis.set_xlabel("Effect (SD units)")
        for axis in axes.flat[len(outcomes):]:
            axis.set_axis_off()
        handles = [
            Line2D([0], [0], color=ESTIMATOR_COLOURS[name], marker=ESTIMATOR_MARKERS[name], markersize=4, linewidth=1.0, label=ESTIMATORS[name])
            for name in estimators
        ]
        fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
        suptitle(fig, "Training effect by estimator (reference arm: own change; others: DiD)", synthetic)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
