"""Planning the next cohort: simulation-based power, sample size and minimal detectable effects.

A cohort's own fitted model generates simulated trials of any size; each simulated trial is analysed
with the registered primary analysis (OLS ``score ~ arm + post + arm:post``, cluster-robust CR1
covariance by participant with statsmodels' small-sample factor ``G/(G-1) * (N-1)/(N-K)``, normal
reference), and each registered hypothesis is decided by its registered rule. The share of simulated
trials that reject is the power; its Monte Carlo standard error is ``sqrt(p (1 - p) / R)``.

Generating model
----------------
Per dimension *d* (the six judged dimensions) a participant *i* in arm *a* holding conversation *t*
with scenario *s* has the latent score ::

    z_itd = location[a, post_t, d] + scenario[s, d] + u_id + e_itd

with participant effects ``u_i ~ N(0, Sigma_u)`` and conversation residuals ``e_it ~ N(0, Sigma_e)``
correlated across the dimensions. The judged score is ``clip(floor(z + 0.5), 1, 5)`` (the simulator's
discretisation, :mod:`analysis.simulate.cohort`); the composite is the registered signed sum of the judged
dimensions. From the cohort (:func:`estimate_generating_model`):

* the expected score of every arm x period cell and the scenario effects (centred) come from the
  registered mixed models (``lmm_coefficients.csv``: ``intercept``, ``<arm>``, ``post``,
  ``<arm>:post``, ``scenario[...]``);
* the variance of each dimension within a cell is ``var(participant) + var(residual)`` of its mixed
  model, split between participant and conversation in the same proportion (its ICC);
* the correlations of the participant effects and of the conversation residuals across dimensions
  are the method-of-moments (one-way MANOVA) estimates from the cohort's scores, after removing the
  cell means and scenario effects: ``Sigma_e = W``, ``Sigma_u = (B - W) / c0`` with ``W`` and ``B``
  the within- and between-participant mean-square matrices and ``c0`` the usual average cluster
  size, clipped to the nearest positive semi-definite matrix.

Latent locations and scales are solved so that the *discretised* scores have the fitted cell means
and within-cell variances exactly (the simulator's root-finding on the exact moments of a
discretised normal). The scenario effects and the cross-dimension correlations are applied on the
latent scale unchanged, an approximation: rounding shrinks correlations slightly.

Several judges: the conversation residual is split into a part all judges share (the registered
``judge_agreement``) and a judge-specific part; each judge's score is discretised and the scores are
averaged (the registered mean aggregation). The cohort's own number of judges reproduces the cohort.

Vectorised analysis
-------------------
Every participant of an arm has the same design rows, so the normal equations of a simulated trial
are sums over arms of ``X_a' X_a`` weighted by the participants kept; the cluster scores are
``X_a' e_i`` per participant and the meat is a batched matrix product. Each arm's part of the fit is
summarised by a few sufficient statistics (count, score sums, the spread of its centred cluster
scores), so an effect scenario that moves one arm recomputes that arm's scores and statistics only.
Trials, outcomes and participants are array axes: there is no Python loop per simulated trial.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from analysis.errors import AnalysisError
from analysis.simulate.cohort import solve_dimension, solve_location

__all__ = [
    "CORRECTIONS", "GeneratingModel", "MDE_COLUMNS", "POWER_COLUMNS", "SAMPLE_SIZE_COLUMNS", "DesignResults", "Hypothesis",
    "adjust_p_values", "arm_sizes_for", "decide_hypothesis", "design_analysis", "estimate_generating_model", "fit_did_batch",
    "hypotheses_from_plan", "interpolate_crossing", "minimal_detectable_effects", "power_curves", "sample_sizes",
    "simulate_trials", "term_names",
]

CORRECTIONS = ("holm", "bonferroni", "hochberg", "none")
SCORE_MIN, SCORE_MAX = 1.0, 5.0
POWER_COLUMNS = [
    "kind", "name", "outcome", "scenario", "effect_sd", "n_per_arm", "n_participants", "allocation",
    "post_conversations", "attrition", "judges", "decision", "n_sims", "rejections", "power", "mc_se",
]
SAMPLE_SIZE_COLUMNS = [
    "kind", "name", "outcome", "scenario", "target_power", "n_per_arm", "mc_se", "grid_low", "grid_high", "status",
]
MDE_COLUMNS = [
    "kind", "name", "outcome", "target_power", "n_participants", "arm_sizes", "mde_sd", "mc_se", "grid_low",
    "grid_high", "status", "n_sims",
]


@dataclass(frozen=True)
class GeneratingModel:
    """The data-generating model of simulated trials (observed 1-5 scale).

    Attributes
    ----------
    dimensions : tuple of str
        The judged dimensions, simulated jointly.
    arms : tuple of str
        Arms in registered order; ``reference_arm`` is one of them.
    reference_arm : str
        The arm the others are compared with.
    cell_means : numpy.ndarray
        Expected score per arm, period (0 baseline, 1 post) and dimension, shape ``(A, 2, D)``, at
        the average scenario.
    participant_cov, residual_cov : numpy.ndarray
        ``(D, D)`` covariances of the participant effects and of the conversation residuals.
    scenario_effects : numpy.ndarray
        ``(S, D)`` scenario effects, centred over scenarios (``S`` may be 0).
    outcome_sd : dict
        SD of each outcome (dimensions and composite) over the cohort's analysed conversations, the
        registered standardiser of SD units.
    cohort_arm_sizes : dict
        Participants analysed per arm in the cohort.
    cohort_post_conversations : int
        Post-training conversations per participant in the cohort.
    cohort_judges : int
        Judges per conversation in the cohort.
    composite_name : str or None
        Name of the composite outcome (None: no composite).
    composite_weights : numpy.ndarray or None
        ``(D,)`` weights (+1 added, -1 subtracted) of the composite.
    discretised : bool
        Scores on the judged 1-5 scale (True) or the normal latent itself (False: the closed-form case).
    """

    dimensions: tuple[str, ...]
    arms: tuple[str, ...]
    reference_arm: str
    cell_means: np.ndarray
    participant_cov: np.ndarray
    residual_cov: np.ndarray
    scenario_effects: np.ndarray
    outcome_sd: dict
    cohort_arm_sizes: dict
    cohort_post_conversations: int
    cohort_judges: int = 1
    composite_name: str | None = None
    composite_weights: np.ndarray | None = None
    discretised: bool = True

    @property
    def outcomes(self) -> list[str]:
        """Simulated outcomes: the dimensions, then the composite."""
        return [*self.dimensions, *([self.composite_name] if self.composite_name else [])]


@dataclass(frozen=True)
class Hypothesis:
    """One registered hypothesis and its decision rule.

    Attributes
    ----------
    id : str
        Hypothesis ID.
    arm_a : str
        The arm whose ``arm:post`` effect is tested.
    arm_b : str or None
        The arm it is compared with (a contrast ``arm_a:post - arm_b:post``); None: the reference arm.
    outcomes : tuple of str
        The outcome family it is decided on.
    signs : tuple of float
        +1 (increase) or -1 (decrease) per outcome.
    correction, sided, rule : str
        Multiplicity correction within the family, ``two-sided`` or ``one-sided`` and the verdict rule
        (``all``, ``any``, ``composite_only``).
    """

    id: str
    arm_a: str
    arm_b: str | None
    outcomes: tuple[str, ...]
    signs: tuple[float, ...]
    correction: str = "none"
    sided: str = "two-sided"
    rule: str = "all"

    @property
    def decision(self) -> str:
        """The decision rule in words, for the output tables."""
        return f"{self.rule}; {self.correction}; {self.sided}"

    @property
    def term(self) -> str:
        return f"{self.arm_a}:post" if self.arm_b is None else f"{self.arm_a}:post - {self.arm_b}:post"


@dataclass(frozen=True)
class DesignResults:
    """Outputs of :func:`design_analysis` (columns: the ``*_COLUMNS`` lists) and what was run."""

    power: pd.DataFrame
    sample_size: pd.DataFrame
    mde: pd.DataFrame
    execution: dict


# ----------------------------------------------------------------------------------------------
# The generating model from a cohort


def _nearest_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.clip(values, 0.0, None)) @ vectors.T


def _correlation(matrix: np.ndarray) -> np.ndarray:
    scale = np.sqrt(np.clip(np.diag(matrix), 1e-300, None))
    corr = matrix / np.outer(scale, scale)
    np.fill_diagonal(corr, 1.0)
    return corr


def estimate_generating_model(
    *,
    outcomes: pd.DataFrame,
    lmm_coefficients: pd.DataFrame,
    dimensions: Sequence[str],
    composite: Mapping,
    arms: Sequence[str],
    reference_arm: str,
) -> GeneratingModel:
    """The cohort's fitted data-generating model (see the module docstring).

    Parameters
    ----------
    outcomes : pandas.DataFrame
        The cohort's analysed conversations (``conversation_scores.csv``): participant_id, arm, post,
        scenario, n_judges, the dimensions and the composite.
    lmm_coefficients : pandas.DataFrame
        The registered mixed models (``lmm_coefficients.csv``): outcome, term, estimate, with the
        terms ``intercept``, ``<arm>``, ``post``, ``<arm>:post``, ``scenario[<level>]``,
        ``var(participant)`` and ``var(residual)`` for every dimension.
    dimensions : sequence of str
        The registered dimensions.
    composite : mapping
        The registered composite: ``name``, ``add``, ``subtract``.
    arms : sequence of str
        Registered arms.
    reference_arm : str
        Registered reference arm.

    Returns
    -------
    GeneratingModel

    Raises
    ------
    AnalysisError
        When a dimension or term is missing from the mixed-model table, or an arm has no participants.
    """
    dimensions = list(dimensions)
    table = lmm_coefficients.set_index(["outcome", "term"])["estimate"]
    scenario_terms = sorted({t for _, t in table.index if t.startswith("scenario[")})
    levels = sorted(outcomes["scenario"].unique())
    named = [t[len("scenario["):-1] for t in scenario_terms]
    missing_level = [level for level in levels if level not in named]
    if len(missing_level) > 1:
        raise AnalysisError(f"mixed-model table lacks scenario terms for {missing_level} (one reference level is expected)")
    cell = np.zeros((len(arms), 2, len(dimensions)))
    scenario_effects = np.zeros((len(levels), len(dimensions)))
    variances = np.zeros((2, len(dimensions)))
    for d, dimension in enumerate(dimensions):
        def get(term, dimension=dimension):
            try:
                return float(table.loc[(dimension, term)])
            except KeyError:
                raise AnalysisError(
                    f"lmm_coefficients: no row for outcome '{dimension}', term '{term}' (the mixed models must "
                    "include arm, post, arm:post and the variance components)"
                ) from None

        effects = np.array([get(f"scenario[{level}]") if level in named else 0.0 for level in levels])
        scenario_effects[:, d] = effects - effects.mean()
        base = get("intercept") + effects.mean()
        post = get("post")
        for a, arm in enumerate(arms):
            shift = 0.0 if arm == reference_arm else get(arm)
            did = 0.0 if arm == reference_arm else get(f"{arm}:post")
            cell[a, 0, d] = base + shift
            cell[a, 1, d] = base + shift + post + did
        variances[:, d] = get("var(participant)"), get("var(residual)")
    within, between = _moment_covariances(outcomes, dimensions, arms, lmm_coefficients, levels, scenario_effects)
    corr_e = _correlation(within)
    corr_u = _correlation(_nearest_psd(between))
    sd_u, sd_e = np.sqrt(variances[0]), np.sqrt(variances[1])
    sizes = outcomes.groupby("arm")["participant_id"].nunique()
    empty = [arm for arm in arms if sizes.get(arm, 0) == 0]
    if empty:
        raise AnalysisError(f"arm(s) {empty} have no analysed participants: no model to plan from")
    per_participant = outcomes.groupby("participant_id")["post"].sum()
    weights = np.array([1.0 if dim in composite["add"] else (-1.0 if dim in composite["subtract"] else 0.0) for dim in dimensions])
    sd = {name: float(outcomes[name].std(ddof=1)) for name in [*dimensions, composite["name"]]}
    return GeneratingModel(
        dimensions=tuple(dimensions),
        arms=tuple(arms),
        reference_arm=reference_arm,
        cell_means=cell,
        participant_cov=_nearest_psd(corr_u * np.outer(sd_u, sd_u)),
        residual_cov=corr_e * np.outer(sd_e, sd_e),
        scenario_effects=scenario_effects,
        outcome_sd=sd,
        cohort_arm_sizes={arm: int(sizes[arm]) for arm in arms},
        cohort_post_conversations=int(round(per_participant.median())),
        cohort_judges=int(round(outcomes["n_judges"].median())) if "n_judges" in outcomes else 1,
        composite_name=composite["name"],
        composite_weights=weights,
        discretised=True,
    )


def _moment_covariances(outcomes, dimensions, arms, lmm_coefficients, levels, scenario_effects):
    """Within- and between-participant covariance of the dimensions (one-way MANOVA moments)."""
    data = outcomes.reset_index(drop=True)
    scores = data[list(dimensions)].to_numpy(dtype=float)
    level_index = pd.Categorical(data["scenario"], categories=levels).codes
    scores = scores - scenario_effects[level_index]
    cells = data["arm"].astype(str) + "|" + data["post"].astype(str)
    scores = scores - pd.DataFrame(scores).groupby(cells.to_numpy()).transform("mean").to_numpy()
    groups, index = np.unique(data["participant_id"].to_numpy(), return_inverse=True)
    counts = np.bincount(index).astype(float)
    sums = np.zeros((len(groups), len(dimensions)))
    np.add.at(sums, index, scores)
    means = sums / counts[:, None]
    deviations = scores - means[index]
    n, g = len(scores), len(groups)
    within = deviations.T @ deviations / (n - g)
    centred = means - scores.mean(axis=0)
    between_ms = (centred * counts[:, None]).T @ centred / (g - 1)
    c0 = (n - (counts**2).sum() / n) / (g - 1)
    return within, (between_ms - within) / c0


# ----------------------------------------------------------------------------------------------
# Hypotheses and decision rules


def hypotheses_from_plan(plan_hypotheses: Sequence[Mapping], *, arms: Sequence[str], reference_arm: str, outcomes: Sequence[str]) -> list[Hypothesis]:
    """The registered hypotheses with their decision rules.

    Reads ``outcomes``, ``correction``, ``sided``, ``rule`` and ``contrast`` when registered; without
    them a hypothesis is decided per test at the registered alpha (no correction, two-sided, every
    outcome of ``direction`` must reject in its direction).

    Raises
    ------
    AnalysisError
        For a term that names no registered arm, or an outcome that is not simulated.
    """
    result = []
    for entry in plan_hypotheses:
        contrast = entry.get("contrast")
        if contrast:
            arm_a, arm_b = contrast["arm_a"], contrast["arm_b"]
        else:
            term = entry["term"]
            arm_a, arm_b = term.split(":")[0].strip(), None
            if not term.endswith(":post"):
                raise AnalysisError(f"hypothesis {entry['id']}: term '{term}' is not an <arm>:post term")
        for arm in (arm_a, arm_b):
            if arm is not None and (arm not in arms or arm == reference_arm):
                raise AnalysisError(f"hypothesis {entry['id']}: '{arm}' is not a registered non-reference arm")
        family = list(entry.get("outcomes") or entry["direction"])
        unknown = [o for o in family if o not in outcomes]
        if unknown:
            raise AnalysisError(f"hypothesis {entry['id']}: outcome(s) {unknown} are not simulated (simulated: {list(outcomes)})")
        signs = tuple(1.0 if entry["direction"][o] == "increase" else -1.0 for o in family)
        result.append(Hypothesis(
            id=entry["id"], arm_a=arm_a, arm_b=arm_b, outcomes=tuple(family), signs=signs,
            correction=entry.get("correction", "none"), sided=entry.get("sided", "two-sided"), rule=entry.get("rule", "all"),
        ))
    return result


def adjust_p_values(p_values: np.ndarray, method: str) -> np.ndarray:
    """Multiplicity-adjusted p-values along the last axis (one family per row).

    ``holm`` (step-down), ``bonferroni``, ``hochberg`` (Simes-Hochberg step-up) or ``none``; the
    same values as statsmodels' ``multipletests`` (``holm``, ``bonferroni``, ``simes-hochberg``).
    """
    p = np.asarray(p_values, dtype=float)
    k = p.shape[-1]
    if method == "none" or k == 1:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, p * k)
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    factors = k - np.arange(k)
    if method == "holm":
        adjusted = np.minimum(1.0, np.maximum.accumulate(ranked * factors, axis=-1))
    elif method == "hochberg":
        adjusted = np.minimum.accumulate((ranked * factors)[..., ::-1], axis=-1)[..., ::-1]
        adjusted = np.minimum(1.0, adjusted)
    else:
        raise AnalysisError(f"correction '{method}' is not one of {list(CORRECTIONS)}")
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def decide_hypothesis(
    z: np.ndarray,
    signs: Sequence[float],
    *,
    correction: str,
    sided: str,
    rule: str,
    alpha: float,
    composite_index: int | None = None,
) -> np.ndarray:
    """Whether each simulated trial supports a hypothesis by its registered decision rule.

    Parameters
    ----------
    z : numpy.ndarray
        ``(R, k)`` Wald statistics of the hypothesis' ``k`` tests (one per outcome of its family).
    signs : sequence of float
        Registered direction per test: +1 increase, -1 decrease.
    correction : str
        ``holm``, ``bonferroni``, ``hochberg`` or ``none``, within the family.
    sided : str
        ``two-sided`` (p = 2 Phi(-|z|)) or ``one-sided`` (p = Phi(-sign z)).
    rule : str
        ``all``: every test significant in its direction; ``any``: at least one;
        ``composite_only``: the composite's test (``composite_index``) alone, at ``alpha``.
    alpha : float
        The registered level.
    composite_index : int, optional
        Column of the composite's test (needed for ``composite_only``).

    Returns
    -------
    numpy.ndarray
        ``(R,)`` booleans.
    """
    z = np.atleast_2d(np.asarray(z, dtype=float))
    signs = np.asarray(signs, dtype=float)
    if rule == "composite_only":
        if composite_index is None:
            raise AnalysisError("rule composite_only needs the composite among the hypothesis' outcomes")
        z, signs, correction = z[:, [composite_index]], signs[[composite_index]], "none"
    directed = z * signs
    if sided == "two-sided":
        p = 2.0 * ndtr(-np.abs(z))
    elif sided == "one-sided":
        p = ndtr(-directed)
    else:
        raise AnalysisError(f"sided '{sided}' is not two-sided or one-sided")
    success = (adjust_p_values(p, correction) <= alpha) & (directed > 0)
    if rule in ("all", "composite_only"):
        return success.all(axis=-1)
    if rule == "any":
        return success.any(axis=-1)
    raise AnalysisError(f"rule '{rule}' is not one of all, any, composite_only")


# ----------------------------------------------------------------------------------------------
# Simulating trials


def term_names(arms: Sequence[str], reference_arm: str) -> list[str]:
    """The primary design's terms in :func:`analysis.models.did.design_matrix` order."""
    others = [arm for arm in arms if arm != reference_arm]
    return ["intercept", *others, "post", *(f"{arm}:post" for arm in others)]


