"""Fixed vocabularies of the Lend an Ear design (dimensions, scenarios, file names)."""

from __future__ import annotations

__all__ = [
    "PRESCRIPTIVE_DIMENSIONS", "MISATTUNED_DIMENSIONS", "DIMENSIONS", "COMPOSITE", "OUTCOMES", "SCORE_MIN", "SCORE_MAX",
    "TROUBLE_TYPES", "SCENARIO_TROUBLE_TYPE", "SCENARIO_OPENING_LINES", "ROLES", "EMPATHY_ITEMS", "SELF_RATINGS",
    "NATIVE_FILES", "OPTIONAL_FILES", "THEME_CATEGORIES",
]

PRESCRIPTIVE_DIMENSIONS: tuple[str, ...] = (
    "validating_emotions",
    "encouraging_elaboration",
    "demonstrating_understanding",
)
MISATTUNED_DIMENSIONS: tuple[str, ...] = (
    "advice_giving",
    "self_oriented",
    "dismissing_emotions",
)
DIMENSIONS: tuple[str, ...] = PRESCRIPTIVE_DIMENSIONS + MISATTUNED_DIMENSIONS
COMPOSITE = "overall_empathy"
OUTCOMES: tuple[str, ...] = DIMENSIONS + (COMPOSITE,)

SCORE_MIN = 1.0
SCORE_MAX = 5.0

TROUBLE_TYPES: tuple[str, ...] = ("workplace", "personal")
SCENARIO_TROUBLE_TYPE: dict[str, str] = {
    "job_loss": "workplace",
    "promotion": "workplace",
    "undervalued": "workplace",
    "loss_dad": "personal",
    "mom_unwell": "personal",
}
# The seekers' verbatim opening lines in the trial (from the authors' release; docs/paper_release.md).
SCENARIO_OPENING_LINES: dict[str, str] = {
    "job_loss": "So, I just lost my job today. I had a sense this was coming, but it's still a shock..",
    "promotion": "I'm feeling so discouraged.. I just got passed over for the promotion I was working hard for",
    "undervalued": "I've been working so hard but I don't think anyone cares..",
    "loss_dad": "I lost my dad last week.. I still can't believe he's really gone..",
    "mom_unwell": "I still can't believe it\u2026 my mom just got diagnosed with cancer. It feels like my whole world just flipped.",
}

ROLES: tuple[str, ...] = ("seeker", "supporter")
EMPATHY_ITEMS: tuple[str, ...] = tuple(f"empathy_item_{i}" for i in range(1, 9))
SELF_RATINGS: tuple[str, ...] = (
    "self_empathized",
    "self_encourage_elaboration",
    "self_showed_understanding",
    "self_demonstrate_desire",
)

NATIVE_FILES: dict[str, str] = {
    "participants": "participants.csv",
    "conversations": "conversations.csv",
    "messages": "messages.csv",
    "scores": "scores.csv",
}

# Optional cohort files: analyses that need one run only for cohorts that have it.
OPTIONAL_FILES: dict[str, str] = {
    "perception": "perception.csv",
    "elo": "elo.csv",
    "themes": "themes.csv",
}

# Categories of empathic expressions in themes.csv (docs/taxonomy.md): prescriptive affective, cognitive and
# motivational expressions, and proscriptive (misattuned) ones.
THEME_CATEGORIES: tuple[str, ...] = ("affective", "cognitive", "motivational", "misattuned")
