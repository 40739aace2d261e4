"""Simulate a Lend an Ear cohort calibrated to the published primary analysis.

The simulator produces the four native tables (participants, conversations,
messages, scores; see :class:`analysis.cohorts.native.CohortTables`) for an arbitrary
design.  It is used to exercise the pipeline end to end and to check that the
analysis code recovers known effects.

Generating model
----------------
Every participant *i* is randomised to an arm and holds three conversations
*t* = 1, 2, 3 (``post`` = 1 for conversations 2 and 3).  For each of the six
judged dimensions *d* a latent normal score is drawn for every conversation
and judge *j*::

    z_itdj = m_{cell,d} + s_d * u_itdj
    u_itdj = sign_d * (sqrt(lp_d) * g_i + sqrt(lc) * h_it) + sqrt(lq_d) * f_id
             + sqrt(1 - lp_d - lq_d - lc) * (sqrt(rho) * e_itd + sqrt(1 - rho) * e_itdj)

with independent standard normal ``g`` (participant factor shared by the
dimensions), ``f`` (participant factor specific to one dimension), ``h``
(conversation factor shared by the dimensions), ``e_itd`` (idiosyncratic
conversation noise shared by all judges) and ``e_itdj`` (judge-specific
noise).  ``sign_d`` is +1 for the prescriptive and -1 for the misattuned
dimensions, so a good supporter scores high on the former and low on the
latter.  ``u`` is standard normal for every judge, hence every judge's
marginal distribution is identically calibrated.  The integer score is
``clip(floor(z + 0.5), 1, 5)``, i.e. the latent score binned at the edges
1.5, 2.5, 3.5 and 4.5.

Calibration
-----------
The published difference-in-differences table (OLS ``score ~ arm * post``,
reference arm control; ``reference/published_primary_coefficients.csv``)
fixes the expected score of every (arm, pre/post) cell: reference pre =
intercept, reference post = intercept + post, arm pre = intercept + arm and
arm post = intercept + arm + post + arm:post.  Rounding and clipping change
the mean and the spread of a normal variable, so the latent parameters are
solved for at run time from the exact moments of the discretised normal
(:func:`solve_latent_parameters`):

* for a given scale ``s_d`` the location ``m_{cell,d}`` is the root
  (``scipy.optimize.brentq``) of ``E[score] - target``, where
  ``E[score] = 1 + sum_k Phi((m - k) / s)`` over the bin edges *k*;
* ``s_d`` is the root of ``pooled within-cell variance - residual_se**2``,
  with the cells weighted by their degrees of freedom (``n_cell - 1``) in the
  requested design, which is exactly the expectation of the OLS residual
  variance ``SSR / (n - p)`` of the saturated cell-means model.

The expected OLS coefficients are therefore the published estimates and the
expected residual variance is the published one, exactly (up to root-finding
tolerance), for any arm sizes.  Scenario and trouble type carry no effect on
the scores.

The loadings do not affect those expectations; they set the dependence
between dimensions and within participants, hence the standard errors and
the composite.  This refines the single-loading model: one shared
participant loading cannot give both the published composite variance
components and the published cluster-robust SEs of the ``post`` terms,
which imply quite different within-participant correlations of the scores
(about .64 validating, .44 elaboration, .62 understanding, .33 advice,
.26 self_oriented and .57 dismissing, from ``SE(post)**2 =
1.5 * residual_se**2 * (1 - r) / n``).  The defaults
(``lp_d + lq_d`` = .69, .47, .68, .36, .33, .62 in ``DIMENSIONS`` order,
72 % of it on the shared ``g``, and ``lc`` = .085) were tuned by simulation
of the default design (60-100 seeds): the mean cluster-robust SEs of all
coefficients are within about 5 % of the published ones, and the composite
``overall_empathy`` (validating + elaboration + understanding - advice -
self_oriented - dismissing, single judge) fitted with the random-intercept
model ``composite ~ post`` in the control group has between-person
variance about 11.8-11.9 and residual variance about 5.4-5.5 (published
11.87 and 5.38); over the whole cohort its mean is about -0.19 and its SD
about 4.48 (published -0.19 and 4.50).

Other quantities
----------------
* Trait empathy: the seven Jordan items share a latent trait and the SITES
  item correlates with it; both latent traits load weakly on ``g`` so that
  the Pearson correlation of the Jordan sum (SITES) with a participant's
  mean composite is about .035 (.061), as published.
* Self-ratings: ordinal draws from a latent normal with fixed category
  probabilities (about 88 % of ratings are 4 or 5), a participant response
  style and a weak loading on the conversation's latent (judge-free) score,
  tuned to the published R2 (self_empathized with the composite .0012,
  self_encourage_elaboration with encouraging_elaboration .027,
  self_showed_understanding with demonstrating_understanding .0001).
* Messages: ``2 + Poisson(mean - 2)`` messages per conversation, alternating
  seeker/supporter and starting with the seeker's verbatim opening line.
  Supporter messages carry idiomatic expressions from the themes of
  :data:`PHRASE_THEMES` (each tied to a dimension and a category; the
  dimension's phrases are :data:`PHRASE_BANKS`).  Theme *t* of dimension *d*
  appears in a message independently of the other themes with probability
  ``min(1, p_d * share_t * exp(shift_t))``: ``p_d = floor + (ceiling -
  floor) * Phi(z_d - 3)`` rises with the conversation's judge-free latent
  score on the dimension, ``share_t`` is the theme's share of its dimension
  for the trouble type (some themes belong to one trouble type only) and
  ``shift_t`` is the planted training shift, non-zero only in conversations
  2-3 of non-reference arms and differing by trouble type: "tell me more"
  and "I am here for you" rise, "everything will be okay", "take it one day
  at a time" and prayer fall.  Neutral filler is used when nothing else was
  drawn.  Seeker follow-ups come from a small bank per trouble type.  Some
  texts contain commas, double quotes and embedded newlines.  The text column
  is built with array indexing and element-wise string concatenation,
  without loops over rows.  :func:`code_planted_themes` reads the planted
  themes back from the texts (the simulated cohort's ``themes.csv``).

Random streams
--------------
Everything except the planted phrases is drawn from ``default_rng(seed)`` in
a fixed order.  The phrases come from their own child stream
(:data:`PHRASE_STREAM` of ``SeedSequence(seed)``), and the main stream still
makes (and discards) the phrase draws of the first message generator, so
the scores, participants and conversations of a seed are the same whatever
the phrase model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from analysis.cohorts.native import CohortTables
from analysis.constants import (
    DIMENSIONS,
    EMPATHY_ITEMS,
    MISATTUNED_DIMENSIONS,
    ROLES,
    SCENARIO_OPENING_LINES,
    SCENARIO_TROUBLE_TYPE,
    SCORE_MAX,
    SCORE_MIN,
    SELF_RATINGS,
    TROUBLE_TYPES,
)
from analysis.errors import ConfigError
from analysis.runtime.lazy_imports import lazy_module

# only the calibration solves with it; the theme coder and the tests' imports of this module do not load it
optimize = lazy_module("scipy.optimize")

__all__ = [
    "REFERENCE_DIR", "PRIMARY_COEFFICIENTS_FILE", "PRIMARY_FIT_FILE", "COMPOSITE_FILE", "DEFAULT_ARM_SIZES",
    "DEFAULT_FIRST_SCENARIO_COUNTS", "CONVERSATIONS_PER_PARTICIPANT", "SEXES", "PhraseTheme", "PHRASE_THEMES", "PHRASE_BANKS",
    "FILLER_PHRASES", "PHRASE_STREAM", "SEEKER_FOLLOW_UPS", "SimulationParameters", "load_published_primary",
    "load_published_fit", "load_published_composite", "cell_means", "solve_location", "solve_dimension",
    "solve_latent_parameters", "simulate_cohort", "code_planted_themes", "planted_training_shifts",
]

REFERENCE_DIR = Path(__file__).parent.parent / "reference"
PRIMARY_COEFFICIENTS_FILE = "published_primary_coefficients.csv"
PRIMARY_FIT_FILE = "published_primary_fit.csv"
COMPOSITE_FILE = "published_composite.csv"

DEFAULT_ARM_SIZES: dict[str, int] = {"control": 245, "video": 245, "coach": 231, "combined": 247}
DEFAULT_FIRST_SCENARIO_COUNTS: dict[str, int] = {
    "loss_dad": 204,
    "mom_unwell": 187,
    "promotion": 188,
    "undervalued": 186,
    "job_loss": 203,
}
CONVERSATIONS_PER_PARTICIPANT = 3
SEXES: tuple[str, ...] = ("female", "male", "other")

_SCENARIOS: tuple[str, ...] = tuple(SCENARIO_OPENING_LINES)
_BIN_EDGES = np.arange(SCORE_MIN + 0.5, SCORE_MAX, 1.0)
_SQUARE_STEPS = 2.0 * np.arange(SCORE_MIN + 1.0, SCORE_MAX + 1.0) - 1.0
_SIGNS = np.array([-1.0 if d in MISATTUNED_DIMENSIONS else 1.0 for d in DIMENSIONS])

@dataclass(frozen=True)
class PhraseTheme:
    """One theme of idiomatic supporter expressions planted in simulated messages.

    Attributes
    ----------
    theme : str
        Theme label, as written to ``themes.csv``.
    category : str
        ``affective``, ``cognitive``, ``motivational`` or ``misattuned``
        (:data:`analysis.constants.THEME_CATEGORIES`).
    dimension : str
        The judged dimension whose latent score drives the theme's rate.
    variants : tuple of str
        Surface forms; a message using the theme carries one of them, drawn
        uniformly.  Every variant ends a sentence, and no variant occurs
        inside a variant of another theme, so a message's themes can be read
        back from its text (:func:`code_planted_themes`).
    weights : tuple of float
        Relative weight of the theme within its dimension for a workplace and
        a personal trouble (``TROUBLE_TYPES`` order); normalised to shares
        that sum to 1 per dimension and trouble type.
    training_shift : tuple of float
        Planted change after training: log rate ratio of the theme in the
        conversations 2-3 of every non-reference arm, per trouble type.
    """

    theme: str
    category: str
    dimension: str
    variants: tuple[str, ...]
    weights: tuple[float, float] = (1.0, 1.0)
    training_shift: tuple[float, float] = (0.0, 0.0)


PHRASE_THEMES: tuple[PhraseTheme, ...] = (
    PhraseTheme(
        "acknowledging_difficulty", "affective", "validating_emotions",
        ("That sounds really hard.", "That sounds so hard.", "Wow, that sounds really tough."),
    ),
    PhraseTheme(
        "sympathy", "affective", "validating_emotions",
        ("I'm so sorry you're going through this.", "I'm so sorry to hear that."),
    ),
    PhraseTheme("condolence", "affective", "validating_emotions", ("I'm so sorry for your loss.",), (0.0, 1.0)),
    PhraseTheme(
        "validating_feelings", "affective", "validating_emotions",
        ("Your feelings are completely valid, anyone would be upset.", 'It\'s okay to feel "not okay" right now.'),
    ),
    PhraseTheme(
        "naming_pain", "affective", "validating_emotions",
        ("That must be so painful.", "That must be incredibly painful for you."),
    ),
    PhraseTheme(
        "offering_availability", "affective", "validating_emotions",
        ("I am here for you.", "Just know that I am here for you.", "I am here for you, whatever you need."),
        (0.7, 0.9), (0.5, 1.5),
    ),
    PhraseTheme(
        "affirming_strength", "motivational", "validating_emotions",
        ("You are stronger than you think.", "You've handled so much already, you've got this."),
        (0.6, 0.6),
    ),
    PhraseTheme(
        "inviting_more", "cognitive", "encouraging_elaboration",
        ("Can you tell me more about what happened?", "Tell me more, I'm listening.", "Would you like to tell me more about it?"),
        (1.0, 1.0), (1.5, 1.0),
    ),
    PhraseTheme("asking_hardest_part", "cognitive", "encouraging_elaboration", ("What has been the hardest part for you?",)),
    PhraseTheme(
        "checking_in", "cognitive", "encouraging_elaboration",
        ("How are you holding up, honestly?", "How are you holding up?"),
    ),
    PhraseTheme("inviting_to_talk", "cognitive", "encouraging_elaboration", ("Do you want to talk about what happened?",)),
    PhraseTheme("asking_thoughts", "cognitive", "encouraging_elaboration", ("What's going through your mind right now?",)),
    PhraseTheme(
        "making_sense", "cognitive", "demonstrating_understanding",
        ("It makes sense that you'd feel let down after all that effort.", "It makes sense that you feel this way."),
    ),
    PhraseTheme(
        "reflecting_feelings", "cognitive", "demonstrating_understanding",
        ("So the shock is mixing with a kind of sadness, is that right?",),
    ),
    PhraseTheme(
        "naming_experience", "cognitive", "demonstrating_understanding",
        ("It seems like you feel unseen, even though you gave it everything.",),
    ),
    PhraseTheme(
        "recognising_care", "cognitive", "demonstrating_understanding",
        ("I can tell this hit you harder because you cared so much.",),
    ),
    PhraseTheme(
        "job_search_advice", "misattuned", "advice_giving",
        ("Maybe you should update your resume and start applying.",), (1.0, 0.0),
    ),
    PhraseTheme(
        "suggesting_counselling", "misattuned", "advice_giving", ("Have you tried talking to a counselor about it?",),
    ),
    PhraseTheme(
        "planning_steps", "misattuned", "advice_giving",
        ("You could make a list of next steps:\n1. rest, 2. reach out, 3. plan.",), (1.0, 0.5),
    ),
    PhraseTheme(
        "suggesting_activity", "misattuned", "advice_giving", ("I'd suggest taking a walk and getting some fresh air.",),
    ),
    PhraseTheme("focusing_on_positives", "misattuned", "advice_giving", ("You should try to focus on the positives.",)),
    PhraseTheme(
        "one_day_at_a_time", "motivational", "advice_giving",
        ("Take it one day at a time.", "Just try to take it one day at a time."),
        (0.8, 2.0), (0.0, -2.0),
    ),
    PhraseTheme(
        "own_job_loss", "misattuned", "self_oriented", ("When I lost my job I just went to the gym.",), (1.0, 0.0),
    ),
    PhraseTheme(
        "similar_experience", "misattuned", "self_oriented",
        ("I went through something similar last year, and it was rough for me too.",),
    ),
    PhraseTheme(
        "own_family_illness", "misattuned", "self_oriented",
        ("That reminds me of when my grandmother was sick.",), (0.0, 1.0),
    ),
    PhraseTheme("same_happened_to_me", "misattuned", "self_oriented", ("The same thing happened to me once, so I get it.",)),
    PhraseTheme(
        "reassuring_outcome", "motivational", "dismissing_emotions",
        ("Everything will be okay, don't worry about it.", "Everything will be okay.", "I promise everything will be okay in the end."),
        (2.0, 2.0), (-2.0, -1.5),
    ),
    PhraseTheme("at_least", "misattuned", "dismissing_emotions", ("At least you still have your health.",)),
    PhraseTheme("avoiding_thoughts", "misattuned", "dismissing_emotions", ("Try not to think about it too much.",)),
    PhraseTheme(
        "silver_lining", "misattuned", "dismissing_emotions",
        ("It's not the end of the world, things happen for a reason.", 'Look on the bright side, "every cloud has a silver lining".'),
    ),
    PhraseTheme(
        "prayer", "motivational", "dismissing_emotions",
        ("I will pray for you.", "I'll keep you in my prayers.", "Sending prayers your way."),
        (0.4, 2.0), (0.0, -2.0),
    ),
)
PHRASE_BANKS: dict[str, tuple[str, ...]] = {
    dimension: tuple(v for theme in PHRASE_THEMES if theme.dimension == dimension for v in theme.variants)
    for dimension in DIMENSIONS
}
FILLER_PHRASES: tuple[str, ...] = ("Okay.", "I see.", "Hmm, right.", "Got it.", "Oh, okay.")
# The planted phrases come from this child of the seed's SeedSequence, apart from the main stream.
PHRASE_STREAM = 0
# Bank sizes of the first message generator, whose draws the main stream still skips (see
# _skip_version_one_phrase_draws) so that the scores of a seed do not depend on the phrase model.
_VERSION_ONE_BANK_SIZES: tuple[int, ...] = (5, 5, 4, 5, 4, 5)
SEEKER_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "workplace": (
        "Yeah, I put so much into that job.",
        "I keep wondering what I did wrong.",
        'My manager just said "it wasn\'t the right fit", whatever that means.',
        "I don't know what to do next.\nMaybe I'm just not good enough.",
        "Honestly, I'm kind of angry too.",
        "Thanks, that helps a bit.",
    ),
    "personal": (
        "Yeah, it's just a lot right now.",
        "I don't know, I keep thinking about it.",
        'Everyone keeps saying "stay strong", but I don\'t feel strong.',
        "Thanks, I guess.\nIt's hard to explain.",
        "I just feel numb, honestly.",
        "I haven't really told anyone else yet.",
    ),
}


@dataclass(frozen=True)
class SimulationParameters:
    """Tunable constants of the generating model (see the module docstring).

    Attributes
    ----------
    participant_loadings : tuple of float
        ``lp_d`` (in ``DIMENSIONS`` order), share of the latent score
        variance of each dimension due to the participant factor ``g``
        shared by the six dimensions.
    specific_participant_loadings : tuple of float
        ``lq_d``, share due to a participant factor ``f_d`` specific to the
        dimension (it raises the within-participant correlation of one
        dimension without tying the dimensions together).
    conversation_loading : float
        ``lc``, share due to the conversation factor ``h`` shared by the six
        dimensions.  ``lp_d + lq_d + lc`` must be below 1.
    judge_agreement : float
        ``rho``, share of the idiosyncratic variance shared by all judges.
    arm_effects : Mapping[str, Mapping[str, tuple[float, float]]]
        Effects of arms that are not in the published table (or replacements
        of published ones): ``{arm: {dimension: (arm, arm_post)}}``, the
        baseline shift and the difference-in-differences of the arm relative
        to the reference arm, for all six dimensions.
    jordan_loading, sites_loading : float
        Loadings of the latent Jordan trait and of the latent SITES item on
        the participant factor ``g``.
    jordan_item_loading : float
        Loading of each Jordan item on the latent Jordan trait.
    sites_jordan_correlation : float
        Correlation of the SITES latent with the Jordan trait beyond ``g``.
    trait_item_probabilities : tuple of float
        Marginal probabilities of the answers 1..5 of the trait items.
    self_rating_loadings : tuple of float
        Loadings of ``self_empathized``, ``self_encourage_elaboration``,
        ``self_showed_understanding`` and ``self_demonstrate_desire`` on the
        standardised judge-free latent composite, elaboration,
        understanding and composite respectively.
    self_rating_style : float
        Share of the remaining self-rating variance due to a participant
        response style.
    self_rating_probabilities : tuple of float
        Marginal probabilities of the self-ratings 1..5.
    phrase_floor, phrase_ceiling : float
        Per-message probability of using a dimension's phrase for a very low
        and a very high latent score; in between it follows
        ``floor + (ceiling - floor) * Phi(z - 3)``.
    filler_rate : float
        Probability of prefixing a supporter message with neutral filler.
    phrase_training_shift : float
        Multiplier of the planted training shifts (``PhraseTheme.training_shift``); 0 plants none.
    age_mean, age_sd : float
        Normal age distribution before rounding and clipping to 18..75.
    sex_probabilities : tuple of float
        Probabilities of "female", "male" and "other".
    """

    participant_loadings: tuple[float, ...] = (0.497, 0.338, 0.490, 0.259, 0.238, 0.446)
    specific_participant_loadings: tuple[float, ...] = (0.193, 0.132, 0.190, 0.101, 0.092, 0.174)
    conversation_loading: float = 0.085
    judge_agreement: float = 0.6
    arm_effects: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    jordan_loading: float = 0.044
    sites_loading: float = 0.058
    jordan_item_loading: float = 0.7
    sites_jordan_correlation: float = 0.4
    trait_item_probabilities: tuple[float, ...] = (0.03, 0.08, 0.22, 0.42, 0.25)
    self_rating_loadings: tuple[float, float, float, float] = (0.043, 0.226, 0.016, 0.05)
    self_rating_style: float = 0.4
    self_rating_probabilities: tuple[float, ...] = (0.01, 0.02, 0.09, 0.40, 0.48)
    phrase_floor: float = 0.03
    phrase_ceiling: float = 0.6
    filler_rate: float = 0.25
    phrase_training_shift: float = 1.0
    age_mean: float = 38.0
    age_sd: float = 12.0
    sex_probabilities: tuple[float, float, float] = (0.52, 0.46, 0.02)

    def __post_init__(self) -> None:
        """Check that the constants define a valid model."""
        common = np.asarray(self.participant_loadings, dtype=float)
        specific = np.asarray(self.specific_participant_loadings, dtype=float)
        if common.shape != (len(DIMENSIONS),) or specific.shape != (len(DIMENSIONS),):
            raise ConfigError(f"Participant loadings need {len(DIMENSIONS)} values each.")
        if np.any(common < 0) or np.any(specific < 0) or self.conversation_loading < 0:
            raise ConfigError("Loadings must be non-negative.")
        if np.any(common + specific + self.conversation_loading >= 1):
            raise ConfigError(
                "participant_loadings + specific_participant_loadings + conversation_loading "
                "must be below 1 for every dimension."
            )
        unit = {
            "judge_agreement": self.judge_agreement,
            "self_rating_style": self.self_rating_style,
            "phrase_floor": self.phrase_floor,
            "phrase_ceiling": self.phrase_ceiling,
            "filler_rate": self.filler_rate,
        }
        for name, value in unit.items():
            if not 0 <= value <= 1:
                raise ConfigError(f"{name} must lie in [0, 1], got {value}.")
        if not np.isfinite(self.phrase_training_shift):
            raise ConfigError(f"phrase_training_shift must be finite, got {self.phrase_training_shift}.")
        correlations = (
            self.jordan_loading,
            self.sites_loading,
            self.jordan_item_loading,
            self.sites_jordan_correlation,
            *self.self_rating_loadings,
        )
        if any(abs(value) >= 1 for value in correlations):
            raise ConfigError("Loadings and correlations must lie strictly between -1 and 1.")
        if len(self.self_rating_loadings) != len(SELF_RATINGS):
            raise ConfigError(f"self_rating_loadings needs {len(SELF_RATINGS)} values.")
        for name in ("trait_item_probabilities", "self_rating_probabilities", "sex_probabilities"):
            probabilities = np.asarray(getattr(self, name), dtype=float)
            n_scores = int(SCORE_MAX - SCORE_MIN) + 1
            expected = len(SEXES) if name == "sex_probabilities" else n_scores
            if len(probabilities) != expected or np.any(probabilities < 0):
                raise ConfigError(f"{name} must be {expected} non-negative probabilities.")
            if not np.isclose(probabilities.sum(), 1.0):
                raise ConfigError(f"{name} must sum to 1.")
        for arm, effects in self.arm_effects.items():
            missing = set(DIMENSIONS) - set(effects)
            if missing:
                raise ConfigError(f"arm_effects[{arm!r}] lacks dimensions {sorted(missing)}.")


def load_published_primary() -> pd.DataFrame:
    """Load the published primary difference-in-differences coefficients.

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome``, ``term``, ``estimate`` and ``std_error``; terms
        are ``intercept``, ``post``, an arm name or ``<arm>:post``.
    """
    frame = pd.read_csv(REFERENCE_DIR / PRIMARY_COEFFICIENTS_FILE)
    return frame[["outcome", "term", "estimate", "std_error"]]


def load_published_fit() -> pd.DataFrame:
    """Load the published fit statistics of the primary models.

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome``, ``r2``, ``residual_se`` and ``n_obs``.
    """
    frame = pd.read_csv(REFERENCE_DIR / PRIMARY_FIT_FILE)
    return frame[["outcome", "r2", "residual_se", "n_obs"]]


def load_published_composite() -> dict[str, float]:
    """Load the published descriptive statistics of the composite.

    Returns
    -------
    dict
        Quantity name (e.g. ``control_between_person_variance``) to value.
    """
    frame = pd.read_csv(REFERENCE_DIR / COMPOSITE_FILE)
    return dict(zip(frame["quantity"], frame["value"].astype(float)))


def cell_means(
    arms: Sequence[str],
    reference_arm: str = "control",
    parameters: SimulationParameters | None = None,
) -> pd.DataFrame:
    """Expected score of every (arm, period, dimension) cell.

    Parameters
    ----------
    arms : sequence of str
        Arms of the design.  The reference arm takes the published intercept
        and ``post`` terms; every other arm needs either published effects
        (a term of that name in the published table) or an entry in
        ``parameters.arm_effects``.
    reference_arm : str
        Name of the arm that plays the published control group.
    parameters : SimulationParameters, optional
        Source of ``arm_effects``; defaults to ``SimulationParameters()``.

    Returns
    -------
    pandas.DataFrame
        Columns ``arm``, ``post`` (0 or 1), ``dimension`` and ``mean``, in the
        order of ``arms``, then ``post``, then ``DIMENSIONS``.

    Raises
    ------
    ValueError
        If an arm has no calibration target or a target lies outside the
        open score range.
    """
    parameters = parameters or SimulationParameters()
    if reference_arm in parameters.arm_effects:
        raise ConfigError(f"The reference arm {reference_arm!r} cannot have arm_effects.")
    table = load_published_primary().set_index(["outcome", "term"])["estimate"]
    terms = set(table.index.get_level_values("term"))
    published_arms = sorted(t for t in terms if ":" not in t and t not in ("intercept", "post"))
    rows = []
    for arm in arms:
        known = arm == reference_arm or arm in parameters.arm_effects or arm in published_arms
        if not known:
            raise ConfigError(
                f"No calibration target for arm {arm!r}: the published table has effects only for "
                f"{published_arms} (relative to the reference arm {reference_arm!r}); give its "
                "effects in SimulationParameters.arm_effects."
            )
        for post in (0, 1):
            for dimension in DIMENSIONS:
                mean = table[(dimension, "intercept")] + post * table[(dimension, "post")]
                if arm in parameters.arm_effects:
                    shift, shift_post = parameters.arm_effects[arm][dimension]
                    mean += shift + post * shift_post
                elif arm != reference_arm:
                    mean += table[(dimension, arm)] + post * table[(dimension, f"{arm}:post")]
                if not SCORE_MIN < mean < SCORE_MAX:
                    raise ConfigError(
                        f"Target mean {mean:.3f} of {dimension} in arm {arm!r} (post={post}) is "
                        f"outside the open score range ({SCORE_MIN:g}, {SCORE_MAX:g})."
                    )
                rows.append((arm, post, dimension, float(mean)))
    return pd.DataFrame(rows, columns=["arm", "post", "dimension", "mean"])


def _discretised_moments(
    location: float | np.ndarray, scale: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and variance of ``clip(round(N(location, scale**2)), 1, 5)``."""
    location = np.asarray(location, dtype=float)[..., None]
    scale = np.asarray(scale, dtype=float)[..., None]
    exceed = ndtr((location - _BIN_EDGES) / scale)
    mean = SCORE_MIN + exceed.sum(axis=-1)
    second = SCORE_MIN**2 + (exceed * _SQUARE_STEPS).sum(axis=-1)
    return mean, second - mean**2