def _arm_designs(arms: Sequence[str], reference_arm: str, n_post: int) -> np.ndarray:
    """``(A, C, K)``: the design rows of one participant of each arm (conversation 1 is baseline)."""
    others = [arm for arm in arms if arm != reference_arm]
    post = np.r_[0.0, np.ones(n_post)]
    rows = np.zeros((len(arms), len(post), 2 + 2 * len(others)))
    for a, arm in enumerate(arms):
        dummies = np.array([float(arm == other) for other in others])
        rows[a, :, 0] = 1.0
        rows[a, :, 1:1 + len(others)] = dummies
        rows[a, :, 1 + len(others)] = post
        rows[a, :, 2 + len(others):] = post[:, None] * dummies
    return rows


def _latent(model: GeneratingModel, judges: int, judge_agreement: float):
    """Latent scales, the Cholesky factors of the latent covariances and the per-judge split."""
    total = np.diag(model.participant_cov) + np.diag(model.residual_cov)
    if not model.discretised:
        scales = np.sqrt(total)
    else:
        sizes = np.array([model.cohort_arm_sizes[arm] for arm in model.arms], dtype=float)
        weights = np.stack([sizes - 1, sizes * model.cohort_post_conversations - 1], axis=1).clip(min=1.0)
        scales = np.array([
            solve_dimension(tuple(model.cell_means[:, :, d].ravel()), tuple(weights.ravel()), float(total[d]))[0]
            for d in range(len(model.dimensions))
        ])
    ratio = scales / np.sqrt(total)
    participant = model.participant_cov * np.outer(ratio, ratio)
    residual = model.residual_cov * np.outer(ratio, ratio)
    # A cohort judged by J0 judges measured the mean of J0 judges' residuals: per judge the residual
    # variance is larger by 1 / (rho + (1 - rho) / J0).
    rho = judge_agreement if model.cohort_judges > 1 or judges > 1 else 1.0
    per_judge = residual / (rho + (1.0 - rho) / model.cohort_judges)
    cholesky = [np.linalg.cholesky(_nearest_psd(m) + 1e-12 * np.eye(len(scales))) for m in (participant, per_judge)]
    return scales, cholesky[0], cholesky[1], rho


