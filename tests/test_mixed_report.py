"""Tables and the responder figure of the mixed-model family."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from analysis.models.mixed import mixed_analysis
from analysis.models.reliable_change import IMPROVED
from analysis.render.mixed import CLASSIFICATION_COLOURS, lmm_table, mixed_tables_text, plot_responders, responders_table
from analysis.render.tables import SYNTHETIC_PREFIX
from tests.test_mixed import ARMS, mixed_plan, small_cohort_outcomes
from tests.test_reliable_change import analyse


@pytest.fixture(scope="module")
def lmm():
    return mixed_analysis(small_cohort_outcomes(), ["advice_giving", "overall_empathy"], ARMS, "control", mixed_plan()["optimizers"])


@pytest.fixture(scope="module")
def change():
    return analyse(small_cohort_outcomes())


def test_lmm_table_layout_and_cells(lmm):
    table = lmm_table(lmm.coefficients, lmm.convergence, ARMS, "control", reference_scenario="job_loss")
    assert list(table.columns) == ["Term", "Advice giving", "Overall empathy"]
    assert table["Term"].tolist() == [
        "Intercept", "Video", "Coach", "Combined", "Post", "Video x post", "Coach x post", "Combined x post",
        "Scenario: loss dad", "Scenario: mom unwell", "Scenario: promotion", "Scenario: undervalued",
        "Participant variance", "Residual variance", "REML log-likelihood", "Optimizer", "N (conversations)", "Participants",
    ]
    rows = lmm.coefficients.query("outcome == 'overall_empathy'").set_index("term")
    cell = table.set_index("Term").loc["Combined x post", "Overall empathy"]
    estimate, std_error, p_value = rows.loc["combined:post", ["estimate", "std_error", "p_value"]]
    stars = "***" if p_value < 0.001 else "**" if p_value < 0.01 else "*" if p_value < 0.05 else ""
    assert cell == f"{estimate:.3f}{stars} ({std_error:.3f})"
    assert table.set_index("Term").loc["Participant variance", "Overall empathy"] == f"{rows.loc['var(participant)', 'estimate']:.3f}"
    assert table.set_index("Term").loc["Participants", "Advice giving"] == "120"
    assert "reference scenario: job loss" in table.attrs["note"]


def test_responders_table_cells(change):
    table = responders_table(change.responders, ARMS).set_index("Arm")
    row = change.responders.set_index("arm").loc["combined"]
    assert table.loc["Combined", "Improved"] == f"{100 * row['share_improved']:.1f}% ({int(row['n_improved'])})"
    assert table.loc["Coach", "Left out"] == "2"
    assert table.loc["Control", "Mean d (SD)"] == f"{change.responders.set_index('arm').loc['control', 'mean_d']:.3f} ({change.responders.set_index('arm').loc['control', 'sd_d']:.3f})"
    with pytest.raises(ValueError, match="no row for arm 'placebo'"):
        responders_table(change.responders, ["placebo"])


def test_rendered_tables_are_labelled_synthetic_only_when_simulated(lmm, change):
    synthetic = mixed_tables_text(lmm.coefficients, lmm.convergence, change.responders, change.reliability, ARMS, "control", "small", True)
    real = mixed_tables_text(lmm.coefficients, lmm.convergence, change.responders, change.reliability, ARMS, "control", "small", False)
    for name in ("lmm_coefficients", "responders"):
        for extension in ("csv", "tex", "md"):
            assert "SYNTHETIC DATA" in synthetic[name][extension]
            assert "SYNTHETIC" not in real[name][extension]
    assert real["responders"]["md"].startswith("Reliable change of the composite by arm (cohort small; r1 = ")
    parsed = pd.read_csv(io.StringIO(synthetic["lmm_coefficients"]["csv"]))
    assert parsed.iloc[0, 0].startswith(SYNTHETIC_PREFIX)


def test_responder_figure_structure(change):
    figure = plot_responders(change.participants, change.responders, float(change.reliability["threshold"].iloc[0]), ARMS, synthetic=True)
    panels, bars = figure.axes[: 2 * len(ARMS) : 2], figure.axes[1 : 2 * len(ARMS) : 2]
    assert len(figure.axes) == 2 * len(ARMS)
    assert figure._suptitle.get_text().startswith("SYNTHETIC DATA")
    counts = change.responders.set_index("arm")["n"]
    for arm, panel, bar in zip(ARMS, panels, bars, strict=True):
        assert panel.get_title().startswith(f"{arm.capitalize()} (n = {counts[arm]})")
        segments = panel.collections[0]
        assert len(segments.get_segments()) == counts[arm]
        widths = [patch.get_width() for patch in bar.patches]
        assert sum(widths) == pytest.approx(1.0)
        assert widths[2] == pytest.approx(change.responders.set_index("arm").loc[arm, "share_improved"])
    # segments are sorted by change and coloured by classification
    coach = change.participants[change.participants["arm"] == "coach"].sort_values(["d", "baseline", "participant_id"])
    segments = panels[2].collections[0].get_segments()
    np.testing.assert_allclose([segment[1, 1] - segment[0, 1] for segment in segments], coach["d"])
    colours = panels[2].collections[0].get_colors()
    improved = (coach["classification"] == IMPROVED).to_numpy()
    assert improved.any()
    np.testing.assert_allclose(colours[improved][0][:3], tuple(int(CLASSIFICATION_COLOURS[IMPROVED][i : i + 2], 16) / 255 for i in (1, 3, 5)))
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert any(label.startswith("Improved (d > ") for label in legend) and any(label.startswith("Worsened") for label in legend)


def test_responder_figure_needs_every_arm(change):
    with pytest.raises(ValueError, match="no participants in arm 'placebo'"):
        plot_responders(change.participants, change.responders, 5.0, [*ARMS, "placebo"])