def solve_location(target: float, scale: float) -> float:
    """Latent location whose discretised mean equals ``target``."""
    span = 10.0 * scale + SCORE_MAX
    return optimize.brentq(
        lambda m: _discretised_moments(m, scale)[0] - target,
        target - span,
        target + span,
        xtol=1e-13,
    )


@lru_cache(maxsize=256)
def solve_dimension(
    targets: tuple[float, ...], weights: tuple[float, ...], residual_variance: float
) -> tuple[float, tuple[float, ...]]:
    """Scale and locations of one dimension (cached: pure in its arguments)."""
    weight = np.asarray(weights) / np.sum(weights)

    def locations(scale: float) -> np.ndarray:
        return np.array([solve_location(t, scale) for t in targets])

    def excess(scale: float) -> float:
        variance = _discretised_moments(locations(scale), scale)[1]
        return float(weight @ variance) - residual_variance

    low, high = 0.05, 50.0
    if excess(low) > 0 or excess(high) < 0:
        raise ConfigError(
            f"A residual SE of {np.sqrt(residual_variance):.3f} is not attainable for "
            f"integer scores with cell means {targets}."
        )
    scale = optimize.brentq(excess, low, high, xtol=1e-12)
    return scale, tuple(locations(scale))


def solve_latent_parameters(
    arm_sizes: Mapping[str, int],
    reference_arm: str = "control",
    parameters: SimulationParameters | None = None,
) -> pd.DataFrame:
    """Solve the latent locations and scales that calibrate the integer scores.

    Parameters
    ----------
    arm_sizes : Mapping[str, int]
        Participants per arm; they weight the cells (by their degrees of
        freedom) when matching the pooled within-cell SD to the published
        residual SE.
    reference_arm : str
        Arm that plays the published control group.
    parameters : SimulationParameters, optional
        Model constants (only ``arm_effects`` matters here).

    Returns
    -------
    pandas.DataFrame
        One row per (arm, post, dimension) with columns ``arm``, ``post``,
        ``dimension``, ``mean`` (target expected score), ``location`` and
        ``scale`` (of the latent normal), ``expected_mean`` and
        ``expected_sd`` (exact moments of the resulting integer score).

    Raises
    ------
    ValueError
        For an arm without calibration target or an unattainable target.
    """
    sizes = _check_arm_sizes(arm_sizes)
    cells = cell_means(list(sizes), reference_arm, parameters)
    residual_se = load_published_fit().set_index("outcome")["residual_se"]
    n_cell = cells["arm"].map(sizes).to_numpy(dtype=float) * np.where(
        cells["post"].to_numpy() == 1, CONVERSATIONS_PER_PARTICIPANT - 1, 1
    )
    degrees = np.clip(n_cell - 1.0, 0.0, None)
    cells = cells.assign(location=np.nan, scale=np.nan)
    for dimension in DIMENSIONS:
        mask = (cells["dimension"] == dimension).to_numpy()
        weights = degrees[mask] if degrees[mask].sum() > 0 else n_cell[mask]
        scale, locations = solve_dimension(
            tuple(cells.loc[mask, "mean"]),
            tuple(float(x) for x in weights),
            float(residual_se[dimension]) ** 2,
        )
        cells.loc[mask, "location"] = locations
        cells.loc[mask, "scale"] = scale
    mean, variance = _discretised_moments(cells["location"].to_numpy(), cells["scale"].to_numpy())
    return cells.assign(expected_mean=mean, expected_sd=np.sqrt(variance))