def _locations(model: GeneratingModel, cell_means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    if not model.discretised:
        return cell_means
    out = np.empty_like(cell_means)
    for index in np.ndindex(*cell_means.shape):
        target = cell_means[index]
        if not SCORE_MIN < target < SCORE_MAX:
            arm, period, dimension = model.arms[index[0]], ("baseline", "post")[index[1]], model.dimensions[index[2]]
            raise AnalysisError(
                f"the scenario asks for an expected {dimension} score of {target:.3f} in arm {arm} ({period}), outside "
                "the 1-5 scale: lower the effect (smallest_effect_sd or the MDE grid)"
            )
        out[index] = solve_location(float(target), float(scales[index[-1]]))
    return out


def arm_sizes_for(n_per_arm: int, allocation: Mapping[str, float], arms: Sequence[str]) -> list[int]:
    """Participants randomised per arm: ``n_per_arm * A * r_a / sum(r)``, rounded half up."""
    ratios = np.array([float(allocation.get(arm, 1.0)) for arm in arms])
    return [int(np.floor(v + 0.5)) for v in n_per_arm * len(arms) * ratios / ratios.sum()]


@dataclass(frozen=True)
class _Noise:
    participant: np.ndarray   # (R, G, D)
    residual: np.ndarray      # (R, G, C, J, D)
    scenario: np.ndarray      # (R, G, C, D)
    kept: np.ndarray          # (R, G) 0/1

    def participants(self, lo: int, hi: int) -> _Noise:
        """The draws of participants ``lo`` to ``hi - 1`` (views, no copy)."""
        return _Noise(self.participant[:, lo:hi], self.residual[:, lo:hi], self.scenario[:, lo:hi], self.kept[:, lo:hi])


def _draw_noise(rng, model, *, sizes, n_post, judges, attrition, n_trials, chol_u, chol_e, rho) -> _Noise:
    g, c, d = int(sum(sizes)), 1 + n_post, len(model.dimensions)
    participant = rng.standard_normal((n_trials, g, d)) @ chol_u.T
    shared = rng.standard_normal((n_trials, g, c, 1, d)) @ chol_e.T
    if judges > 1:
        own = rng.standard_normal((n_trials, g, c, judges, d)) @ chol_e.T
        residual = np.sqrt(rho) * shared + np.sqrt(1.0 - rho) * own
    else:
        residual = shared
    n_scen = model.scenario_effects.shape[0]
    if n_scen:
        if c <= n_scen:
            picks = np.argsort(rng.random((n_trials, g, n_scen)), axis=-1)[..., :c]
        else:
            picks = rng.integers(0, n_scen, size=(n_trials, g, c))
        scenario = model.scenario_effects[picks]
    else:
        scenario = np.zeros((n_trials, g, c, d))
    kept = (rng.random((n_trials, g)) >= attrition).astype(float)
    return _Noise(participant, residual, scenario, kept)


def _scores(model: GeneratingModel, noise: _Noise, locations: np.ndarray, arm_index: np.ndarray) -> np.ndarray:
    """``(R, G, C, O)``: judged scores (judges averaged) and the composite."""
    periods = np.r_[0, np.ones(noise.residual.shape[2] - 1, dtype=int)]
    mean = locations[arm_index][:, periods, :][None] + noise.scenario
    mean += noise.participant[:, :, None, :]
    # the largest arrays of the planning family: computed in place, in the order (and so with the roundings)
    # of `clip(floor(mean + residual + 0.5), 1, 5)`
    latent = np.add(mean[:, :, :, None, :], noise.residual)
    if model.discretised:
        latent += 0.5
        np.floor(latent, out=latent)
        np.clip(latent, SCORE_MIN, SCORE_MAX, out=latent)
    scores = latent[:, :, :, 0, :] if latent.shape[3] == 1 else latent.mean(axis=3)
    if model.composite_name:
        scores = np.concatenate([scores, (scores @ model.composite_weights)[..., None]], axis=-1)
    return scores


def simulate_trials(
    model: GeneratingModel,
    *,
    arm_sizes: Sequence[int],
    n_trials: int,
    seed,
    post_conversations: int | None = None,
    attrition: float = 0.0,
    judges: int | None = None,
    judge_agreement: float = 0.6,
    cell_means: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated trials from ``model``.

    Parameters
    ----------
    model : GeneratingModel
    arm_sizes : sequence of int
        Participants randomised per arm (registered arm order).
    n_trials : int
        Number of simulated trials.
    seed : int or numpy.random.SeedSequence
        Seed of ``numpy.random.default_rng``.
    post_conversations, judges : int, optional
        Default: the cohort's.
    attrition : float
        Probability that a participant is lost before the last conversation (excluded whole).
    judge_agreement : float
        Share of the conversation residual all judges share (used with more than one judge).
    cell_means : numpy.ndarray, optional
        ``(A, 2, D)`` expected scores replacing the model's (another effect scenario).

    Returns
    -------
    scores : numpy.ndarray
        ``(R, G, C, O)`` outcomes (dimensions, then the composite), participants ordered by arm.
    kept : numpy.ndarray
        ``(R, G)`` 1 for participants analysed, 0 for those lost.
    arm_index : numpy.ndarray
        ``(G,)`` arm of each participant.
    """
    n_post = model.cohort_post_conversations if post_conversations is None else int(post_conversations)
    judges = model.cohort_judges if judges is None else int(judges)
    scales, chol_u, chol_e, rho = _latent(model, judges, judge_agreement)
    locations = _locations(model, model.cell_means if cell_means is None else cell_means, scales)
    arm_index = np.repeat(np.arange(len(arm_sizes)), arm_sizes)
    noise = _draw_noise(np.random.default_rng(seed), model, sizes=arm_sizes, n_post=n_post, judges=judges,
                        attrition=attrition, n_trials=n_trials, chol_u=chol_u, chol_e=chol_e, rho=rho)
    return _scores(model, noise, locations, arm_index), noise.kept, arm_index


# ----------------------------------------------------------------------------------------------
# The registered primary analysis, batched


@dataclass(frozen=True)
class _ArmStatistics:
    """One arm's sufficient statistics of the batched DiD fit (every participant of an arm has the same design rows)."""

    count: np.ndarray    # (R,) participants analysed
    sums: np.ndarray     # (R, C, O) sums of their scores per conversation
    spread: np.ndarray   # (R, O, K, K) sum over them of u u', u = X_a' (y_i - arm mean)


def _arm_statistics(scores: np.ndarray, kept: np.ndarray, design: np.ndarray) -> _ArmStatistics:
    """:class:`_ArmStatistics` of one arm's ``(R, g, C, O)`` scores, ``(R, g)`` kept flags and ``(C, K)`` design rows."""
    count = kept.sum(axis=1)
    sums = np.einsum("rg,rgco->rco", kept, scores)
    means = sums / np.maximum(count, 1.0)[:, None, None]
    centred = (scores - means[:, None]) * kept[:, :, None, None]
    # (R, O, g, C) @ (C, K): BLAS, five times einsum's speed on this contraction (the largest of the fit)
    u = np.matmul(centred.transpose(0, 3, 1, 2), design)
    return _ArmStatistics(count=count, sums=sums, spread=np.swapaxes(u, -1, -2) @ u)


def _combine_arms(arms: Sequence[_ArmStatistics], designs: np.ndarray, arm_sizes: Sequence[int],
                  columns: Sequence[int] | None = None) -> dict:
    """The fit of :func:`fit_did_batch` from the arms' statistics, for the outcomes ``columns`` (None: all).

    A participant's cluster score is ``X_a' (y_i - X_a b) = u_i + v_a`` with ``v_a = X_a' (mean_a - X_a b)``
    shared by the arm and ``sum_i u_i = 0``, so the arm's part of the meat is ``spread_a + n_a v_a v_a'``.
    """
    n_conv, k = designs.shape[1], designs.shape[2]
    counts = np.stack([arm.count for arm in arms], axis=1)
    if np.any(counts < 1) or np.any(counts.sum(axis=1) <= k):
        raise AnalysisError(
            f"a simulated trial of arm sizes {list(arm_sizes)} kept no participant in some arm (or too few to fit "
            f"{k} coefficients) after attrition: raise n_per_arm or lower attrition"
        )
    pick = slice(None) if columns is None else list(columns)
    sums = np.stack([arm.sums[..., pick] for arm in arms], axis=1)               # (R, A, C, O)
    xtx = np.einsum("ra,ack,acl->rkl", counts, designs, designs)
    xty = np.einsum("ack,raco->rko", designs, sums)
    bread = np.linalg.inv(xtx)
    beta = bread @ xty                                                           # (R, K, O)
    gaps = sums / counts[:, :, None, None] - np.einsum("ack,rko->raco", designs, beta)
    shared = np.einsum("ack,raco->raok", designs, gaps)                          # v_a, (R, A, O, K)
    meat = sum(arm.spread[:, pick] for arm in arms) + np.einsum("ra,raok,raol->rokl", counts, shared, shared)
    n_clusters = counts.sum(axis=1)
    n_obs = n_clusters * n_conv
    factor = n_clusters / (n_clusters - 1.0) * (n_obs - 1.0) / (n_obs - k)
    cov = factor[:, None, None, None] * (bread[:, None] @ meat @ bread[:, None])
    return {"beta": np.swapaxes(beta, 1, 2), "cov": cov, "n_obs": n_obs, "n_clusters": n_clusters}


def fit_did_batch(scores: np.ndarray, kept: np.ndarray, arm_sizes: Sequence[int], designs: np.ndarray) -> dict:
    """OLS DiD with CR1 cluster-robust covariance for every simulated trial and outcome at once.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(R, G, C, O)`` outcomes, participants ordered by arm (``arm_sizes``).
    kept : numpy.ndarray
        ``(R, G)`` 1 for analysed participants, 0 for excluded ones.
    arm_sizes : sequence of int
        Participants per arm.
    designs : numpy.ndarray
        ``(A, C, K)`` design rows of a participant of each arm (:func:`_arm_designs`).

    Returns
    -------
    dict
        ``beta`` ``(R, O, K)``, ``cov`` ``(R, O, K, K)`` (statsmodels' ``cov_type="cluster"`` with
        ``G/(G-1) * (N-1)/(N-K)``), ``n_obs`` and ``n_clusters`` ``(R,)``.
    """
    bounds = np.r_[0, np.cumsum(arm_sizes)]
    arms = [_arm_statistics(scores[:, lo:hi], kept[:, lo:hi], designs[a])
            for a, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))]
    return _combine_arms(arms, designs, arm_sizes)


