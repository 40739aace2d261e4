"""The one house style of every figure: colours, rc settings, the synthetic banner and deterministic saving.

Every figure module of :mod:`analysis.render` draws with :data:`STYLE`, colours arms with
:func:`arm_palette` (Okabe-Ito colours, fixed per trial arm), titles with :func:`suptitle` and writes
with :func:`save_figure`, so the figures of all analysis families look alike and a simulated cohort's
figure always carries the ``"SYNTHETIC DATA"`` banner. The palettes, markers and display labels of the
analysis families' figures (estimators, expression categories, raters, self-ratings, ...) are here too, so each
is defined once, beside the colours it must stay distinct from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.constants import COMPOSITE
from analysis.runtime import atomic

__all__ = [
    "SYNTHETIC_TITLE", "OKABE_ITO", "GREY", "FIXED_ARM_COLOURS", "STYLE", "SAVE_STYLE", "HEATMAP_STYLE",
    "CATEGORY_COLOURS", "CONVERSATION_COLOURS", "ESTIMATOR_COLOURS", "ESTIMATOR_MARKERS", "OUTCOME_SHORT_LABELS",
    "RATER_LABELS", "SELF_RATING_LABELS", "TRAIT_LABELS", "arm_palette", "suptitle", "save_figure",
]

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SYNTHETIC_TITLE = "SYNTHETIC DATA \u2014 simulated cohort, not trial results"

OKABE_ITO: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
)
GREY = "#999999"

FIXED_ARM_COLOURS: dict[str, str] = {
    "control": GREY,
    "video": "#E69F00",
    "coach": "#0072B2",
    "combined": "#009E73",
}

STYLE: dict[str, object] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "figure.titlesize": 9,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
SAVE_STYLE: dict[str, object] = {"pdf.fonttype": 42}
# The agreement heatmap keeps its own sizes (a slightly larger axes title, default line widths for the colour bar).
HEATMAP_STYLE: dict[str, object] = {
    key: STYLE[key] for key in ("font.size", "xtick.labelsize", "ytick.labelsize", "figure.titlesize")
} | {"axes.titlesize": 8.5}

# Palettes and markers of the analysis families' figures.

# Expression categories (taxonomy figure), Okabe-Ito colours; mined phrases that mark no dimension are grey.
CATEGORY_COLOURS: dict[str, str] = {
    "affective": "#CC79A7",
    "cognitive": "#0072B2",
    "motivational": "#009E73",
    "misattuned": "#D55E00",
    "unassigned": GREY,
}
# Conversations 1, 2 and 3 (posterior predictive check of the Bayesian models).
CONVERSATION_COLOURS: tuple[str, ...] = ("#4D4D4D", "#0072B2", "#CC79A7")
# Estimators of the estimator comparison, told apart by colour and marker.
ESTIMATOR_COLOURS: dict[str, str] = {
    "ols_cluster": "#000000",
    "lmm_reml": "#D55E00",
    "bayes_ordinal": "#CC79A7",
    "bayes_linear": "#56B4E9",
}
ESTIMATOR_MARKERS: dict[str, str] = {"ols_cluster": "o", "lmm_reml": "s", "bayes_ordinal": "D", "bayes_linear": "^"}

# Display labels of figures (and of the tables that share their wording).

# Outcomes on a figure axis, over two lines (tables use analysis.render.tables.OUTCOME_LABELS).
OUTCOME_SHORT_LABELS: dict[str, str] = {
    "validating_emotions": "Validating\nemotions",
    "encouraging_elaboration": "Encouraging\nelaboration",
    "demonstrating_understanding": "Demonstrating\nunderstanding",
    "advice_giving": "Advice\ngiving",
    "self_oriented": "Self-\noriented",
    "dismissing_emotions": "Dismissing\nemotions",
    COMPOSITE: "Overall\nempathy",
}
# Raters of the agreement analysis (heatmap axes and the kappa table's rater pairs).
RATER_LABELS: dict[str, str] = {
    "expert1": "Expert 1",
    "expert2": "Expert 2",
    "expert3": "Expert 3",
    "experts": "Experts",
    "crowd": "Crowd",
    "gpt": "GPT-4o",
    "claude": "Claude",
    "gemini": "Gemini",
}
# Self-ratings of the silent-empathy analysis (its tables and panel titles).
SELF_RATING_LABELS: dict[str, str] = {
    "self_empathized": "Empathized (self)",
    "self_encourage_elaboration": "Encouraged elaboration (self)",
    "self_showed_understanding": "Showed understanding (self)",
    "self_demonstrate_desire": "Demonstrated desire to help (self)",
}
# Trait-empathy measures of the silent-empathy analysis (its table and the trait panel's x axis).
TRAIT_LABELS: dict[str, str] = {"jordan": "Jordan trait empathy (items 1-7)", "sites": "SITES (item 8)"}


def arm_palette(arms: Sequence[str]) -> dict[str, str]:
    """Fixed, colour-blind-safe colour of each arm.

    Parameters
    ----------
    arms : sequence of str
        Arm names.

    Returns
    -------
    dict of str to str
        Hex colour per arm, in the order of ``arms``. The trial's arms have
        fixed colours (control grey, video orange, coach blue, combined
        bluish green, from the Okabe-Ito palette); other arms take the unused
        Okabe-Ito colours in order, so the mapping depends only on the arm
        names and their order.
    """
    palette: dict[str, str] = {}
    used = {FIXED_ARM_COLOURS[arm] for arm in arms if arm in FIXED_ARM_COLOURS}
    spare = [colour for colour in OKABE_ITO if colour not in used]
    for arm in arms:
        if arm in palette:
            continue
        if arm in FIXED_ARM_COLOURS:
            palette[arm] = FIXED_ARM_COLOURS[arm]
        else:
            palette[arm] = spare.pop(0) if spare else GREY
    return palette


def suptitle(fig: Figure, title: str | None, synthetic: bool) -> None:
    """Set a figure's suptitle, starting with the synthetic-data banner if needed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to title.
    title : str or None
        The figure's own title; None or empty for none.
    synthetic : bool
        Whether the data are simulated; if True the suptitle starts with
        :data:`SYNTHETIC_TITLE` in bold dark red, broken over two lines on
        figures narrower than 5 in.

    Returns
    -------
    None
        The figure is titled in place; with neither a title nor synthetic
        data it is left untouched.
    """
    if synthetic:
        banner = SYNTHETIC_TITLE
        if fig.get_figwidth() < 5:
            banner = banner.replace(", not", ",\nnot")
        text = banner if not title else f"{banner}\n{title}"
        fig.suptitle(text, color="#B00000", fontweight="bold")
    elif title:
        fig.suptitle(title)


def save_figure(fig: Figure, png_path: str | Path, pdf_path: str | Path, dpi: int = 300) -> None:
    """Write a figure as PNG and PDF, deterministically, then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Figure to save.
    png_path, pdf_path : str or pathlib.Path
        Output files, each written atomically (:mod:`analysis.runtime.atomic`); parent folders are created.
    dpi : int, default 300
        Resolution of the PNG.

    Returns
    -------
    None
        The PNG carries no software or time metadata and the PDF no
        creation date (fonts embedded as TrueType), so equal figures give
        byte-identical files.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(SAVE_STYLE):
        atomic.save_figure(fig, png_path, dpi=dpi, format="png", metadata={"Software": None})
        atomic.save_figure(
            fig,
            pdf_path,
            format="pdf",
            metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
        )
    plt.close(fig)
