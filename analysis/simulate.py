"""Simulate a Lend an Ear cohort calibrated to the published primary analysis.

The simulator produces the four native tables (participants, conversations,
messages, scores; see :class:`analysis.cohort.CohortTables`) for an arbitrary
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
  Every supporter message draws, for each dimension, a phrase from that
  dimension's bank (:data:`PHRASE_BANKS`) with a probability that rises
  with the conversation's judge-free latent score on the dimension; neutral
  filler is used when nothing else was drawn.  Seeker follow-ups come from a
  small bank per trouble type.  Some texts contain commas, double quotes and
  embedded newlines.  The text column is built with array indexing and
  element-wise string concatenation, without loops over rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from analysis.cohort import CohortTables
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

REFERENCE_DIR = Path(__file__).parent / "reference"
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

PHRASE_BANKS: dict[str, tuple[str, ...]] = {
    "validating_emotions": (
        "That sounds really hard.",
        "I'm so sorry you're going through this.",
        "That must be so painful.",
        "Your feelings are completely valid, anyone would be upset.",
        'It\'s okay to feel "not okay" right now.',
    ),
    "encouraging_elaboration": (
        "Tell me more about how you're feeling?",
        "What has been the hardest part for you?",
        "How are you holding up, honestly?",
        "Do you want to talk about what happened?",
        "What's going through your mind right now?",
    ),
    "demonstrating_understanding": (
        "It makes sense that you'd feel let down after all that effort.",
        "So the shock is mixing with a kind of sadness, is that right?",
        "It seems like you feel unseen, even though you gave it everything.",
        "I can tell this hit you harder because you cared so much.",
    ),
    "advice_giving": (
        "Maybe you should update your resume and start applying.",
        "Have you tried talking to a counselor about it?",
        "You could make a list of next steps:\n1. rest, 2. reach out, 3. plan.",
        "I'd suggest taking a walk and getting some fresh air.",
        "You should try to focus on the positives.",
    ),
    "self_oriented": (
        "When I lost my job I just went to the gym.",
        "I went through something similar last year, and it was rough for me too.",
        "That reminds me of when my grandmother was sick.",
        "The same thing happened to me once, so I get it.",
    ),
    "dismissing_emotions": (
        "Everything will be okay, don't worry about it.",
        "At least you still have your health.",
        "Try not to think about it too much.",
        "It's not the end of the world, things happen for a reason.",
        'Look on the bright side, "every cloud has a silver lining".',
    ),
}
FILLER_PHRASES: tuple[str, ...] = ("Okay.", "I see.", "Hmm, right.", "Got it.", "Oh, okay.")
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
    age_mean: float = 38.0
    age_sd: float = 12.0
    sex_probabilities: tuple[float, float, float] = (0.52, 0.46, 0.02)

    def __post_init__(self) -> None:
        """Check that the constants define a valid model."""
        common = np.asarray(self.participant_loadings, dtype=float)
        specific = np.asarray(self.specific_participant_loadings, dtype=float)
        if common.shape != (len(DIMENSIONS),) or specific.shape != (len(DIMENSIONS),):
            raise ValueError(f"Participant loadings need {len(DIMENSIONS)} values each.")
        if np.any(common < 0) or np.any(specific < 0) or self.conversation_loading < 0:
            raise ValueError("Loadings must be non-negative.")
        if np.any(common + specific + self.conversation_loading >= 1):
            raise ValueError(
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
                raise ValueError(f"{name} must lie in [0, 1], got {value}.")
        correlations = (
            self.jordan_loading,
            self.sites_loading,
            self.jordan_item_loading,
            self.sites_jordan_correlation,
            *self.self_rating_loadings,
        )
        if any(abs(value) >= 1 for value in correlations):
            raise ValueError("Loadings and correlations must lie strictly between -1 and 1.")
        if len(self.self_rating_loadings) != len(SELF_RATINGS):
            raise ValueError(f"self_rating_loadings needs {len(SELF_RATINGS)} values.")
        for name in ("trait_item_probabilities", "self_rating_probabilities", "sex_probabilities"):
            probabilities = np.asarray(getattr(self, name), dtype=float)
            n_scores = int(SCORE_MAX - SCORE_MIN) + 1
            expected = len(SEXES) if name == "sex_probabilities" else n_scores
            if len(probabilities) != expected or np.any(probabilities < 0):
                raise ValueError(f"{name} must be {expected} non-negative probabilities.")
            if not np.isclose(probabilities.sum(), 1.0):
                raise ValueError(f"{name} must sum to 1.")
        for arm, effects in self.arm_effects.items():
            missing = set(DIMENSIONS) - set(effects)
            if missing:
                raise ValueError(f"arm_effects[{arm!r}] lacks dimensions {sorted(missing)}.")


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
        raise ValueError(f"The reference arm {reference_arm!r} cannot have arm_effects.")
    table = load_published_primary().set_index(["outcome", "term"])["estimate"]
    terms = set(table.index.get_level_values("term"))
    published_arms = sorted(t for t in terms if ":" not in t and t not in ("intercept", "post"))
    rows = []
    for arm in arms:
        known = arm == reference_arm or arm in parameters.arm_effects or arm in published_arms
        if not known:
            raise ValueError(
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
                    raise ValueError(
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


def _solve_location(target: float, scale: float) -> float:
    """Latent location whose discretised mean equals ``target``."""
    span = 10.0 * scale + SCORE_MAX
    return brentq(
        lambda m: _discretised_moments(m, scale)[0] - target,
        target - span,
        target + span,
        xtol=1e-13,
    )


@lru_cache(maxsize=256)
def _solve_dimension(
    targets: tuple[float, ...], weights: tuple[float, ...], residual_variance: float
) -> tuple[float, tuple[float, ...]]:
    """Scale and locations of one dimension (cached: pure in its arguments)."""
    weight = np.asarray(weights) / np.sum(weights)

    def locations(scale: float) -> np.ndarray:
        return np.array([_solve_location(t, scale) for t in targets])

    def excess(scale: float) -> float:
        variance = _discretised_moments(locations(scale), scale)[1]
        return float(weight @ variance) - residual_variance

    low, high = 0.05, 50.0
    if excess(low) > 0 or excess(high) < 0:
        raise ValueError(
            f"A residual SE of {np.sqrt(residual_variance):.3f} is not attainable for "
            f"integer scores with cell means {targets}."
        )
    scale = brentq(excess, low, high, xtol=1e-12)
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
        scale, locations = _solve_dimension(
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
        raise ValueError("arm_sizes must name at least one arm.")
    sizes = {}
    for arm, size in arm_sizes.items():
        if not isinstance(arm, str) or not arm:
            raise ValueError(f"Arm names must be non-empty strings, got {arm!r}.")
        if int(size) != size or size < 0:
            raise ValueError(f"Size of arm {arm!r} must be a non-negative integer, got {size!r}.")
        sizes[arm] = int(size)
    if sum(sizes.values()) == 0:
        raise ValueError("The design has no participants.")
    return sizes


def _first_scenarios(
    counts: Mapping[str, int] | None, n: int, rng: np.random.Generator
) -> np.ndarray | None:
    """Shuffled first-scenario indices honouring ``counts`` exactly."""
    if counts is None:
        return None
    unknown = set(counts) - set(_SCENARIOS)
    if unknown:
        raise ValueError(f"Unknown scenarios in first_scenario_counts: {sorted(unknown)}.")
    values = np.array([counts.get(s, 0) for s in _SCENARIOS])
    if np.any(values < 0) or np.any(values != np.round(values)):
        raise ValueError("first_scenario_counts must be non-negative integers.")
    if values.sum() != n:
        raise ValueError(
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


def _messages(
    conversation_ids: np.ndarray,
    scenario: np.ndarray,
    trouble: np.ndarray,
    latent: np.ndarray,
    mean_messages: float,
    parameters: SimulationParameters,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Build the messages table (vectorised over messages)."""
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

    text = np.full(n_msg, "", dtype=object)
    prefix = rng.random(n_msg) < parameters.filler_rate
    filler_index = rng.integers(len(FILLER_PHRASES), size=n_msg)
    filler = _pick([f + " " for f in FILLER_PHRASES], filler_index)
    text = text + np.where(prefix, filler, "")
    used_any = np.zeros(n_msg, dtype=bool)
    floor, ceiling = parameters.phrase_floor, parameters.phrase_ceiling
    for d, dimension in enumerate(DIMENSIONS):
        bank = [p + " " for p in PHRASE_BANKS[dimension]]
        probability = floor + (ceiling - floor) * ndtr(latent[owner, d] - 3.0)
        used = rng.random(n_msg) < probability
        text = text + np.where(used, _pick(bank, rng.integers(len(bank), size=n_msg)), "")
        used_any |= used
    fallback = np.where(~used_any & ~prefix, filler, "")
    supporter_text = pd.Series(text + fallback, dtype=object).str.rstrip(" ").to_numpy()

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
        raise ValueError(f"judges must be distinct non-empty strings, got {judges!r}.")
    if not np.isfinite(messages_per_conversation) or messages_per_conversation < 2:
        raise ValueError("messages_per_conversation must be a finite number of at least 2.")
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
    messages = _messages(
        conversation_ids,
        flat_scenario,
        trouble_index[flat_scenario],
        latent_true.reshape(n * k, n_dim),
        messages_per_conversation,
        parameters,
        rng,
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