def _wald_z(fit: dict, vector: np.ndarray) -> np.ndarray:
    """``(R, O)`` z statistics of ``vector' beta``."""
    estimate = fit["beta"] @ vector
    variance = np.einsum("k,rokl,l->ro", vector, fit["cov"], vector)
    return estimate / np.sqrt(variance)


def _decision_outcomes(model: GeneratingModel, hypothesis: Hypothesis) -> tuple[str, ...]:
    """The outcomes whose tests decide a hypothesis (the composite alone under ``composite_only``)."""
    return (model.composite_name,) if hypothesis.rule == "composite_only" else hypothesis.outcomes


def _trial_tests(model, fit, hypotheses, alpha, contrast_method, outcomes) -> dict:
    """Rejections per simulated trial: every arm:post test, arm contrast and hypothesis.

    ``fit`` holds the outcomes ``outcomes`` (a subset of the model's, in its order).
    """
    names = term_names(model.arms, model.reference_arm)
    others = [arm for arm in model.arms if arm != model.reference_arm]

    def vector(arm_a, arm_b=None):
        v = np.zeros(len(names))
        v[names.index(f"{arm_a}:post")] = 1.0
        if arm_b is not None:
            v[names.index(f"{arm_b}:post")] = -1.0
        return v

    z_terms = {arm: _wald_z(fit, vector(arm)) for arm in others}
    z_pairs = {(a, b): _wald_z(fit, vector(a, b)) for a, b in combinations(others, 2)}
    rejections = {}
    for arm in others:
        significant = 2.0 * ndtr(-np.abs(z_terms[arm])) <= alpha
        for o, outcome in enumerate(outcomes):
            rejections[("term", f"{arm}:post", outcome)] = significant[:, o]
    if z_pairs:
        p_pairs = np.stack([2.0 * ndtr(-np.abs(z)) for z in z_pairs.values()], axis=-1)   # (R, O, P)
        adjusted = adjust_p_values(p_pairs, "none" if contrast_method == "none" else contrast_method)
        for j, (a, b) in enumerate(z_pairs):
            for o, outcome in enumerate(outcomes):
                rejections[("contrast", f"{a}:post - {b}:post", outcome)] = adjusted[:, o, j] <= alpha
    for h in hypotheses:
        z = z_terms[h.arm_a] if h.arm_b is None else _wald_z(fit, vector(h.arm_a, h.arm_b))
        if h.arm_b is not None:
            # the hypothesis' own contrast, each outcome tested alone at alpha (as the arm:post terms)
            significant = 2.0 * ndtr(-np.abs(z)) <= alpha
            for o, outcome in enumerate(outcomes):
                rejections[("term", h.term, outcome)] = significant[:, o]
        family = _decision_outcomes(model, h)
        signs = [dict(zip(h.outcomes, h.signs))[o] for o in family]
        composite = family.index(model.composite_name) if model.composite_name in family else None
        rejections[("hypothesis", h.id, "+".join(h.outcomes))] = decide_hypothesis(
            z[:, [outcomes.index(o) for o in family]], signs, correction=h.correction, sided=h.sided, rule=h.rule,
            alpha=alpha, composite_index=composite)
    return rejections


