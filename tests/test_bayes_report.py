"""Tables and figures of the Bayesian models, on fixture tables (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.models.bayes import DIAGNOSTIC_COLUMNS, EFFECT_COLUMNS, PPC_COLUMNS
from analysis.render.bayes import (
    bayes_tables_text,
    diagnostics_summary_table,
    effects_table,
    plot_bayes_effects,
    plot_ppc_proportions,
)

ARMS = ["control", "video", "coach", "combined"]
DIMENSIONS = ["validating_emotions", "advice_giving"]
GATES = {"max_r_hat": 1.01, "min_ess_bulk": 400, "min_ess_tail": 400, "max_divergences": 0, "policy": "fail"}


@pytest.fixture
def effects():
    rows = []
    for outcome in [*DIMENSIONS, "overall_empathy"]:
        scales = ["score"] if outcome == "overall_empathy" else ["log_odds", "expected_score", "expected_score_typical"]
        for arm in ARMS:
            for number, scale in enumerate(scales):
                median = 0.1 * ARMS.index(arm) + number + 0.004
                rows.append({"model": "composite" if outcome == "overall_empathy" else "ordinal", "outcome": outcome, "arm": arm,
                             "term": "post" if arm == "control" else f"{arm}:post", "scale": scale, "median": median, "mean": median,
                             "sd": 0.1, "hdi_low": median - 0.2, "hdi_high": median + 0.2, "hdi_prob": 0.95,
                             "beneficial_direction": "increase", "prob_improvement": 0.9731})
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


@pytest.fixture
def diagnostics():
    return pd.DataFrame(
        {"model": ["ordinal"] * 3 + ["composite"], "quantity": ["arm_post", "arm_post", "participant_corr", "post"],
         "parameter": ["arm_post[video, a]", "arm_post[coach, a]", "participant_corr[b, a]", "post"],
         "r_hat": [1.002, 1.012, 1.004, 1.0], "ess_bulk": [900.4, 380.2, 1200.0, 3000.0], "ess_tail": [1000.0, 700.0, 900.0, 2500.0],
         "gated": [True, True, False, True], "passed": [True, False, True, True], "divergences": [2, 2, 2, 0],
         "chains": 4, "draws": 1000, "thin": 4},
        columns=DIAGNOSTIC_COLUMNS,
    )


def test_effects_table_rounds_only_for_display(effects):
    table = effects_table(effects, ARMS, "control")
    assert list(table.columns) == ["Outcome", "Arm", "Term", "Log-odds [95% HDI]", "Change in score [95% HDI]", "P(improvement)"]
    assert len(table) == 3 * 4
    coach = table[(table["Outcome"] == "Advice giving") & (table["Arm"] == "Coach")].iloc[0]
    assert coach["Term"] == "coach:post"
    assert coach["Log-odds [95% HDI]"] == "0.20 [0.00, 0.40]"
    assert coach["Change in score [95% HDI]"] == "1.20 [1.00, 1.40]"  # the population-averaged expected score
    assert coach["P(improvement)"] == "0.973"
    composite = table[table["Outcome"] == "Overall empathy"].iloc[1]
    assert composite["Log-odds [95% HDI]"] == "" and composite["Change in score [95% HDI]"] == "0.10 [-0.10, 0.30]"
    assert "population-averaged" in table.attrs["note"]


def test_diagnostics_summary_counts_failing_elements(diagnostics):
    table = diagnostics_summary_table(diagnostics, GATES)
    assert table["Quantity"].tolist() == ["arm_post", "participant_corr", "post"]
    arm_post = table.iloc[0]
    assert (arm_post["Max R-hat"], arm_post["Min bulk ESS"], arm_post["Failing"], arm_post["Divergences"]) == ("1.012", "380", "1", "2")
    assert table.iloc[1]["Gated"] == "no"
    assert "R-hat <= 1.01" in table.attrs["note"] and "4 chains x 1000 draws (1 in 4 of 4000 iterations kept)" in table.attrs["note"]


def test_tables_are_rendered_and_labelled_synthetic(effects, diagnostics):
    rendered = bayes_tables_text(effects, diagnostics, ARMS, "control", GATES, "tiny", synthetic=True)
    assert set(rendered) == {"bayes_effects", "bayes_diagnostics"}
    for formats in rendered.values():
        assert set(formats) == {"csv", "tex", "md"}
        assert formats["md"].startswith("SYNTHETIC DATA")


def test_forest_plot_has_both_scales_and_every_arm(effects):
    figure = plot_bayes_effects(effects, ARMS, "control", synthetic=True)
    assert [axis.get_title() for axis in figure.axes] == ["Log-odds (cumulative logit)", "Change in expected score (1-5)"]
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()] == ["Validating emotions", "Advice giving"]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["Control: change", "Video: DiD vs control", "Coach: DiD vs control", "Combined: DiD vs control"]
    assert figure._suptitle.get_text().startswith("SYNTHETIC DATA")
    points = [line for line in figure.axes[1].get_lines() if line.get_marker() == "o"]
    assert sorted(float(line.get_xdata()[0]) for line in points)[-1] == pytest.approx(1.304)


def test_ppc_figure_is_a_grid_of_dimensions_by_arms():
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_product([DIMENSIONS, ARMS, [1, 2, 3], range(1, 6)], names=PPC_COLUMNS[:4]).to_frame(index=False)
    share = rng.uniform(0, 0.5, len(index))
    ppc = index.assign(n_conversations=30, observed_share=share, predicted_median=share, predicted_low=share - 0.05,
                       predicted_high=share + 0.05, interval_prob=0.95)[PPC_COLUMNS]
    figure = plot_ppc_proportions(ppc, ARMS)
    panels = [axis for axis in figure.axes]
    assert len(panels) == len(DIMENSIONS) * len(ARMS)
    assert [axis.get_title() for axis in panels[:4]] == ["Control", "Video", "Coach", "Combined"]
    assert "Validating" in panels[0].get_ylabel()