def _check_arm_sizes(arm_sizes: Mapping[str, int]) -> dict[str, int]:
    """Validate the design and return it as a plain dict."""
    if not arm_sizes:
        raise ConfigError("arm_sizes must name at least one arm.")
    sizes = {}
    for arm, size in arm_sizes.items():
        if not isinstance(arm, str) or not arm:
            raise ConfigError(f"Arm names must be non-empty strings, got {arm!r}.")
        if int(size) != size or size < 0:
            raise ConfigError(f"Size of arm {arm!r} must be a non-negative integer, got {size!r}.")
        sizes[arm] = int(size)
    if sum(sizes.values()) == 0:
        raise ConfigError("The design has no participants.")
    return sizes


def _first_scenarios(
    counts: Mapping[str, int] | None, n: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Shuffled first-scenario indices honouring ``counts`` exactly."""
    if counts is None:
        return None
    unknown = set(counts) - set(_SCENARIOS)
    if unknown:
        raise ConfigError(f"Unknown scenarios in first_scenario_counts: {sorted(unknown)}.")
    values = np.array([counts.get(s, 0) for s in _SCENARIOS])
    if np.any(values < 0) or np.any(values != np.round(values)):
        raise ConfigError("first_scenario_counts must be non-negative integers.")
    if values.sum() != n:
        raise ConfigError(
            f"first_scenario_counts sum to {int(values.sum())} but the design has "
            f"{n} participants."
        )
    return rng.permutation(np.repeat(np.arange(len(_SCENARIOS)), values.astype(int)))


def _ordinal(latent: np.ndarray, probabilities: Sequence[float]) -> np.ndarray:
    """Cut a standard normal latent into categories 1..K with given marginals."""
    thresholds = ndtri(np.cumsum(probabilities)[:-1])
    return (np.searchsorted(thresholds, latent) + 1).astype(np.int64)


def _standardise(values: np.ndarray) -> np.ndarray:
    """Centre and scale to unit SD (no-op scale for constant input)."""
    sd = values.std()
    return (values - values.mean()) / (sd if sd > 0 else 1.0)


def _pick(bank: Sequence[str], index: np.ndarray) -> np.ndarray:
    """Object array of ``bank[index]``."""
    return np.asarray(bank, dtype=object)[index]


def _theme_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per theme: dimension index, shares and training shifts per trouble type, variant texts.

    The shares are the theme weights normalised to sum to 1 within each dimension and trouble type.
    """
    dimension = np.array([DIMENSIONS.index(theme.dimension) for theme in PHRASE_THEMES])
    weights = np.array([theme.weights for theme in PHRASE_THEMES], dtype=float)
    totals = np.zeros((len(DIMENSIONS), len(TROUBLE_TYPES)))
    np.add.at(totals, dimension, weights)
    shares = weights / totals[dimension]
    shifts = np.array([theme.training_shift for theme in PHRASE_THEMES], dtype=float)
    variants = [np.asarray([v + " " for v in theme.variants], dtype=object) for theme in PHRASE_THEMES]
    return dimension, shares, shifts, variants


def _skip_version_one_phrase_draws(rng: np.random.Generator, n_msg: int) -> None:
    """Advance the main stream past the phrase draws of the first message generator.

    The first version drew its phrases from the main stream, between the message layout and the
    judges' noise. Making exactly the same draws here (and discarding them) keeps every score of
    a seed identical to that version, while the phrases now come from their own stream.
    """
    for bank_size in _VERSION_ONE_BANK_SIZES:
        rng.random(n_msg)
        rng.integers(bank_size, size=n_msg)


def _supporter_phrases(
    latent: np.ndarray,
    trouble: np.ndarray,
    trained: np.ndarray,
    parameters: SimulationParameters,
    rng: np.random.Generator,
) -> np.ndarray:
    """Planted phrases of supporter messages (one row of ``latent`` per message).

    Theme *t* of dimension *d* appears in a message independently of the other themes, with
    probability ``min(1, p_d * share_t * exp(shift_t * scale * trained))`` where
    ``p_d = floor + (ceiling - floor) * Phi(z_d - 3)`` follows the conversation's judge-free latent
    score, ``share_t`` is the theme's share of its dimension for the message's trouble type and
    ``trained`` is 1 in the post conversations of non-reference arms.  Returns the phrases (each
    followed by a space, themes in ``PHRASE_THEMES`` order) as an object array.
    """
    dimension, shares, shifts, variants = _theme_arrays()
    floor, ceiling = parameters.phrase_floor, parameters.phrase_ceiling
    rate = floor + (ceiling - floor) * ndtr(latent[:, dimension] - 3.0)
    shift = shifts[:, trouble].T * parameters.phrase_training_shift * trained[:, None]
    probability = np.minimum(rate * shares[:, trouble].T * np.exp(shift), 1.0)
    used = rng.random(probability.shape) < probability
    pick = rng.random(probability.shape)
    text = np.full(len(latent), "", dtype=object)
    for t, bank in enumerate(variants):
        rows = np.flatnonzero(used[:, t])
        text[rows] = text[rows] + bank[(pick[rows, t] * len(bank)).astype(np.int64)]
    return text


def _phrase_generator(seed: int) -> np.random.Generator:
    """The planted phrases' generator: child ``PHRASE_STREAM`` of the seed's SeedSequence."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(PHRASE_STREAM + 1)[PHRASE_STREAM])


def _messages(
    conversation_ids: np.ndarray,
    scenario: np.ndarray,
    trouble: np.ndarray,
    latent: np.ndarray,
    trained: np.ndarray,
    mean_messages: float,
    parameters: SimulationParameters,
    rng: np.random.Generator,
    phrase_rng: np.random.Generator,
) -> pd.DataFrame:
    """Build the messages table (vectorised over messages).

    The layout (messages per conversation, seeker follow-ups, filler) comes from the main stream
    ``rng``, the supporters' planted phrases from ``phrase_rng``.
    """
    n_conv = len(conversation_ids)
    counts = 2 + rng.poisson(mean_messages - 2.0, size=n_conv)
    owner = np.repeat(np.arange(n_conv), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    turn = np.arange(len(owner)) - starts + 1
    supporter = turn % 2 == 0
    n_msg = len(owner)

    opening = _pick(list(SCENARIO_OPENING_LINES.values()), scenario[owner])
    follow_bank = np.array([SEEKER_FOLLOW_UPS[t] for t in TROUBLE_TYPES], dtype=object)
    follow = follow_bank[trouble[owner], rng.integers(follow_bank.shape[1], size=n_msg)]
    seeker_text = np.where(turn == 1, opening, follow)

    prefix = rng.random(n_msg) < parameters.filler_rate
    filler_index = rng.integers(len(FILLER_PHRASES), size=n_msg)
    _skip_version_one_phrase_draws(rng, n_msg)
    filler = _pick([f + " " for f in FILLER_PHRASES], filler_index)

    rows = np.flatnonzero(supporter)
    phrases = np.full(n_msg, "", dtype=object)
    phrases[rows] = _supporter_phrases(
        latent[owner[rows]], trouble[owner[rows]], trained[owner[rows]], parameters, phrase_rng
    )
    fallback = np.where((phrases == "") & ~prefix, filler, "")
    text = np.where(prefix, filler, "") + phrases + fallback
    supporter_text = pd.Series(text, dtype=object).str.rstrip(" ").to_numpy()

    return pd.DataFrame(
        {
            "conversation_id": conversation_ids[owner],
            "turn": turn.astype(np.int64),
            "role": np.where(supporter, ROLES[1], ROLES[0]),
            "text": np.where(supporter, supporter_text, seeker_text),
        }
    )


def simulate_cohort(
    arm_sizes: Mapping[str, int],
    seed: int,
    judges: Sequence[str] = ("gpt-4o",),
    first_scenario_counts: Mapping[str, int] | None = None,
    messages_per_conversation: float = 11.7,
    reference_arm: str = "control",
    parameters: SimulationParameters | None = None,
) -> CohortTables:
    """Simulate one cohort in the native data contract.

    Parameters
    ----------
    arm_sizes : Mapping[str, int]
        Participants per arm, e.g. ``DEFAULT_ARM_SIZES``.  Arms other than the
        reference arm and the published ones (video, coach, combined) need
        their effects in ``parameters.arm_effects``.
    seed : int
        Seed of ``numpy.random.default_rng``, the only source of randomness;
        equal arguments give equal tables.
    judges : sequence of str
        Names of the LLM judges; every judge scores every conversation on
        every dimension and each judge's scores are calibrated.
    first_scenario_counts : Mapping[str, int], optional
        Exact number of participants whose first conversation has each
        scenario (must sum to the number of participants); uniformly random
        when omitted.
    messages_per_conversation : float
        Expected number of messages per conversation (at least 2).
    reference_arm : str
        Arm that plays the published control group (intercept and ``post``).
    parameters : SimulationParameters, optional
        Constants of the generating model; defaults to
        ``SimulationParameters()``.

    Returns
    -------
    CohortTables
        ``participants``, ``conversations``, ``messages`` and ``scores``
        sorted by their keys.

    Raises
    ------
    ValueError
        For an arm without calibration target, first-scenario counts that do
        not match the design, invalid judges or a mean number of messages
        below 2.

    Notes
    -----
    The judge-specific noise is drawn last, judge by judge in the order
    given, so appending judges leaves the participants, conversations,
    messages and the earlier judges' scores unchanged.
    """
    parameters = parameters or SimulationParameters()
    sizes = _check_arm_sizes(arm_sizes)
    judges = tuple(judges)
    valid = all(isinstance(j, str) and j for j in judges)
    if not judges or len(set(judges)) != len(judges) or not valid:
        raise ConfigError(f"judges must be distinct non-empty strings, got {judges!r}.")
    if not np.isfinite(messages_per_conversation) or messages_per_conversation < 2:
        raise ConfigError("messages_per_conversation must be a finite number of at least 2.")
    latent_cells = solve_latent_parameters(sizes, reference_arm, parameters)
    arms = list(sizes)
    n = sum(sizes.values())
    n_dim = len(DIMENSIONS)
    k = CONVERSATIONS_PER_PARTICIPANT
    rng = np.random.default_rng(seed)

    arm_index = rng.permutation(np.repeat(np.arange(len(arms)), list(sizes.values())))
    first = _first_scenarios(first_scenario_counts, n, rng)
    keys = rng.random((n, len(_SCENARIOS)))
    if first is not None:
        keys[np.arange(n), first] = -1.0
    scenario = np.argsort(keys, axis=1)[:, :k]

    width = max(4, len(str(n)))
    numbers = np.char.zfill(np.arange(1, n + 1).astype(str), width)
    participant_ids = np.char.add("P", numbers).astype(object)
    suffixes = np.array([f"-C{t}" for t in range(1, k + 1)], dtype=object)
    conversation_ids = np.repeat(participant_ids, k) + np.tile(suffixes, n)

    locations = latent_cells["location"].to_numpy().reshape(len(arms), 2, n_dim)
    scales = latent_cells["scale"].to_numpy().reshape(len(arms), 2, n_dim)[0, 0]
    post = (np.arange(k) > 0).astype(int)
    location = locations[arm_index[:, None], post[None, :]]

    lp = np.asarray(parameters.participant_loadings, dtype=float)
    lq = np.asarray(parameters.specific_participant_loadings, dtype=float)
    lc = parameters.conversation_loading
    unique = 1.0 - lp - lq - lc
    g = rng.standard_normal(n)
    f = rng.standard_normal((n, n_dim))
    h = rng.standard_normal((n, k))
    e_shared = rng.standard_normal((n, k, n_dim))
    common = _SIGNS * (np.sqrt(lp) * g[:, None, None] + np.sqrt(lc) * h[:, :, None])
    common = common + np.sqrt(lq) * f[:, None, :]
    shared = common + np.sqrt(unique * parameters.judge_agreement) * e_shared
    latent_true = location + scales * shared

    participants = _participants(participant_ids, [arms[a] for a in arm_index], g, parameters, rng)
    conversations = _conversations(
        participant_ids, conversation_ids, scenario, latent_true, parameters, rng
    )
    trouble_index = np.array([TROUBLE_TYPES.index(SCENARIO_TROUBLE_TYPE[s]) for s in _SCENARIOS])
    flat_scenario = scenario.reshape(-1)
    trained = (np.asarray(arms)[arm_index] != reference_arm)[:, None] & (post[None, :] == 1)
    messages = _messages(
        conversation_ids,
        flat_scenario,
        trouble_index[flat_scenario],
        latent_true.reshape(n * k, n_dim),
        trained.reshape(-1).astype(float),
        messages_per_conversation,
        parameters,
        rng,
        _phrase_generator(seed),
    )

    judge_scale = np.sqrt(unique * (1.0 - parameters.judge_agreement))
    scores = np.empty((n * k, len(judges), n_dim), dtype=np.int64)
    for j in range(len(judges)):
        noise = judge_scale * rng.standard_normal((n, k, n_dim))
        z = latent_true + scales * noise
        scores[:, j, :] = np.clip(np.floor(z + 0.5), SCORE_MIN, SCORE_MAX).reshape(n * k, n_dim)
    score_table = pd.DataFrame(
        {
            "conversation_id": np.repeat(conversation_ids, len(judges) * n_dim),
            "judge": np.tile(np.repeat(np.array(judges, dtype=object), n_dim), n * k),
            "dimension": np.tile(np.array(DIMENSIONS, dtype=object), n * k * len(judges)),
            "score": scores.reshape(-1),
        }
    )

    return CohortTables(
        participants=_sorted(participants, ["participant_id"]),
        conversations=_sorted(conversations, ["conversation_id"]),
        messages=_sorted(messages, ["conversation_id", "turn"]),
        scores=_sorted(score_table, ["conversation_id", "judge", "dimension"]),
    )


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Stable sort by ``keys`` with a fresh index."""
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _participants(
    participant_ids: np.ndarray,
    arms: list[str],
    g: np.ndarray,
    parameters: SimulationParameters,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Participants table: arm, demographics and trait-empathy items."""
    n = len(participant_ids)
    age = np.clip(np.round(rng.normal(parameters.age_mean, parameters.age_sd, n)), 18, 75)
    sex_index = rng.choice(len(SEXES), size=n, p=parameters.sex_probabilities)
    sex = np.asarray(SEXES, dtype=object)[sex_index]
    a_j, a_s = parameters.jordan_loading, parameters.sites_loading
    trait = a_j * g + np.sqrt(1 - a_j**2) * rng.standard_normal(n)
    r = parameters.sites_jordan_correlation
    sites_rest = r * trait + np.sqrt(1 - r**2) * rng.standard_normal(n)
    sites = a_s * g + np.sqrt(1 - a_s**2) * sites_rest
    loading = parameters.jordan_item_loading
    n_jordan = len(EMPATHY_ITEMS) - 1
    items = loading * trait[:, None] + np.sqrt(1 - loading**2) * rng.standard_normal((n, n_jordan))
    probabilities = parameters.trait_item_probabilities
    answers = np.column_stack([_ordinal(items, probabilities), _ordinal(sites, probabilities)])
    frame = pd.DataFrame(
        {
            "participant_id": participant_ids,
            "arm": np.asarray(arms, dtype=object),
            "age": age.astype(np.int64),
            "sex": sex,
        }
    )
    return pd.concat([frame, pd.DataFrame(answers, columns=list(EMPATHY_ITEMS))], axis=1)


def _conversations(
    participant_ids: np.ndarray,
    conversation_ids: np.ndarray,
    scenario: np.ndarray,
    latent_true: np.ndarray,
    parameters: SimulationParameters,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Conversations table: scenario, trouble type and self-ratings."""
    n, k, n_dim = latent_true.shape
    flat = latent_true.reshape(n * k, n_dim)
    composite = _standardise(flat @ _SIGNS)
    targets = (
        composite,
        _standardise(flat[:, DIMENSIONS.index("encouraging_elaboration")]),
        _standardise(flat[:, DIMENSIONS.index("demonstrating_understanding")]),
        composite,
    )
    style = np.repeat(rng.standard_normal(n), k)
    a = parameters.self_rating_style
    ratings = {}
    for name, loading, target in zip(SELF_RATINGS, parameters.self_rating_loadings, targets):
        rest = np.sqrt(a) * style + np.sqrt(1 - a) * rng.standard_normal(n * k)
        latent = loading * target + np.sqrt(1 - loading**2) * rest
        ratings[name] = _ordinal(latent, parameters.self_rating_probabilities)
    scenario_names = np.asarray(_SCENARIOS, dtype=object)[scenario.reshape(-1)]
    trouble = pd.Series(scenario_names).map(SCENARIO_TROUBLE_TYPE).to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "conversation_id": conversation_ids,
            "participant_id": np.repeat(participant_ids, k),
            "conversation_number": np.tile(np.arange(1, k + 1, dtype=np.int64), n),
            "scenario": scenario_names,
            "trouble_type": trouble,
            **ratings,
        }
    )