# ----------------------------------------------------------------------------------------------
# Effect scenarios


def _sesoi_cell_means(model: GeneratingModel, hypothesis: Hypothesis, effect_sd: float) -> tuple[np.ndarray, dict]:
    """Cell means with the hypothesis' contrast at ``effect_sd`` SD units, everything else as estimated.

    The arm under test (``arm_a``) gets the DiD of its comparator (0 for the reference arm, the
    estimated DiD of ``arm_b``) plus ``effect_sd * SD_d`` on every dimension, in the direction the
    hypothesis registers (dimensions it does not name: the composite's sign times the composite's
    registered direction). A hypothesis decided on the composite alone moves every dimension by
    ``effect_sd * SD_composite / sum_d SD_d`` in its composite direction, so that the composite moves
    by ``effect_sd`` of its SD.
    Returns the cell means and the true effect of the contrast per outcome in SD units.
    """
    arms = list(model.arms)
    a = arms.index(hypothesis.arm_a)
    ref = arms.index(model.reference_arm)
    did = model.cell_means[:, 1] - model.cell_means[:, 0] - (model.cell_means[ref, 1] - model.cell_means[ref, 0])
    comparator = np.zeros(len(model.dimensions)) if hypothesis.arm_b is None else did[arms.index(hypothesis.arm_b)]
    direction = dict(zip(hypothesis.outcomes, hypothesis.signs))
    composite_sign = direction.get(model.composite_name, 1.0)
    sd = np.array([model.outcome_sd[dim] for dim in model.dimensions])
    signs = np.array([direction.get(dim, composite_sign * (model.composite_weights[d] if model.composite_weights is not None else 1.0))
                      for d, dim in enumerate(model.dimensions)])
    dimension_family = any(o in model.dimensions for o in hypothesis.outcomes) and hypothesis.rule != "composite_only"
    if dimension_family or model.composite_name is None:
        shift = effect_sd * sd * signs
    else:
        shift = effect_sd * model.outcome_sd[model.composite_name] / sd.sum() * sd * signs
    cells = model.cell_means.copy()
    cells[a, 1] = cells[a, 0] + (cells[ref, 1] - cells[ref, 0]) + comparator + shift
    truth = dict(zip(model.dimensions, shift / sd))
    if model.composite_name:
        truth[model.composite_name] = float(shift @ model.composite_weights) / model.outcome_sd[model.composite_name]
    return cells, truth


