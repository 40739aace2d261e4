"""Tests of the planning family's figure and its report block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.planning.power import POWER_COLUMNS, SAMPLE_SIZE_COLUMNS
from analysis.render.power import plot_power_curves
from analysis.report import planning_block


def power_rows():
    rows = []
    for scenario in ("estimated", "sesoi:H1", "sesoi:H3"):
        for name in ("H1", "H3"):
            if scenario.startswith("sesoi") and not scenario.endswith(name):
                continue
            for n, p in ((50, 0.3), (100, 0.6), (200, 0.9)):
                rows.append({"kind": "hypothesis", "name": name, "outcome": "x", "scenario": scenario, "effect_sd": 0.2,
                             "n_per_arm": n, "n_participants": 4 * n, "allocation": "1:1:1:1", "post_conversations": 2,
                             "attrition": 0.0, "judges": 1, "decision": "all; holm; two-sided", "n_sims": 100,
                             "rejections": int(p * 100), "power": p, "mc_se": np.sqrt(p * (1 - p) / 100)})
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def test_power_curve_figure_has_bands_and_the_target_line():
    figure = plot_power_curves(power_rows(), target_power=0.8, synthetic=True)
    axes = figure.axes
    assert len(axes) == 2
    for ax in axes:
        assert any(np.allclose(line.get_ydata(), 0.8) for line in ax.get_lines())   # the 80% line
        assert len(ax.collections) >= 1                                              # Monte Carlo bands
    assert [line.get_label() for line in axes[0].get_lines() if line.get_label() in ("H1", "H3")] == ["H1", "H3"]
    assert figure._suptitle.get_text().startswith("SYNTHETIC DATA")


def test_power_curve_figure_rejects_a_table_without_hypotheses():
    with pytest.raises(ValueError, match="no hypothesis rows"):
        plot_power_curves(power_rows().assign(kind="term"))


def test_planning_block_rounds_up_and_shows_grid_bounds():
    table = pd.DataFrame([
        ("hypothesis", "H1", "x", "estimated", 0.8, 161.2, 7.4, 100, 200, "interpolated"),
        ("hypothesis", "H1", "x", "estimated", 0.9, np.nan, np.nan, 600, np.nan, "above_grid"),
        ("hypothesis", "H3", "x", "estimated", 0.8, np.nan, np.nan, np.nan, 50, "below_grid"),
        ("hypothesis", "H3", "x", "estimated", 0.9, np.nan, np.nan, np.nan, 50, "below_grid"),
        ("term", "coach:post", "x", "estimated", 0.8, 20.0, 1.0, 10, 50, "interpolated"),
    ], columns=SAMPLE_SIZE_COLUMNS)
    block = planning_block(table)
    assert block["columns"] == ["Hypothesis", "Effects", "80% power", "90% power"]
    assert block["rows"] == [["H1", "estimated in this cohort", "162 (7)", "> 600"],
                             ["H3", "estimated in this cohort", "\u2264 50", "\u2264 50"]]
