"""Simulate the perception task and an LLM's Elo ratings for a simulated cohort (SYNTHETIC).

The optional cohort files ``perception.csv`` and ``elo.csv`` (see :mod:`analysis.cohorts.optional`) are
generated from a simulated cohort's conversations and judges' scores, calibrated to the published
perception results: about 1,500 choices over about 150 conversations, a logit slope of 0.144
log-odds per composite point for choosing the higher-composite conversation, and a Spearman
correlation of 0.849 between the Bradley-Terry ranking from the human choices and the LLM's Elo
ranking.

Generating model
----------------
1. **Conversations.** ``n_conversations`` conversations are drawn without replacement, as evenly
   as possible across scenarios. Their composite ``c`` is computed from ``scores.csv`` as the
   registered judge aggregation and composite define it; ``z`` is ``c`` standardised over the
   selection.
2. **Perceived quality.** Each conversation has a perceived quality shared by human raters and
   the LLM, ``q = rho * z + sqrt(1 - rho**2) * e`` with ``e`` standard normal (``rho`` =
   ``perceived_correlation``).
3. **Pairs.** ``n_raters`` raters each judge ``pairs_per_rater`` pairs; a pair is a conversation
   drawn uniformly and a second one drawn uniformly from the other selected conversations of its
   scenario; the sides (left/right) are random.
4. **Choices.** Bradley-Terry in the perceived quality: ``P(choose i over j) = expit(beta * (q_i -
   q_j))``. Given the gap, the probability of choosing the higher-composite conversation is the
   logistic-normal ``E[expit(beta * rho * |dz| + beta * sqrt(2 (1 - rho**2)) Z)]``, a logistic rule
   in the absolute gap. ``beta`` is solved at run time (``scipy.optimize.brentq``) so that the
   registered logit (``|gap|`` plus scenario dummies) fitted to these expected probabilities on
   the drawn pairs has exactly the target slope; the fitted slope on the simulated choices
   therefore scatters around 0.144. With ``rho = 1`` the rule is exactly ``expit(beta * |gap| /
   sd(c))``.
5. **Elo.** ``elo = elo_mean + elo_sd * (lambda * q_std + sqrt(1 - lambda**2) * u)`` with ``u``
   standard normal, rounded to 0.1. ``lambda`` is solved so that the expected Pearson correlation
   of the Bradley-Terry estimates with Elo, ``lambda * sqrt(R)``, equals ``2 sin(pi rho_s / 6)``
   (the Pearson correlation whose Spearman is the target ``rho_s`` for normal variables). ``R`` is
   the reliability of the Bradley-Terry estimates from their Fisher information on the drawn pairs,
   ``var(beta q) / (var(beta q) + mean(1 / information))``.

Why a perceived quality and not the composite itself: with about 20 comparisons per conversation
and a slope of 0.144 per point, Bradley-Terry estimates from choices that follow the composite
alone correlate only about .78 (Spearman) with the composite, so no ranking tied to the composite
could reach .849 with them. The published pair of numbers implies that people and the LLM share a
sense of quality beyond the judge's composite; ``perceived_correlation`` (default .65) sets how
much. Raters are homogeneous (no rater effects).

Randomness comes from ``numpy.random.default_rng([seed, stream])``: the cohort's seed and a fixed
stream number, so the perception data do not disturb the cohort's own draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from analysis.cohorts.outcomes import aggregate_judges

__all__ = [
    "expected_slope", "PUBLISHED_SLOPE", "PUBLISHED_BT_ELO_SPEARMAN", "PerceptionSimulationParameters",
    "conversation_composite", "select_conversations", "draw_pairs", "expected_choice_probability", "calibrate_choice_scale",
    "calibrate_elo_loading", "simulate_perception",
]

PUBLISHED_SLOPE = 0.144
PUBLISHED_BT_ELO_SPEARMAN = 0.849


@dataclass(frozen=True)
class PerceptionSimulationParameters:
    """Constants of the perception simulator (see the module docstring).

    Attributes
    ----------
    n_conversations : int
        Conversations shown in the task (spread evenly over scenarios).
    n_raters, pairs_per_rater : int
        Raters and pairs each rater judges (``n_raters * pairs_per_rater`` choices).
    slope : float
        Target logit slope per composite point of choosing the higher-composite conversation.
    perceived_correlation : float
        ``rho``, correlation of the perceived quality with the standardised composite, in (0, 1].
    bt_elo_spearman : float
        Target Spearman correlation of the Bradley-Terry ranking with Elo.
    elo_mean, elo_sd : float
        Location and scale of the Elo ratings.
    stream : int
        Stream number combined with the cohort seed.
    """

    n_conversations: int = 150
    n_raters: int = 150
    pairs_per_rater: int = 10
    slope: float = PUBLISHED_SLOPE
    perceived_correlation: float = 0.65
    bt_elo_spearman: float = PUBLISHED_BT_ELO_SPEARMAN
    elo_mean: float = 1500.0
    elo_sd: float = 150.0
    stream: int = 4

    def __post_init__(self) -> None:
        """Check that the constants define a valid design."""
        if min(self.n_conversations, self.n_raters, self.pairs_per_rater) < 1:
            raise ValueError("n_conversations, n_raters and pairs_per_rater must be positive")
        if not 0 < self.perceived_correlation <= 1:
            raise ValueError(f"perceived_correlation must lie in (0, 1], got {self.perceived_correlation}")
        if not 0 < self.bt_elo_spearman < 1:
            raise ValueError(f"bt_elo_spearman must lie in (0, 1), got {self.bt_elo_spearman}")
        if self.slope <= 0 or self.elo_sd <= 0:
            raise ValueError("slope and elo_sd must be positive")


def conversation_composite(conversations: pd.DataFrame, scores: pd.DataFrame, composite: Mapping, aggregation: Mapping) -> pd.DataFrame:
    """Each scored conversation's composite (judges aggregated as registered) and scenario.

    Returns
    -------
    pandas.DataFrame
        conversation_id, scenario, composite; sorted by conversation_id. Conversations without
        a score on every composite dimension are not included (they cannot be shown).
    """
    judged = aggregate_judges(scores, aggregation["method"], aggregation.get("judges", "all"), aggregation.get("judge"))
    dimensions = [*composite["add"], *composite["subtract"]]
    judged = judged.dropna(subset=[d for d in dimensions if d in judged]).copy()
    judged["composite"] = judged[list(composite["add"])].sum(axis=1) - judged[list(composite["subtract"])].sum(axis=1)
    table = conversations[["conversation_id", "scenario"]].merge(judged[["conversation_id", "composite"]], on="conversation_id", how="inner")
    return table.sort_values("conversation_id", kind="stable").reset_index(drop=True)


def select_conversations(table: pd.DataFrame, n_conversations: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw up to ``n_conversations`` conversations, as evenly as possible across scenarios.

    Quotas are ``n // k`` per scenario plus one for the first ``n % k`` scenarios in sorted order,
    capped by what a scenario has; scenarios with fewer than two conversations are not used (a
    pair needs two). Returns the selection sorted by scenario and conversation_id.
    """
    counts = table["scenario"].value_counts().sort_index()
    usable = counts[counts >= 2]
    if usable.empty:
        raise ValueError("no scenario has two scored conversations; the perception task needs pairs within a scenario")
    k = len(usable)
    quotas = np.full(k, n_conversations // k) + (np.arange(k) < n_conversations % k)
    quotas = np.maximum(np.minimum(quotas, usable.to_numpy()), 2)
    keys = rng.random(len(table))
    ranked = table.assign(_key=keys).sort_values(["scenario", "_key"], kind="stable")
    ranked["_rank"] = ranked.groupby("scenario").cumcount()
    quota = ranked["scenario"].map(dict(zip(usable.index, quotas, strict=True)))
    chosen = ranked[ranked["_rank"] < quota.fillna(0)]
    return chosen.drop(columns=["_key", "_rank"]).sort_values(["scenario", "conversation_id"], kind="stable").reset_index(drop=True)


def draw_pairs(selected: pd.DataFrame, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in ``selected``, sorted by scenario) of the two conversations of each pair.

    The first is uniform over the selection, the second uniform over the other conversations of
    its scenario.
    """
    codes, _ = pd.factorize(selected["scenario"])
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    first = rng.integers(0, len(selected), n_pairs)
    group = codes[first]
    within = first - starts[group]
    step = 1 + np.floor(rng.random(n_pairs) * (sizes[group] - 1)).astype(int)
    second = starts[group] + (within + step) % sizes[group]
    return first, second


def expected_choice_probability(mean_difference: np.ndarray, noise_sd: float, nodes: int = 40) -> np.ndarray:
    """``E[expit(m + noise_sd * Z)]`` for standard normal ``Z`` (Gauss-Hermite quadrature)."""
    x, w = np.polynomial.hermite.hermgauss(nodes)
    values = expit(np.asarray(mean_difference, dtype=float)[:, None] + noise_sd * np.sqrt(2.0) * x[None, :])
    return values @ w / np.sqrt(np.pi)


def expected_slope(beta: float, dz: np.ndarray, design: np.ndarray, rho: float) -> float:
    """The logit slope on the judged gap that choices made with sensitivity ``beta`` produce in expectation
    (a binomial GLM fitted to the expected choice probabilities of the pairs).

    Parameters
    ----------
    beta : float
        Choice sensitivity per SD of perceived difference.
    dz : numpy.ndarray
        The pairs' |composite gap| in SDs of the composite.
    design : numpy.ndarray
        The registered logit's design (intercept, |gap| in composite points, scenario dummies).
    rho : float
        ``perceived_correlation``.

    Returns
    -------
    float
        The fitted coefficient of the |gap| column (``design[:, 1]``).
    """
    probability = expected_choice_probability(beta * rho * dz, beta * np.sqrt(2.0 * (1.0 - rho**2)))
    with warnings.catch_warnings():
        # near-certain choices at the upper end of the bracket; the slope is still well defined
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        fit = GLM(probability, design, family=families.Binomial()).fit()
    return float(fit.params[1])


def calibrate_choice_scale(abs_gap: np.ndarray, scenario: np.ndarray, sd: float, rho: float, slope: float) -> float:
    """``beta`` whose expected choice probabilities give the target slope in the registered logit.

    Parameters
    ----------
    abs_gap : numpy.ndarray
        |composite gap| of the drawn pairs with a non-zero gap.
    scenario : numpy.ndarray
        Their scenarios (dummies enter the logit as registered).
    sd : float
        SD of the composite over the selected conversations.
    rho : float
        ``perceived_correlation``.
    slope : float
        Target slope per composite point.

    Raises
    ------
    ValueError
        When no ``beta`` in (0.001, 50] reaches the slope.
    """
    dummies = pd.get_dummies(pd.Series(scenario), drop_first=True, dtype=float).to_numpy()
    design = np.column_stack([np.ones(len(abs_gap)), abs_gap, dummies])
    dz = abs_gap / sd
    low, high = 1e-3, 50.0
    if expected_slope(high, dz, design, rho) < slope:
        raise ValueError(f"slope {slope} cannot be reached with perceived_correlation {rho}")
    return float(brentq(lambda beta: expected_slope(beta, dz, design, rho) - slope, low, high, xtol=1e-10))


def calibrate_elo_loading(strength: np.ndarray, first: np.ndarray, second: np.ndarray, target_spearman: float) -> tuple[float, float]:
    """``lambda`` giving the target BT-Elo rank correlation, and the BT reliability ``R``.

    ``R = var(s) / (var(s) + mean(1 / I_k))`` with ``I_k = sum pi (1 - pi)`` over the pairs showing
    conversation k (``pi = expit(s_i - s_j)``); ``lambda = min(1, 2 sin(pi rho_s / 6) / sqrt(R))``.
    """
    probability = expit(strength[first] - strength[second])
    weight = probability * (1.0 - probability)
    information = np.bincount(first, weight, len(strength)) + np.bincount(second, weight, len(strength))
    shown = information > 0
    variance = float(np.var(strength[shown], ddof=1))
    reliability = variance / (variance + float(np.mean(1.0 / information[shown])))
    target = 2.0 * np.sin(np.pi * target_spearman / 6.0)
    return float(min(1.0, target / np.sqrt(reliability))), reliability


def simulate_perception(
    conversations: pd.DataFrame,
    scores: pd.DataFrame,
    composite: Mapping,
    aggregation: Mapping,
    seed: int,
    parameters: PerceptionSimulationParameters | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Simulate ``perception.csv`` and ``elo.csv`` for a cohort.

    Parameters
    ----------
    conversations, scores : pandas.DataFrame
        The cohort's conversations (conversation_id, scenario) and judges' scores.
    composite, aggregation : mapping
        ``outcomes.composite`` and ``judge_aggregation`` of the registered plan.
    seed : int
        The cohort's simulation seed.
    parameters : PerceptionSimulationParameters, optional
        Defaults to the published design.

    Returns
    -------
    perception : pandas.DataFrame
        rater_id, pair_id, scenario, conversation_left_id, conversation_right_id, choice.
    elo : pandas.DataFrame
        conversation_id, elo_rating for the shown conversations, sorted by conversation_id.
    calibration : dict
        beta, lambda, the BT reliability and the design sizes (for the log).
    """
    parameters = parameters or PerceptionSimulationParameters()
    rng = np.random.default_rng([int(seed), parameters.stream])
    table = conversation_composite(conversations, scores, composite, aggregation)
    selected = select_conversations(table, parameters.n_conversations, rng)
    c = selected["composite"].to_numpy(dtype=float)
    sd = float(c.std(ddof=1)) if len(c) > 1 else 0.0
    if sd == 0:
        raise ValueError("the selected conversations all have the same composite; the perception task needs a spread")
    rho = parameters.perceived_correlation
    z = (c - c.mean()) / sd
    quality = rho * z + np.sqrt(1.0 - rho**2) * rng.standard_normal(len(c))

    n_pairs = parameters.n_raters * parameters.pairs_per_rater
    first, second = draw_pairs(selected, n_pairs, rng)
    swap = rng.random(n_pairs) < 0.5
    left, right = np.where(swap, second, first), np.where(swap, first, second)
    gap = c[left] - c[right]
    nonzero = gap != 0
    scenario = selected["scenario"].to_numpy()
    beta = calibrate_choice_scale(np.abs(gap[nonzero]), scenario[left][nonzero], sd, rho, parameters.slope)
    chose_left = rng.random(n_pairs) < expit(beta * (quality[left] - quality[right]))

    loading, reliability = calibrate_elo_loading(beta * quality, left, right, parameters.bt_elo_spearman)
    standardised = (quality - quality.mean()) / quality.std(ddof=1)
    noise = rng.standard_normal(len(c))
    elo_rating = parameters.elo_mean + parameters.elo_sd * (loading * standardised + np.sqrt(1.0 - loading**2) * noise)

    width = len(str(parameters.n_raters))
    raters = np.repeat(np.arange(1, parameters.n_raters + 1), parameters.pairs_per_rater)
    within = np.tile(np.arange(1, parameters.pairs_per_rater + 1), parameters.n_raters)
    rater_id = "R" + pd.Series(raters).astype(str).str.zfill(width)
    ids = selected["conversation_id"].to_numpy()
    perception = pd.DataFrame(
        {
            "rater_id": rater_id,
            "pair_id": rater_id + "-P" + pd.Series(within).astype(str).str.zfill(len(str(parameters.pairs_per_rater))),
            "scenario": scenario[left],
            "conversation_left_id": ids[left],
            "conversation_right_id": ids[right],
            "choice": np.where(chose_left, "left", "right"),
        }
    )
    elo = pd.DataFrame({"conversation_id": ids, "elo_rating": np.round(elo_rating, 1)})
    elo = elo.sort_values("conversation_id", kind="stable").reset_index(drop=True)
    calibration = {
        "beta": beta, "elo_loading": loading, "bt_reliability": reliability, "composite_sd": sd,
        "n_conversations": int(len(selected)), "n_choices": int(n_pairs), "n_zero_gap": int((~nonzero).sum()),
    }
    return perception, elo, calibration