def _estimated_effects(model: GeneratingModel) -> dict:
    """True effect (SD units) of every arm:post term and arm contrast in the estimated scenario."""
    arms = list(model.arms)
    ref = arms.index(model.reference_arm)
    did = model.cell_means[:, 1] - model.cell_means[:, 0] - (model.cell_means[ref, 1] - model.cell_means[ref, 0])
    others = [arm for arm in arms if arm != model.reference_arm]
    effects = {}

    def add(key, vector):
        for d, dim in enumerate(model.dimensions):
            effects[(*key, dim)] = vector[d] / model.outcome_sd[dim]
        if model.composite_name:
            effects[(*key, model.composite_name)] = vector @ model.composite_weights / model.outcome_sd[model.composite_name]

    for arm in others:
        add(("term", f"{arm}:post"), did[arms.index(arm)])
    for x, y in combinations(others, 2):
        add(("contrast", f"{x}:post - {y}:post"), did[arms.index(x)] - did[arms.index(y)])
    return effects


# ----------------------------------------------------------------------------------------------
# Power, sample size, MDE


def _run_tasks(function: Callable, tasks: Sequence[dict], workers: int) -> list:
    """``[function(**task) for task in tasks]``, spread over ``workers`` processes when there are more than one.

    Each task carries its own random stream (a ``SeedSequence``), so the results are the same for any
    ``workers``. The tasks are handed out in the order given: put the longest first.
    """
    if workers <= 1 or len(tasks) <= 1:
        return [function(**task) for task in tasks]
    # fork: the workers start with the model and the hypotheses in memory, nothing is imported again
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(function, **task) for task in tasks]
        return [future.result() for future in futures]


def _count(rejections: dict, totals: dict) -> None:
    for key, values in rejections.items():
        totals[key] = totals.get(key, 0) + int(np.count_nonzero(values))


def _simulate_and_count(model, *, sizes, n_post, judges, judge_agreement, attrition, n_sims, seed, batch_size,
                        scenarios: Sequence[np.ndarray], hypotheses_per_scenario, alpha, contrast_method,
                        outcomes_per_scenario=None) -> list[dict]:
    """Rejection counts per scenario; every scenario shares the same random draws (common random numbers).

    ``outcomes_per_scenario``: the outcomes analysed in each scenario (None: all of the model's).
    """
    outcomes_per_scenario = outcomes_per_scenario or [model.outcomes] * len(scenarios)
    columns = [[model.outcomes.index(o) for o in model.outcomes if o in wanted] for wanted in outcomes_per_scenario]
    analysed = [[model.outcomes[c] for c in wanted] for wanted in columns]
    scales, chol_u, chol_e, rho = _latent(model, judges, judge_agreement)
    locations = [_locations(model, cells, scales) for cells in scenarios]
    designs = _arm_designs(model.arms, model.reference_arm, n_post)
    bounds = np.r_[0, np.cumsum(sizes)]
    rng = np.random.default_rng(seed)
    totals = [{} for _ in scenarios]
    done = 0
    while done < n_sims:
        batch = min(batch_size, n_sims - done)
        noise = _draw_noise(rng, model, sizes=sizes, n_post=n_post, judges=judges, attrition=attrition,
                            n_trials=batch, chol_u=chol_u, chol_e=chol_e, rho=rho)
        # A scenario moves the expected scores of one arm: the other arms' statistics are reused from the
        # scenario that computed them (the same draws, the same locations).
        computed = {}
        for s, loc in enumerate(locations):
            arms = []
            for a, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
                key = (a, loc[a].tobytes())
                if key not in computed:
                    drawn = noise.participants(lo, hi)
                    scores = _scores(model, drawn, loc[a:a + 1], np.zeros(hi - lo, dtype=int))
                    computed[key] = _arm_statistics(scores, drawn.kept, designs[a])
                arms.append(computed[key])
            fit = _combine_arms(arms, designs, sizes, columns[s])
            _count(_trial_tests(model, fit, hypotheses_per_scenario[s], alpha, contrast_method, analysed[s]), totals[s])
        done += batch
    return totals


