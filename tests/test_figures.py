"""Tests of the publication figures (analysis.render.figures) and the house style (analysis.render.style)."""

from __future__ import annotations

import matplotlib
import matplotlib.colors
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from scipy import stats

from analysis.constants import COMPOSITE, OUTCOMES
from analysis.render.figures import (
    conversation_means,
    plot_composite_by_conversation,
    plot_effects_sd,
)
from analysis.render.style import FIXED_ARM_COLOURS, OKABE_ITO, arm_palette, save_figure
from tests.conftest import simulated_outcomes

ARMS = ["control", "video", "coach", "combined"]


def effects_from(scores: pd.DataFrame) -> pd.DataFrame:
    """Post effects in the effects_sd layout, from participants' mean pre-post changes.

    The reference arm's row is its own change (the ``post`` term); the other
    arms' rows are their change minus the reference arm's (``<arm>:post``),
    with normal 95% CIs and p-values.
    """
    rows = []
    for outcome in OUTCOMES:
        outcome_sd = float(scores[outcome].std())
        wide = scores.pivot_table(
            index=["arm", "participant_id"], columns="post", values=outcome, aggfunc="mean"
        )
        change = (wide[1] - wide[0]).groupby(level="arm")
        mean, error = change.mean(), change.std() / np.sqrt(change.count())
        for arm in ARMS:
            if arm == "control":
                estimate, std_error = mean[arm], error[arm]
            else:
                estimate = mean[arm] - mean["control"]
                std_error = float(np.hypot(error[arm], error["control"]))
            statistic = estimate / std_error
            low, high = estimate - 1.96 * std_error, estimate + 1.96 * std_error
            rows.append(
                {
                    "outcome": outcome,
                    "arm": arm,
                    "term": "post" if arm == "control" else f"{arm}:post",
                    "estimate": estimate,
                    "std_error": std_error,
                    "statistic": statistic,
                    "p_value": float(2 * stats.norm.sf(abs(statistic))),
                    "ci_low": low,
                    "ci_high": high,
                    "outcome_sd": outcome_sd,
                    "estimate_sd": estimate / outcome_sd,
                    "ci_low_sd": low / outcome_sd,
                    "ci_high_sd": high / outcome_sd,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return simulated_outcomes()


@pytest.fixture(scope="module")
def effects(scores: pd.DataFrame) -> pd.DataFrame:
    return effects_from(scores)


def suptitle_text(fig: Figure) -> str:
    return fig.get_suptitle()


def test_saving_uses_the_agg_backend(effects: pd.DataFrame, tmp_path) -> None:
    save_figure(plot_effects_sd(effects, ARMS), tmp_path / "f.png", tmp_path / "f.pdf", dpi=50)
    assert matplotlib.get_backend().lower() == "agg"


def test_arm_palette_fixed_and_distinct() -> None:
    palette = arm_palette(ARMS)
    assert list(palette) == ARMS
    assert palette == {arm: FIXED_ARM_COLOURS[arm] for arm in ARMS}
    assert len(set(palette.values())) == len(ARMS)
    assert arm_palette(["coach", "video"]) == {"coach": palette["coach"], "video": palette["video"]}
    extended = arm_palette([*ARMS, "peer", "self_help"])
    assert len(set(extended.values())) == 6
    assert extended["peer"] in OKABE_ITO
    assert extended == arm_palette([*ARMS, "peer", "self_help"])


def test_plot_effects_sd_structure(effects: pd.DataFrame) -> None:
    fig = plot_effects_sd(effects, ARMS)
    assert isinstance(fig, Figure)
    np.testing.assert_allclose(fig.get_size_inches(), (7.2, 3.6))
    ax = fig.axes[0]
    bars = [container for container in ax.containers if isinstance(container, BarContainer)]
    assert len(bars) == len(ARMS)
    assert all(len(container.patches) == len(OUTCOMES) for container in bars)
    coach = effects[effects["arm"] == "coach"].set_index("outcome").loc[list(OUTCOMES)]
    heights = [patch.get_height() for patch in bars[2].patches]
    np.testing.assert_allclose(heights, coach["estimate_sd"].to_numpy())
    colours = [matplotlib.colors.to_hex(container.patches[0].get_facecolor()) for container in bars]
    assert colours == [arm_palette(ARMS)[arm].lower() for arm in ARMS]
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert len(labels) == len(OUTCOMES)
    assert labels[0] == "Validating\nemotions"
    assert labels[-1] == "Overall\nempathy"
    assert ax.get_ylabel() == "Change after training (SD units)"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [
        "Control: change",
        "Video: DiD vs control",
        "Coach: DiD vs control",
        "Combined: DiD vs control",
    ]
    n_significant = int((effects["p_value"] < 0.05).sum())
    star_texts = [text for text in ax.texts if set(text.get_text()) == {"*"}]
    assert len(star_texts) == n_significant
    assert suptitle_text(fig) == ""
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text():
            assert text.get_fontsize() >= 7


def test_plot_effects_sd_synthetic_title(effects: pd.DataFrame) -> None:
    fig = plot_effects_sd(effects, ARMS, synthetic=True, title="Primary analysis")
    assert suptitle_text(fig).startswith("SYNTHETIC DATA")
    assert "Primary analysis" in suptitle_text(fig)
    plain = plot_effects_sd(effects, ARMS, title="Primary analysis")
    assert "SYNTHETIC" not in suptitle_text(plain)


def test_plot_effects_sd_errors(effects: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="ci_high_sd"):
        plot_effects_sd(effects.drop(columns="ci_high_sd"), ARMS)
    with pytest.raises(ValueError, match="placebo"):
        plot_effects_sd(effects, [*ARMS, "placebo"])
    with pytest.raises(ValueError, match="duplicated"):
        plot_effects_sd(pd.concat([effects, effects.iloc[:1]]), ARMS)


def test_conversation_means_t_intervals(scores: pd.DataFrame) -> None:
    summary = conversation_means(scores, ARMS)
    assert list(summary["arm"]) == [arm for arm in ARMS for _ in range(3)]
    assert list(summary["conversation_number"]) == [1, 2, 3] * len(ARMS)
    selected = (scores["arm"] == "video") & (scores["conversation_number"] == 2)
    values = scores.loc[selected, COMPOSITE]
    half = stats.t.ppf(0.975, len(values) - 1) * values.std() / np.sqrt(len(values))
    row = summary[(summary["arm"] == "video") & (summary["conversation_number"] == 2)].iloc[0]
    assert row["n"] == len(values)
    np.testing.assert_allclose(
        [row["mean"], row["ci_low"], row["ci_high"]],
        [values.mean(), values.mean() - half, values.mean() + half],
    )


def test_plot_composite_by_conversation(scores: pd.DataFrame) -> None:
    fig = plot_composite_by_conversation(scores, ARMS)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = [container for container in ax.containers if isinstance(container, ErrorbarContainer)]
    assert len(lines) == len(ARMS)
    colours = [matplotlib.colors.to_hex(container.lines[0].get_color()) for container in lines]
    assert colours == [arm_palette(ARMS)[arm].lower() for arm in ARMS]
    first_x = [container.lines[0].get_xdata()[0] for container in lines]
    assert len(set(first_x)) == len(ARMS)
    assert all(abs(x - 1.0) < 0.2 for x in first_x)
    assert [label.get_text() for label in ax.get_xticklabels()] == ["1 (baseline)", "2", "3"]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["Control", "Video", "Coach", "Combined"]
    assert suptitle_text(fig) == ""
    synthetic = plot_composite_by_conversation(scores, ARMS, synthetic=True)
    assert suptitle_text(synthetic).startswith("SYNTHETIC DATA")
    with pytest.raises(ValueError, match="conversation_number"):
        plot_composite_by_conversation(scores.drop(columns="conversation_number"), ARMS)


def test_save_figure_writes_deterministic_files(effects: pd.DataFrame, tmp_path) -> None:
    outputs = []
    for attempt in ("a", "b"):
        fig = plot_effects_sd(effects, ARMS, synthetic=True)
        png = tmp_path / attempt / "png" / "effects.png"
        pdf = tmp_path / attempt / "pdf" / "effects.pdf"
        save_figure(fig, png, pdf, dpi=100)
        assert png.read_bytes().startswith(b"\x89PNG")
        assert pdf.read_bytes().startswith(b"%PDF")
        assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
        outputs.append((png.read_bytes(), pdf.read_bytes()))
    assert outputs[0][1] == outputs[1][1]
    assert outputs[0][0] == outputs[1][0]
    assert b"CreationDate" not in outputs[0][1]
