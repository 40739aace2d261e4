"""The power-curve figure of the planning family (:mod:`analysis.planning.power`).

matplotlib is imported inside the plotting function only, so the planning statistics can be imported
without a plotting stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.planning.power import POWER_COLUMNS
from analysis.render.style import OKABE_ITO, suptitle
from analysis.render.tables import require_columns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_power_curves"]


def plot_power_curves(power: pd.DataFrame, *, target_power: float = 0.8, band_z: float = 1.96, synthetic: bool = False) -> Figure:
    """Power of every registered hypothesis against participants per arm.

    One panel per scenario (the cohort's estimated effects; each hypothesis at the smallest effect
    of interest), one line per hypothesis, a band of +-``band_z`` Monte Carlo SEs around each curve
    and a dashed line at ``target_power``.

    Parameters
    ----------
    power : pandas.DataFrame
        ``power.csv`` (:data:`analysis.planning.power.POWER_COLUMNS`).
    target_power : float
        Where the horizontal reference line is drawn.
    band_z : float
        Half-width of the Monte Carlo band in SEs.
    synthetic : bool
        Whether the cohort is simulated (the title then starts with SYNTHETIC DATA).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    require_columns(power, POWER_COLUMNS, "power")
    hypotheses = power[power["kind"] == "hypothesis"]
    if hypotheses.empty:
        raise ValueError("power has no hypothesis rows to plot")
    ids = list(dict.fromkeys(hypotheses["name"]))
    colours = dict(zip(ids, (OKABE_ITO * 3)[: len(ids)]))
    panels = [("estimated", "Effects estimated in the cohort")]
    if (hypotheses["scenario"] != "estimated").any():
        panels.append(("sesoi", "Each hypothesis at the smallest effect of interest"))
    fig = Figure(figsize=(3.6 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (key, title) in zip(axes, panels):
        rows = hypotheses[hypotheses["scenario"] == "estimated"] if key == "estimated" else hypotheses[
            hypotheses["scenario"] == "sesoi:" + hypotheses["name"]]
        for name in ids:
            curve = rows[rows["name"] == name].sort_values("n_per_arm")
            if curve.empty:
                continue
            x, p, se = (curve[c].to_numpy(dtype=float) for c in ("n_per_arm", "power", "mc_se"))
            ax.fill_between(x, np.clip(p - band_z * se, 0, 1), np.clip(p + band_z * se, 0, 1), color=colours[name], alpha=0.25, lw=0)
            ax.plot(x, p, marker="o", ms=2.5, lw=1.2, color=colours[name], label=name)
        ax.axhline(target_power, color="0.3", ls="--", lw=0.8)
        ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("Participants per arm", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.5)
    axes[0].set_ylabel(f"Power (band: \u00b1{band_z:g} Monte Carlo SE)", fontsize=8)
    axes[-1].legend(fontsize=7, frameon=False, loc="lower right")
    suptitle(fig, None, synthetic)
    return fig