def _trial_batch_size(n_participants: int, n_conversations: int, judges: int, n_outcomes: int) -> int:
    # Keep the largest arrays of a batch (participants x conversations x judges x dimensions, and the
    # cluster scores) near 50 MB each.
    per_trial = n_participants * max(n_conversations * judges * n_outcomes, n_outcomes * 8) * 8
    return int(max(1, min(500, 5e7 // per_trial)))


def power_curves(
    model: GeneratingModel,
    *,
    hypotheses: Sequence[Hypothesis],
    n_per_arm: Sequence[int],
    allocation: Mapping[str, float],
    post_conversations: int,
    attrition: float,
    judges: int,
    judge_agreement: float,
    smallest_effect_sd: float,
    n_sims: int,
    seed: int,
    alpha: float,
    contrast_method: str,
    workers: int = 1,
) -> pd.DataFrame:
    """Power of every hypothesis, arm:post test and arm contrast over a grid of participants per arm.

    Scenario ``estimated``: the cohort's estimated effects (every test). Scenario ``sesoi:<H>``: the
    hypothesis' contrast at the smallest effect of interest (:func:`_sesoi_cell_means`), the
    hypothesis and the tests of its arm (or contrast) on its outcomes. Each grid point has its own
    random stream (``SeedSequence([seed, i])``), shared by its scenarios; the grid points are simulated
    in ``workers`` processes, with the same results for any number of them.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POWER_COLUMNS`: kind (hypothesis, term, contrast), name, outcome (the family
        joined by ``+`` for a hypothesis), scenario, effect_sd (true effect in SD units; empty for a
        hypothesis under ``estimated``), n_per_arm, n_participants (randomised), allocation,
        post_conversations, attrition, judges, decision (rule; correction; sided, or the test's own),
        n_sims, rejections, power, mc_se = sqrt(power (1 - power) / n_sims).
    """
    scenario_cells = [model.cell_means]
    per_scenario = [list(hypotheses)]
    analysed = [model.outcomes] + [_decision_outcomes(model, h) for h in hypotheses]
    truths = [_estimated_effects(model)]
    names = ["estimated"]
    for h in hypotheses:
        cells, truth = _sesoi_cell_means(model, h, smallest_effect_sd)
        scenario_cells.append(cells)
        per_scenario.append([h])
        kind, name = "term", h.term
        truths.append({(kind, name, o): v for o, v in truth.items()})
        names.append(f"sesoi:{h.id}")
    allocation_text = ":".join(f"{float(allocation.get(arm, 1.0)):g}" for arm in model.arms)
    grid = [arm_sizes_for(n, allocation, model.arms) for n in n_per_arm]
    tasks = [
        dict(model=model, sizes=sizes, n_post=post_conversations, judges=judges, judge_agreement=judge_agreement,
             attrition=attrition, n_sims=n_sims, seed=np.random.SeedSequence([seed, i]),
             batch_size=_trial_batch_size(sum(sizes), 1 + post_conversations, judges, len(model.outcomes)),
             scenarios=scenario_cells, hypotheses_per_scenario=per_scenario, alpha=alpha, contrast_method=contrast_method,
             outcomes_per_scenario=analysed)
        for i, sizes in enumerate(grid)
    ]
    # the largest grid points first: they take longest
    longest_first = sorted(range(len(tasks)), key=lambda i: -sum(grid[i]))
    simulated = _run_tasks(_simulate_and_count, [tasks[i] for i in longest_first], workers)
    counts_per_point = dict(zip(longest_first, simulated))
    rows = []
    for i, n in enumerate(n_per_arm):
        sizes, counts = grid[i], counts_per_point[i]
        for s, scenario in enumerate(names):
            keep = None
            if s > 0:
                h = per_scenario[s][0]
                keep = {("hypothesis", h.id)} | {key[:2] for key in truths[s]}
            for key, hits in counts[s].items():
                if keep is not None and key[:2] not in keep:
                    continue
                if key[0] != "hypothesis" and keep is not None and key[2] not in analysed[s]:
                    continue
                decision = {h.id: h.decision for h in hypotheses}.get(key[1]) if key[0] == "hypothesis" else (
                    f"two-sided; alpha {alpha:g}" if key[0] == "term" else f"two-sided; {contrast_method} within outcome")
                effect = truths[s].get(key, smallest_effect_sd if (key[0] == "hypothesis" and s > 0) else np.nan)
                power = hits / n_sims
                rows.append({
                    "kind": key[0], "name": key[1], "outcome": key[2], "scenario": scenario, "effect_sd": effect,
                    "n_per_arm": int(n), "n_participants": int(sum(sizes)), "allocation": allocation_text,
                    "post_conversations": int(post_conversations), "attrition": float(attrition), "judges": int(judges),
                    "decision": decision, "n_sims": int(n_sims), "rejections": int(hits), "power": power,
                    "mc_se": float(np.sqrt(power * (1.0 - power) / n_sims)),
                })
    order = {"hypothesis": 0, "term": 1, "contrast": 2}
    table = pd.DataFrame(rows, columns=POWER_COLUMNS)
    table["_kind"] = table["kind"].map(order)
    table["_scenario"] = table["scenario"].map({name: i for i, name in enumerate(names)})
    table["_outcome"] = table["outcome"].map({o: i for i, o in enumerate(model.outcomes)}).fillna(-1)
    table = table.sort_values(["_scenario", "_kind", "name", "_outcome", "n_per_arm"], kind="stable")
    return table.drop(columns=["_kind", "_scenario", "_outcome"]).reset_index(drop=True)


def interpolate_crossing(x: Sequence[float], power: Sequence[float], mc_se: Sequence[float], target: float) -> dict:
    """Where a power curve first reaches ``target``, by linear interpolation between grid points.

    The Monte Carlo SE is propagated by the delta method from the two bracketing points (independent
    simulations): for ``x* = x1 + (t - p1) (x2 - x1) / (p2 - p1)``,
    ``dx*/dp1 = (x2 - x1)(t - p2) / (p2 - p1)^2`` and ``dx*/dp2 = -(x2 - x1)(t - p1) / (p2 - p1)^2``.

    Returns
    -------
    dict
        ``value``, ``mc_se``, ``grid_low``, ``grid_high`` and ``status``: ``interpolated``,
        ``at_grid_point``, ``below_grid`` (the first grid point already reaches the target) or
        ``above_grid`` (no grid point reaches it).
    """
    x, p, se = (np.asarray(v, dtype=float) for v in (x, power, mc_se))
    reached = np.flatnonzero(p >= target)
    if reached.size == 0:
        return {"value": np.nan, "mc_se": np.nan, "grid_low": x[-1], "grid_high": np.nan, "status": "above_grid"}
    j = int(reached[0])
    if j == 0:
        return {"value": x[0] if p[0] == target else np.nan, "mc_se": np.nan, "grid_low": np.nan, "grid_high": x[0],
                "status": "at_grid_point" if p[0] == target else "below_grid"}
    x1, x2, p1, p2 = x[j - 1], x[j], p[j - 1], p[j]
    if p2 == target:
        return {"value": x2, "mc_se": np.nan, "grid_low": x1, "grid_high": x2, "status": "at_grid_point"}
    value = x1 + (target - p1) * (x2 - x1) / (p2 - p1)
    d1 = (x2 - x1) * (target - p2) / (p2 - p1) ** 2
    d2 = -(x2 - x1) * (target - p1) / (p2 - p1) ** 2
    return {"value": value, "mc_se": float(np.hypot(d1 * se[j - 1], d2 * se[j])), "grid_low": x1, "grid_high": x2,
            "status": "interpolated"}


def sample_sizes(power: pd.DataFrame, *, targets: Sequence[float]) -> pd.DataFrame:
    """Participants per arm for each target power, per curve of :func:`power_curves` (columns
    :data:`SAMPLE_SIZE_COLUMNS`; ``n_per_arm`` is fractional, round up to recruit)."""
    rows = []
    for (kind, name, outcome, scenario), curve in power.groupby(["kind", "name", "outcome", "scenario"], sort=False):
        curve = curve.sort_values("n_per_arm")
        for target in targets:
            found = interpolate_crossing(curve["n_per_arm"], curve["power"], curve["mc_se"], target)
            rows.append({"kind": kind, "name": name, "outcome": outcome, "scenario": scenario, "target_power": target,
                         "n_per_arm": found["value"], "mc_se": found["mc_se"], "grid_low": found["grid_low"],
                         "grid_high": found["grid_high"], "status": found["status"]})
    return pd.DataFrame(rows, columns=SAMPLE_SIZE_COLUMNS)


def minimal_detectable_effects(
    model: GeneratingModel,
    *,
    hypotheses: Sequence[Hypothesis],
    effect_grid_sd: Sequence[float],
    target_power: float,
    n_sims: int,
    seed: int,
    alpha: float,
    contrast_method: str,
    judge_agreement: float = 0.6,
    workers: int = 1,
) -> pd.DataFrame:
    """The smallest effect (SD units) each hypothesis, and each test of it, detects with ``target_power``
    at the cohort's own arm sizes, conversations and judges (no attrition: the cohort is as analysed).

    For each hypothesis the contrast is set to each effect of ``effect_grid_sd`` in turn
    (:func:`_sesoi_cell_means`; common random numbers across the grid) and the power curve in the
    effect is interpolated at ``target_power`` (:func:`interpolate_crossing`). The grid stops before
    the first effect that would put an expected score off the 1-5 scale; when the target is not reached
    before it the status is ``above_attainable``. Each hypothesis has its own random stream
    (``SeedSequence([seed, i])``); the hypotheses are simulated in ``workers`` processes, with the same
    results for any number of them.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MDE_COLUMNS`.
    """
    sizes = [model.cohort_arm_sizes[arm] for arm in model.arms]
    n_post, judges = model.cohort_post_conversations, model.cohort_judges
    batch = _trial_batch_size(sum(sizes), 1 + n_post, judges, len(model.outcomes))
    grids, tasks = [], []
    for i, h in enumerate(hypotheses):
        # Effects that would push an expected score off the 1-5 scale cannot be simulated: the grid stops
        # before the first of them, and an MDE beyond it is reported as such.
        cells, effects = [], []
        for effect in effect_grid_sd:
            candidate = _sesoi_cell_means(model, h, effect)[0]
            if not np.all((candidate > SCORE_MIN) & (candidate < SCORE_MAX)) and model.discretised:
                break
            cells.append(candidate)
            effects.append(effect)
        truncated = len(effects) < len(effect_grid_sd)
        if not effects:
            raise AnalysisError(f"hypothesis {h.id}: even the smallest effect of the MDE grid ({effect_grid_sd[0]} SD) "
                                "pushes an expected score off the 1-5 scale")
        grids.append((effects, truncated))
        tasks.append(dict(
            model=model, sizes=sizes, n_post=n_post, judges=judges, judge_agreement=judge_agreement, attrition=0.0,
            n_sims=n_sims, seed=np.random.SeedSequence([seed, i]), batch_size=batch, scenarios=cells,
            hypotheses_per_scenario=[[h]] * len(cells), alpha=alpha, contrast_method=contrast_method,
            outcomes_per_scenario=[_decision_outcomes(model, h)] * len(cells)))
    rows = []
    for h, (effects, truncated), counts in zip(hypotheses, grids, _run_tasks(_simulate_and_count, tasks, workers), strict=True):
        kind, name = "term", h.term
        keys = [("hypothesis", h.id, "+".join(h.outcomes))] + [(kind, name, o) for o in _decision_outcomes(model, h)]
        for key in keys:
            power = np.array([c[key] / n_sims for c in counts])
            found = interpolate_crossing(effects, power, np.sqrt(power * (1 - power) / n_sims), target_power)
            if truncated and found["status"] == "above_grid":
                found["status"] = "above_attainable"
            rows.append({"kind": key[0], "name": key[1], "outcome": key[2], "target_power": target_power,
                         "n_participants": int(sum(sizes)), "arm_sizes": ":".join(str(s) for s in sizes),
                         "mde_sd": found["value"], "mc_se": found["mc_se"], "grid_low": found["grid_low"],
                         "grid_high": found["grid_high"], "status": found["status"], "n_sims": int(n_sims)})
    return pd.DataFrame(rows, columns=MDE_COLUMNS)


def design_analysis(
    *,
    outcomes: pd.DataFrame,
    lmm_coefficients: pd.DataFrame,
    dimensions: Sequence[str],
    composite: Mapping,
    arms: Sequence[str],
    reference_arm: str,
    plan_hypotheses: Sequence[Mapping],
    alpha: float,
    contrast_method: str,
    n_per_arm: Sequence[int],
    allocation: Mapping[str, float] | None,
    post_conversations: int | None,
    attrition: float,
    judges: int | None,
    judge_agreement: float,
    smallest_effect_sd: float,
    target_power: Sequence[float],
    mde_power: float,
    mde_effect_grid_sd: Sequence[float],
    simulations: int,
    seed: int,
    discretisation: str = "round_half_up",
    workers: int = 1,
) -> DesignResults:
    """Power curves, sample sizes and minimal detectable effects for the next cohort.

    Parameters
    ----------
    outcomes, lmm_coefficients, dimensions, composite, arms, reference_arm
        The cohort and its mixed models (:func:`estimate_generating_model`).
    plan_hypotheses : sequence of mapping
        The plan's ``hypotheses`` (:func:`hypotheses_from_plan`).
    alpha : float
        The registered level of the primary analysis.
    contrast_method : str
        The registered correction of the arm contrasts within outcome.
    n_per_arm : sequence of int
        The grid of participants randomised per arm (mean over arms under unequal allocation).
    allocation : mapping or None
        Allocation ratio per arm (None: equal).
    post_conversations, judges : int or None
        Post-training conversations per participant and judges per conversation (None: the cohort's).
    attrition : float
        Share of randomised participants lost before their last conversation.
    judge_agreement : float
        Share of the conversation residual the judges share.
    smallest_effect_sd : float
        The registered smallest effect of interest, SD units.
    target_power : sequence of float
        Powers the sample sizes are reported for.
    mde_power : float
        Power of the minimal detectable effect.
    mde_effect_grid_sd : sequence of float
        Effects (SD units) the MDE is interpolated between.
    simulations : int
        Simulated trials per grid point.
    seed : int
        Root seed; the same seed gives the same numbers.
    discretisation : str
        ``round_half_up`` (scores on the 1-5 scale) or ``none`` (normal scores).
    workers : int
        Processes the grid points and the hypotheses are simulated in (the results do not depend on it).

    Returns
    -------
    DesignResults
    """
    if not 0.0 <= attrition < 1.0:
        raise AnalysisError(f"attrition must lie in [0, 1), got {attrition}")
    model = estimate_generating_model(outcomes=outcomes, lmm_coefficients=lmm_coefficients, dimensions=dimensions,
                                      composite=composite, arms=arms, reference_arm=reference_arm)
    if discretisation == "none":
        model = replace(model, discretised=False)
    elif discretisation != "round_half_up":
        raise AnalysisError(f"discretisation '{discretisation}' is not round_half_up or none")
    hypotheses = hypotheses_from_plan(plan_hypotheses, arms=arms, reference_arm=reference_arm, outcomes=model.outcomes)
    post = model.cohort_post_conversations if post_conversations is None else int(post_conversations)
    n_judges = model.cohort_judges if judges is None else int(judges)
    allocation = dict(allocation or {arm: 1.0 for arm in arms})
    power = power_curves(model, hypotheses=hypotheses, n_per_arm=list(n_per_arm), allocation=allocation,
                         post_conversations=post, attrition=attrition, judges=n_judges, judge_agreement=judge_agreement,
                         smallest_effect_sd=smallest_effect_sd, n_sims=simulations, seed=seed, alpha=alpha,
                         contrast_method=contrast_method, workers=workers)
    mde = minimal_detectable_effects(model, hypotheses=hypotheses, effect_grid_sd=list(mde_effect_grid_sd),
                                     target_power=mde_power, n_sims=simulations, seed=seed + 1, alpha=alpha,
                                     contrast_method=contrast_method, judge_agreement=judge_agreement, workers=workers)
    execution = {
        "estimator": "ols",
        "outcomes": model.outcomes,
        "terms": term_names(arms, reference_arm),
        "reference_arm": reference_arm,
        "covariance": {"type": "cluster", "cluster_by": "participant_id", "small_sample_correction": True,
                       "reference_distribution": "normal", "implementation": "batched numpy normal equations and sandwich"},
        "alpha": alpha,
        "multiplicity": {"family": "within_outcome", "method": contrast_method},
        "seed": int(seed),
        "sample": {"n_obs": int(len(outcomes)), "n_participants": int(outcomes["participant_id"].nunique())},
        "details": {
            "generating_model": {
                "source": "lmm_coefficients (cell means, variances, scenario effects) and method-of-moments "
                          "cross-dimension correlations of conversation_scores",
                "cell_means": {arm: {"baseline": dict(zip(model.dimensions, model.cell_means[a, 0].tolist())),
                                     "post": dict(zip(model.dimensions, model.cell_means[a, 1].tolist()))}
                               for a, arm in enumerate(model.arms)},
                "participant_variance": dict(zip(model.dimensions, np.diag(model.participant_cov).tolist())),
                "residual_variance": dict(zip(model.dimensions, np.diag(model.residual_cov).tolist())),
                "participant_correlation": _correlation(model.participant_cov).tolist(),
                "residual_correlation": _correlation(model.residual_cov).tolist(),
                "cohort_arm_sizes": model.cohort_arm_sizes,
                "cohort_post_conversations": model.cohort_post_conversations,
                "cohort_judges": model.cohort_judges,
                "discretisation": discretisation,
            },
            "hypotheses": [{"id": h.id, "term": h.term, "outcomes": list(h.outcomes), "correction": h.correction,
                            "sided": h.sided, "rule": h.rule} for h in hypotheses],
            "settings": {"n_per_arm": [int(n) for n in n_per_arm], "allocation": allocation, "post_conversations": post,
                         "attrition": attrition, "judges": n_judges, "judge_agreement": judge_agreement,
                         "smallest_effect_sd": smallest_effect_sd, "target_power": list(target_power),
                         "mde_power": mde_power, "mde_effect_grid_sd": list(mde_effect_grid_sd),
                         "simulations": simulations},
        },
    }
    return DesignResults(power=power, sample_size=sample_sizes(power, targets=target_power), mde=mde, execution=execution)