def code_planted_themes(messages: pd.DataFrame) -> pd.DataFrame:
    """Theme codes of the planted expressions in simulated supporter messages.

    Plays the classifier of a real cohort's ``themes.csv``: a supporter
    message is coded with a theme of :data:`PHRASE_THEMES` when its text
    contains one of the theme's variants verbatim.  Because no variant
    occurs inside a variant of another theme, the codes are exactly the
    themes the simulator planted.

    Parameters
    ----------
    messages : pandas.DataFrame
        A messages table of the native contract (``conversation_id``,
        ``turn``, ``role``, ``text``).

    Returns
    -------
    pandas.DataFrame
        The ``themes.csv`` table: ``conversation_id``, ``turn``, ``theme``,
        ``category``, one row per coded (message, theme), sorted by
        conversation, turn and theme.
    """
    supporter = messages[messages["role"] == ROLES[1]]
    text = supporter["text"].fillna("").astype(str)
    codes = []
    for theme in PHRASE_THEMES:
        pattern = "|".join(re.escape(variant) for variant in theme.variants)
        hit = supporter.loc[text.str.contains(pattern, regex=True).to_numpy(), ["conversation_id", "turn"]]
        codes.append(hit.assign(theme=theme.theme, category=theme.category))
    table = pd.concat(codes, ignore_index=True)
    return _sorted(table, ["conversation_id", "turn", "theme"])


def planted_training_shifts() -> pd.DataFrame:
    """The planted themes and their training shifts, one row per theme and trouble type.

    Returns
    -------
    pandas.DataFrame
        ``theme``, ``category``, ``dimension``, ``trouble_type``, ``share``
        (the theme's share of its dimension), ``training_shift`` (log rate
        ratio in the post conversations of non-reference arms at
        ``phrase_training_shift = 1``) and ``direction`` (``rising``,
        ``falling`` or ``none``).
    """
    _, shares, shifts, _ = _theme_arrays()
    rows = [
        {
            "theme": theme.theme,
            "category": theme.category,
            "dimension": theme.dimension,
            "trouble_type": trouble,
            "share": float(shares[t, j]),
            "training_shift": float(shifts[t, j]),
        }
        for t, theme in enumerate(PHRASE_THEMES)
        for j, trouble in enumerate(TROUBLE_TYPES)
    ]
    table = pd.DataFrame(rows)
    table["direction"] = np.select(
        [table["training_shift"] > 0, table["training_shift"] < 0], ["rising", "falling"], "none"
    )
    return table
