"""The house style (analysis.render.style): the synthetic banner and the outcome order shared by every figure."""

from __future__ import annotations

from matplotlib.figure import Figure

from analysis.constants import OUTCOMES
from analysis.render.style import HEATMAP_STYLE, STYLE, SYNTHETIC_TITLE, suptitle
from analysis.render.tables import ordered_outcomes


def test_suptitle_banner_comes_first_and_wraps_on_narrow_figures() -> None:
    wide = Figure(figsize=(7.2, 3))
    suptitle(wide, "Effects", synthetic=True)
    assert wide.get_suptitle() == f"{SYNTHETIC_TITLE}\nEffects"
    narrow = Figure(figsize=(3.5, 3))
    suptitle(narrow, None, synthetic=True)
    assert narrow.get_suptitle() == SYNTHETIC_TITLE.replace(", not", ",\nnot")
    plain = Figure(figsize=(7.2, 3))
    suptitle(plain, "Effects", synthetic=False)
    assert plain.get_suptitle() == "Effects"
    untitled = Figure(figsize=(7.2, 3))
    suptitle(untitled, None, synthetic=False)
    assert untitled.get_suptitle() == ""


def test_ordered_outcomes_follows_the_registered_order_then_sorts_the_rest() -> None:
    assert ordered_outcomes(["zeta", OUTCOMES[2], "alpha", OUTCOMES[0], OUTCOMES[2]]) == [OUTCOMES[0], OUTCOMES[2], "alpha", "zeta"]


def test_the_heatmap_style_keeps_its_own_sizes() -> None:
    assert HEATMAP_STYLE == {
        "font.size": 8, "axes.titlesize": 8.5, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "figure.titlesize": 9,
    }
    assert all(STYLE[key] == value for key, value in HEATMAP_STYLE.items() if key != "axes.titlesize")
