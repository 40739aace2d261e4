"""The registered Bayesian models: a joint cumulative-logit model of the six judged dimensions and a
linear model of the composite, built in PyMC, sampled with nutpie, summarised with ArviZ.

Ordinal model (one joint model of every registered dimension ``d``)
-------------------------------------------------------------------
Each conversation ``n`` of participant ``i`` with scenario ``s`` has an ordinal score
``y[n, d]`` in ``1..K`` (``K = 5``; an aggregated judge score that is not an integer is
discretised as registered, e.g. rounded half up)::

    P(y[n, d] <= k) = logistic(c[d, k] - eta[n, d]),    k = 1..K-1,  c[d, 1] < ... < c[d, K-1]
    eta[n, d] = x[n] . beta[:, d] + u[i, d] + v[s, d]

``x`` holds the primary analysis' fixed effects without intercept (one dummy per non-reference arm
for its baseline difference, ``post``, and one ``arm:post`` per non-reference arm);
``u[i, :] ~ MVN(0, diag(tau) R diag(tau))`` are participant effects correlated across dimensions
(``R ~ LKJ(eta)``, ``tau[d] ~ HalfNormal``; non-centred: ``u[i] = L z[i]`` with ``L`` the Cholesky
factor from :func:`pymc.LKJCholeskyCov` and ``z ~ N(0, 1)``); ``v[:, d]`` are scenario effects that
sum to zero over scenarios (:class:`pymc.ZeroSumNormal`), so ``eta = 0`` is the reference arm at
baseline, for a participant with ``u = 0``, averaged over scenarios. For sampling the fixed effects
enter centred (``x - mean(x)``, as brms does) and the cutpoints reported as ``cutpoints`` are the
reference-coded ones, ``c = c_centred + mean(x) . beta``; priors are on ``c_centred``.

The likelihood is vectorised over all ``N x D`` scores at once. With ``E = exp(eta)`` and
``C_k = exp(-c_k)`` one has ``logistic(c_k - eta) = 1 / (1 + E C_k)``, hence for category ``k``::

    log P(y = k) = [k > 1] eta + A[d, k] - log((1 + E C_lo[d, k]) (1 + E C_hi[d, k]))

with ``C_lo = C_{k-1}`` (0 for ``k = 1``), ``C_hi = C_k`` (0 for ``k = K``) and
``A = log(C_{k-1} - C_k) = -c_{k-1} + log1mexp(c_{k-1} - c_k)`` (0 for ``k = 1``, ``-c_{K-1}`` for
``k = K``): one ``exp`` and one ``log`` per score, the cutpoint terms computed once per
dimension and category (:func:`cumulative_logit_logp`). It equals
``pymc.OrderedLogistic``'s log-probability (checked in the tests).

Composite model
---------------
``overall_empathy[n] = alpha + x[n] . b + w[i] + e[n]``, ``w[i] ~ N(0, sigma_u)`` (non-centred),
``e[n] ~ N(0, sigma_e)``: the primary analysis' fixed effects plus a participant random intercept.

Derived quantities
------------------
The change in expected score of an arm is a difference-in-differences of expected scores
``E[y | eta] = 1 + sum_k logistic(eta - c_k)`` over the four cells (reference and arm, baseline and
post): ``[E(b_a + p + ap_a) - E(b_a)] - [E(p) - E(0)]`` (for the reference arm ``E(p) - E(0)``).
``expected_score_*`` variables average ``E`` over the participant-effect distribution
(Gauss-Hermite quadrature) and over the scenarios (equal weights): the population-averaged change,
the estimand comparable with OLS. ``expected_score_*_typical`` variables are the same for a
typical participant (``u = 0``) and the average scenario (``v = 0``).
"""

from __future__ import annotations

import logging
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields
from importlib.metadata import version
from itertools import combinations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from scipy.special import expit

from analysis.errors import AnalysisError, ConfigError
from analysis.models.bayes_columns import CONTRAST_COLUMNS, DIAGNOSTIC_COLUMNS, EFFECT_COLUMNS, PPC_COLUMNS
from analysis.models.did import design_matrix
from analysis.runtime.resources import IN_MEMORY_TRACE_BYTES, trace_size_bytes
from analysis.runtime.runlog import Heartbeat, current_heartbeat

__all__ = [
    "N_CATEGORIES", "QUADRATURE_NODES", "MAX_LISTED", "ORDINAL_MODEL", "COMPOSITE_MODEL", "ORDINAL_QUANTITIES",
    "COMPOSITE_QUANTITIES", "ORDINAL_NUISANCE", "ORDINAL_PRIORS", "COMPOSITE_PRIORS", "DiagnosticsError", "TrialDesign",
    "trial_design", "discretise_scores", "outcome_values", "beneficial_directions", "cumulative_logit_logp",
    "cumulative_logit_random", "expected_score", "build_ordinal_model", "build_composite_model", "Sampler", "sampled_trace",
    "sample_model", "loaded", "thin_posterior", "expected_score_effects", "Gates", "diagnostics_table", "gate_problems", "enforce_gates", "BayesFit",
    "fit_ordinal_model", "fit_composite_model", "FIT_FUNCTIONS", "ORDINAL_SCALES", "bayes_effects", "ppc_category_proportions",
    "summarise_models",
]

log = logging.getLogger(__name__)

N_CATEGORIES = 5
QUADRATURE_NODES = 24
MAX_LISTED = 25  # parameters named per broken gate in an error message

ORDINAL_MODEL = "ordinal"
COMPOSITE_MODEL = "composite"

ORDINAL_QUANTITIES: tuple[str, ...] = (
    "cutpoints", "arm_baseline", "post", "arm_post", "participant_sd", "participant_corr", "scenario_effect",
    "expected_score_post", "expected_score_did", "expected_score_post_typical", "expected_score_did_typical",
)
COMPOSITE_QUANTITIES: tuple[str, ...] = ("intercept", "arm_baseline", "post", "arm_post", "participant_sd", "residual_sd")
# Sampled variables kept in memory for the posterior predictive draws but not written to the .nc file.
ORDINAL_NUISANCE: tuple[str, ...] = ("participant_z", "participant_effect", "participant_chol")
# The named prior records each model needs (``bayesian_models.<model>.priors``).
ORDINAL_PRIORS: tuple[str, ...] = (
    "cutpoints", "arm_baseline", "post", "arm_post", "participant_sd", "participant_corr", "scenario_effect",
)
COMPOSITE_PRIORS: tuple[str, ...] = ("intercept", "arm_baseline", "post", "arm_post", "participant_sd", "residual_sd")


class DiagnosticsError(AnalysisError):
    """A Bayesian fit broke its registered diagnostic gates (R-hat, ESS, divergences)."""


# ---------------------------------------------------------------------------------------------
# Data preparation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialDesign:
    """Index arrays of the analysed conversations, shared by both Bayesian models.

    Attributes
    ----------
    conversation_ids : numpy.ndarray
        One ID per row (the models' ``conversation`` coordinate).
    participant_ids, scenarios : numpy.ndarray
        Sorted distinct participants and scenarios (coordinates).
    participant_index, scenario_index : numpy.ndarray
        Each row's position in ``participant_ids`` / ``scenarios``.
    arms, treated_arms : tuple of str
        Registered arms present, and those other than the reference (the ``arm`` coordinate).
    arm : numpy.ndarray
        Each row's arm.
    conversation_number, post : numpy.ndarray
        Each row's conversation number and post indicator (0/1).
    fixed_terms : tuple of str
        The primary analysis' fixed effects without the intercept (``<arm>``, ``post``,
        ``<arm>:post``), in :func:`analysis.models.did.design_matrix` order.
    fixed_design : numpy.ndarray
        ``(n_rows, n_terms)`` 0/1 design of ``fixed_terms``.
    cell_design : numpy.ndarray
        Its distinct rows (arm x period cells), ``(n_cells, n_terms)``.
    cell_index : numpy.ndarray
        Each row's cell.
    """

    conversation_ids: np.ndarray
    participant_ids: np.ndarray
    participant_index: np.ndarray
    scenarios: np.ndarray
    scenario_index: np.ndarray
    arms: tuple[str, ...]
    treated_arms: tuple[str, ...]
    arm: np.ndarray
    conversation_number: np.ndarray
    post: np.ndarray
    fixed_terms: tuple[str, ...]
    fixed_design: np.ndarray
    cell_design: np.ndarray
    cell_index: np.ndarray

    @property
    def n_rows(self) -> int:
        """Number of analysed conversations."""
        return len(self.conversation_ids)

    @property
    def design_mean(self) -> np.ndarray:
        """Column means of the fixed design (the centring of the sampled parameterisation)."""
        return self.fixed_design.mean(axis=0)


def trial_design(data: pd.DataFrame, arms: Sequence[str], reference_arm: str) -> TrialDesign:
    """Index arrays and the fixed-effect design of the analysed conversations.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes (``conversation_scores.csv``) with conversation_id,
        participant_id, arm, conversation_number, post and scenario.
    arms : sequence of str
        Registered arms (their order fixes the ``arm`` coordinate).
    reference_arm : str
        The arm every effect is measured against.

    Returns
    -------
    TrialDesign

    Raises
    ------
    AnalysisError
        When a design column is missing or empty, an arm is not registered, or an arm or period
        has no observations (raised by :func:`analysis.models.did.design_matrix`).
    """
    required = ["conversation_id", "participant_id", "arm", "conversation_number", "post", "scenario"]
    missing = [column for column in required if column not in data.columns]
    if missing:
        raise AnalysisError(f"conversation_scores.csv lacks column(s) {missing} needed by the Bayesian models")
    if data.empty:
        raise AnalysisError("conversation_scores.csv has no analysed conversations; the Bayesian models need data")
    for column in required:
        blank = data[column].isna()
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0]) + 1
            raise AnalysisError(f"conversation_scores.csv, row {row}, column '{column}': missing value; expected a value")
    full = design_matrix(data, arms, reference_arm)
    fixed = full.drop(columns="intercept")
    fixed_design = fixed.to_numpy(dtype=float)
    cell_design, cell_index = np.unique(fixed_design, axis=0, return_inverse=True)
    participant_index, participant_ids = pd.factorize(data["participant_id"].astype(str), sort=True)
    scenario_index, scenarios = pd.factorize(data["scenario"].astype(str), sort=True)
    return TrialDesign(
        conversation_ids=data["conversation_id"].astype(str).to_numpy(),
        participant_ids=np.asarray(participant_ids, dtype=object),
        participant_index=participant_index.astype(np.int64),
        scenarios=np.asarray(scenarios, dtype=object),
        scenario_index=scenario_index.astype(np.int64),
        arms=tuple(arms),
        treated_arms=tuple(arm for arm in arms if arm != reference_arm),
        arm=data["arm"].astype(str).to_numpy(dtype=object),
        conversation_number=data["conversation_number"].to_numpy(dtype=np.int64),
        post=data["post"].to_numpy(dtype=np.int64),
        fixed_terms=tuple(fixed.columns),
        fixed_design=fixed_design,
        cell_design=cell_design,
        cell_index=np.asarray(cell_index, dtype=np.int64).ravel(),
    )


def discretise_scores(
    data: pd.DataFrame, dimensions: Sequence[str], method: str, n_categories: int = N_CATEGORIES
) -> tuple[np.ndarray, dict[str, int]]:
    """The ordinal categories (1..K) of the aggregated judge scores.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes with one column per dimension.
    dimensions : sequence of str
        Dimensions to discretise, in output column order.
    method : {"round_half_up", "round_half_down", "integer_only"}
        How a score that is not an integer (a mean over judges, e.g. 2.5) becomes a category:
        ``floor(x + 0.5)``, ``ceil(x - 0.5)``, or an error.
    n_categories : int
        ``K``; scores must lie in ``[1, K]``.

    Returns
    -------
    categories : numpy.ndarray
        ``(n_rows, n_dimensions)`` int64 categories.
    rounded : dict
        Per dimension, how many scores were not integers and were rounded.

    Raises
    ------
    AnalysisError
        A dimension column is missing, or a score is missing or outside ``[1, K]`` (naming the
        row, column and value), or not an integer under ``integer_only``.
    ConfigError
        For an unknown method.
    """
    if method not in ("round_half_up", "round_half_down", "integer_only"):
        raise ConfigError(f"bayesian_models.ordinal.discretisation '{method}' is not one of round_half_up, round_half_down, integer_only")
    missing = [dimension for dimension in dimensions if dimension not in data.columns]
    if missing:
        raise AnalysisError(f"conversation_scores.csv lacks dimension column(s) {missing}")
    values = data[list(dimensions)].to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 1) | (values > n_categories)
    if bad.any():
        row, column = (int(index) for index in np.argwhere(bad)[0])
        raise AnalysisError(
            f"conversation_scores.csv, row {row + 1}, column '{dimensions[column]}': value {float(values[row, column])!r}; "
            f"expected a score in [1, {n_categories}] ({int(bad.sum())} such value(s))"
        )
    fractional = values != np.round(values)
    if method == "integer_only" and fractional.any():
        row, column = (int(index) for index in np.argwhere(fractional)[0])
        raise AnalysisError(
            f"conversation_scores.csv, row {row + 1}, column '{dimensions[column]}': value {float(values[row, column])!r}; expected an "
            "integer score (bayesian_models.ordinal.discretisation is integer_only)"
        )
    if method == "round_half_down":
        categories = np.ceil(values - 0.5)
    else:
        categories = np.floor(values + 0.5)
    rounded = {dimension: int(count) for dimension, count in zip(dimensions, fractional.sum(axis=0))}
    return categories.astype(np.int64), rounded


def outcome_values(data: pd.DataFrame, outcome: str) -> np.ndarray:
    """The composite's values as floats; a missing or non-finite value is an error naming its row."""
    if outcome not in data.columns:
        raise AnalysisError(f"conversation_scores.csv lacks the outcome column '{outcome}'")
    values = pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise AnalysisError(f"conversation_scores.csv, row {row + 1}, column '{outcome}': value {data[outcome].iloc[row]!r}; expected a number")
    return values


def beneficial_directions(dimensions: Sequence[str], *, composite: Mapping) -> dict[str, str]:
    """Direction of improvement per outcome: ``increase`` for dimensions the composite adds (and the
    composite itself), ``decrease`` for those it subtracts.

    Parameters
    ----------
    dimensions : sequence of str
        Registered dimensions.
    composite : mapping
        The registered composite (``outcomes.composite``): ``name``, and the dimensions it
        ``add``-s and ``subtract``-s.

    Returns
    -------
    dict
        ``increase`` or ``decrease`` per dimension and for the composite's name.

    Raises
    ------
    ConfigError
        When a dimension is neither added nor subtracted.
    """
    directions = {}
    for dimension in dimensions:
        if dimension in composite["add"]:
            directions[dimension] = "increase"
        elif dimension in composite["subtract"]:
            directions[dimension] = "decrease"
        else:
            raise ConfigError(f"dimension '{dimension}' is neither added nor subtracted in outcomes.composite")
    directions[composite["name"]] = "increase"
    return directions


# ---------------------------------------------------------------------------------------------
# The cumulative logit likelihood
# ---------------------------------------------------------------------------------------------


def cumulative_logit_logp(value, eta, cutpoints):
    """Elementwise ``log P(y = value)`` of the cumulative logit model, vectorised.

    Parameters
    ----------
    value : tensor of int, shape (n, d)
        Categories ``1..K``.
    eta : tensor, shape (n, d)
        Linear predictor.
    cutpoints : tensor, shape (d, K - 1)
        Ordered cutpoints per column ``d`` (leading broadcast dimensions of length 1, which
        :class:`pymc.CustomDist` adds, are dropped).

    Returns
    -------
    tensor, shape (n, d)
        The log-probabilities (see the module docstring for the formula: one ``exp`` and one
        ``log`` per score; cutpoint terms computed once per column and category).
    """
    while cutpoints.ndim > 2:
        if cutpoints.type.shape[0] != 1:
            raise AnalysisError("cumulative_logit_logp expects one row of cutpoints per column (shape (d, K - 1))")
        cutpoints = cutpoints[0]
    zeros = pt.zeros_like(cutpoints[:, :1])
    scaled = pt.exp(-cutpoints)
    lower = pt.concatenate([zeros, scaled], axis=1).ravel()
    upper = pt.concatenate([scaled, zeros], axis=1).ravel()
    width = -cutpoints[:, :-1] + pt.log1mexp(cutpoints[:, :-1] - cutpoints[:, 1:])
    log_width = pt.concatenate([zeros, width, -cutpoints[:, -1:]], axis=1).ravel()
    n_levels = cutpoints.shape[1] + 1
    index = (pt.arange(cutpoints.shape[0])[None, :] * n_levels + value - 1).ravel()
    flat_eta = eta.ravel()
    odds = pt.exp(flat_eta)
    logp = (
        pt.gt(value, 1).ravel() * flat_eta
        + log_width[index]
        - pt.log((1.0 + odds * lower[index]) * (1.0 + odds * upper[index]))
    )
    return logp.reshape(value.shape)


def cumulative_logit_random(eta, cutpoints, rng=None, size=None):
    """Draw categories ``1..K`` from the cumulative logit model (numpy; for predictive draws)."""
    eta = np.asarray(eta, dtype=float)
    cutpoints = np.asarray(cutpoints, dtype=float)
    shape = tuple(size) if size is not None else np.broadcast_shapes(eta.shape, cutpoints.shape[:-1])
    cumulative = expit(cutpoints - np.broadcast_to(eta, shape)[..., None])
    uniform = rng.uniform(size=shape)
    return 1 + (uniform[..., None] > cumulative).sum(axis=-1)


def expected_score(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """``E[y] = 1 + sum_k P(y > k) = 1 + sum_k logistic(eta - c_k)``; cutpoints on the last axis."""
    return 1.0 + expit(eta[..., None] - cutpoints).sum(axis=-1)


# ---------------------------------------------------------------------------------------------
# Model builders
# ---------------------------------------------------------------------------------------------


def _normal(name: str, prior: Mapping, **kwargs):
    return pm.Normal(name, mu=prior.get("mu", 0.0), sigma=prior["sigma"], **kwargs)


def _check_priors(priors: Mapping, required: Sequence[str], model: str) -> None:
    missing = [name for name in required if name not in priors]
    if missing:
        raise ConfigError(f"bayesian_models.{model}.priors lacks {missing}; the {model} model needs priors named {list(required)}")


def _ordinal_coords(design: TrialDesign, dimensions: Sequence[str], n_categories: int) -> dict:
    return {
        "dimension": list(dimensions),
        "dimension_bis": list(dimensions),
        "arm": list(design.treated_arms),
        "cutpoint": [f"{k}|{k + 1}" for k in range(1, n_categories)],
        "participant": list(design.participant_ids),
        "scenario": list(design.scenarios),
        "conversation": list(design.conversation_ids),
    }


def build_ordinal_model(
    design: TrialDesign,
    categories: np.ndarray,
    dimensions: Sequence[str],
    priors: Mapping,
    n_categories: int = N_CATEGORIES,
    parameterisation: str = "non_centred",
) -> pm.Model:
    """The joint cumulative-logit model of the dimensions (see the module docstring).

    Parameters
    ----------
    design : TrialDesign
        From :func:`trial_design`.
    categories : numpy.ndarray
        ``(n_rows, n_dimensions)`` observed categories ``1..K`` (:func:`discretise_scores`).
    dimensions : sequence of str
        Dimension names (the ``dimension`` coordinate).
    priors : mapping
        The registered priors (``bayesian_models.ordinal.priors``), one record per name of
        :data:`ORDINAL_PRIORS`: ``cutpoints``, ``arm_baseline``, ``post``, ``arm_post`` (normal
        ``mu``, ``sigma``), ``participant_sd`` (half-normal ``sigma``), ``participant_corr`` (LKJ
        ``eta``), ``scenario_effect`` (zero-sum normal ``sigma``).
    n_categories : int
        ``K``.
    parameterisation : {"non_centred", "centred"}
        Of the participant effects.

    Returns
    -------
    pymc.Model
        Free variables ``cutpoints_centred`` (dimension, cutpoint; ordered), ``arm`` and
        ``arm_post`` (arm, dimension), ``post`` (dimension), ``participant_chol`` (packed
        Cholesky factor), ``participant_z`` (participant, dimension), ``scenario_effect``
        (dimension, scenario; absent with a single scenario); deterministics ``cutpoints``,
        ``participant_sd``, ``participant_corr`` (dimension, dimension_bis); observed ``score``
        (conversation, dimension).
    """
    _check_priors(priors, ORDINAL_PRIORS, ORDINAL_MODEL)
    n_dimensions = len(dimensions)
    if categories.shape != (design.n_rows, n_dimensions):
        raise AnalysisError(f"categories have shape {categories.shape}, expected {(design.n_rows, n_dimensions)}")
    coords = _ordinal_coords(design, dimensions, n_categories)
    centred_cells = design.cell_design - design.design_mean
    n_scenarios = len(design.scenarios)
    row = design.cell_index * n_scenarios + design.scenario_index
    columns = np.arange(n_dimensions)[None, :]
    fixed_index = (row[:, None] * n_dimensions + columns).ravel()
    participant_index = (design.participant_index[:, None] * n_dimensions + columns).ravel()
    with pm.Model(coords=coords) as model:
        initial = np.tile(np.linspace(-2.0, 2.0, n_categories - 1), (n_dimensions, 1))
        cutpoints_centred = _normal(
            "cutpoints_centred", priors["cutpoints"], dims=("dimension", "cutpoint"),
            transform=pm.distributions.transforms.ordered, initval=initial,
        )
        arm = _normal("arm_baseline", priors["arm_baseline"], dims=("arm", "dimension"))
        post = _normal("post", priors["post"], dims="dimension")
        arm_post = _normal("arm_post", priors["arm_post"], dims=("arm", "dimension"))
        coefficients = pt.concatenate([arm, post[None, :], arm_post], axis=0)
        pm.Deterministic(
            "cutpoints", cutpoints_centred + pt.dot(design.design_mean, coefficients)[:, None], dims=("dimension", "cutpoint")
        )
        chol, corr, sds = pm.LKJCholeskyCov(
            "participant_chol", n=n_dimensions, eta=priors["participant_corr"]["eta"],
            sd_dist=pm.HalfNormal.dist(sigma=priors["participant_sd"]["sigma"], shape=n_dimensions),
            compute_corr=True, store_in_trace=False,
        )
        pm.Deterministic("participant_sd", sds, dims="dimension")
        pm.Deterministic("participant_corr", corr, dims=("dimension", "dimension_bis"))
        if parameterisation == "non_centred":
            participant_z = pm.Normal("participant_z", 0.0, 1.0, dims=("participant", "dimension"))
            participant_effect = pt.dot(participant_z, chol.T)
        elif parameterisation == "centred":
            participant_effect = pm.MvNormal(
                "participant_effect", mu=np.zeros(n_dimensions), chol=chol, dims=("participant", "dimension")
            )
        else:
            raise ConfigError(f"participant effect parameterisation '{parameterisation}' is not one of non_centred, centred")
        cells = pt.dot(centred_cells, coefficients)
        if n_scenarios > 1:
            scenario_effect = pm.ZeroSumNormal(
                "scenario_effect", sigma=priors["scenario_effect"]["sigma"], dims=("dimension", "scenario")
            )
            table = cells[:, None, :] + scenario_effect.T[None, :, :]
        else:
            table = cells[:, None, :]
        eta = (table.ravel()[fixed_index] + participant_effect.ravel()[participant_index]).reshape((design.n_rows, n_dimensions))
        pm.CustomDist(
            "score", eta, cutpoints_centred, logp=cumulative_logit_logp, random=cumulative_logit_random,
            signature="(),(k)->()", dtype="int64", observed=categories, dims=("conversation", "dimension"),
        )
    return model


def build_composite_model(design: TrialDesign, values: np.ndarray, priors: Mapping) -> pm.Model:
    """The Bayesian linear model of the composite with a participant random intercept.

    Parameters
    ----------
    design : TrialDesign
        From :func:`trial_design`.
    values : numpy.ndarray
        The composite per row.
    priors : mapping
        The registered priors (``bayesian_models.composite.priors``), one record per name of
        :data:`COMPOSITE_PRIORS`: ``intercept``, ``arm_baseline``, ``post``, ``arm_post`` (normal
        ``mu``, ``sigma``; the intercept's prior is on the centred-design intercept, i.e. the mean
        outcome), ``participant_sd`` and ``residual_sd`` (half-normal ``sigma``).

    Returns
    -------
    pymc.Model
        Free ``intercept_centred``, ``arm``, ``post``, ``arm_post``, ``participant_sd``,
        ``residual_sd``, ``participant_z``; deterministic ``intercept`` (reference arm at
        baseline); observed ``overall_empathy`` (conversation).
    """
    _check_priors(priors, COMPOSITE_PRIORS, COMPOSITE_MODEL)
    coords = {
        "arm": list(design.treated_arms),
        "participant": list(design.participant_ids),
        "conversation": list(design.conversation_ids),
    }
    centred = design.fixed_design - design.design_mean
    with pm.Model(coords=coords) as model:
        intercept_centred = _normal("intercept_centred", priors["intercept"])
        arm = _normal("arm_baseline", priors["arm_baseline"], dims="arm")
        post = _normal("post", priors["post"])
        arm_post = _normal("arm_post", priors["arm_post"], dims="arm")
        coefficients = pt.concatenate([arm, post[None], arm_post])
        pm.Deterministic("intercept", intercept_centred - pt.dot(design.design_mean, coefficients))
        participant_sd = pm.HalfNormal("participant_sd", sigma=priors["participant_sd"]["sigma"])
        residual_sd = pm.HalfNormal("residual_sd", sigma=priors["residual_sd"]["sigma"])
        participant_z = pm.Normal("participant_z", 0.0, 1.0, dims="participant")
        mean = intercept_centred + pt.dot(centred, coefficients) + participant_sd * participant_z[design.participant_index]
        pm.Normal("overall_empathy", mu=mean, sigma=residual_sd, observed=values, dims="conversation")
    return model


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sampler:
    """NUTS settings shared by both models (``bayesian_models.sampler``).

    Attributes
    ----------
    engine : {"nutpie", "pymc"}
        nutpie (Rust NUTS on a compiled model) or PyMC's own NUTS.
    backend : str
        nutpie's model compiler (``numba``); unused by ``pymc``.
    chains : int
        Chains.
    draws : int
        Draws kept per chain.
    tune : int
        Tuning iterations per chain, discarded.
    target_accept : float
        Target acceptance rate of the step-size adaptation.
    seed : int
        Seed of the sampler and of the posterior predictive draws.
    thin : int
        Every ``thin``-th of ``draws x thin`` iterations after tuning is kept.
    mass_matrix : {"diagonal", "low_rank", "draw_variance"}
        nutpie's mass matrix adaptation.
    """

    engine: str
    backend: str
    chains: int
    draws: int
    tune: int
    target_accept: float
    seed: int
    thin: int = 1
    mass_matrix: str = "diagonal"

    @classmethod
    def from_plan(cls, block: Mapping) -> Sampler:
        """The sampler registered in ``block`` (``bayesian_models.sampler``); ``thin`` and
        ``mass_matrix`` default as in the plan's schema."""
        return cls(
            engine=block["engine"],
            backend=block["backend"],
            chains=block["chains"],
            draws=block["draws"],
            tune=block["tune"],
            target_accept=block["target_accept"],
            seed=block["seed"],
            thin=block.get("thin", 1),
            mass_matrix=block.get("mass_matrix", "diagonal"),
        )


# The line nutpie's progress callback renders (a minijinja template; see nutpie.sample's notebook
# template for the variables): iterations done and planned over all chains, divergences per chain.
_NUTPIE_PROGRESS_TEMPLATE = "{{ total_finished_draws }}|{{ total_draws }}|{% for chain in chains %}{{ chain.divergences }} {% endfor %}"
_NUTPIE_PROGRESS_MS = 1000


# Per-draw statistics that the store_* settings (all off here) ask for: nutpie's in-memory store
# leaves them out, its zarr store keeps them as columns, so they are dropped to give the same trace.
_UNREQUESTED_STATS = (
    "gradient", "unconstrained_draw", "mass_matrix_inv", "mass_matrix_eigvals", "mass_matrix_stds", "divergence_start",
    "divergence_end", "divergence_momentum", "divergence_start_gradient",
)


# nutpie's compiled models, per PyMC model (dropped with it), backend and kept variables. Sampling one
# model twice (another thinning, a trace on disk) then compiles it once; a model's data are constants,
# so its compiled form cannot go stale.
_COMPILED: weakref.WeakKeyDictionary[pm.Model, dict] = weakref.WeakKeyDictionary()


def _compiled_model(model: pm.Model, backend: str, var_names: Sequence[str]):
    """The model compiled by nutpie for ``backend`` keeping ``var_names``: made on first use, then reused."""
    import nutpie

    compiled = _COMPILED.setdefault(model, {})
    key = (backend, tuple(var_names))
    if key not in compiled:
        compiled[key] = nutpie.compile_pymc_model(model, backend=backend, var_names=list(var_names))
    return compiled[key]


def _sample_nutpie(
    compiled, sampler: Sampler, iterations: int, cores: int, heartbeat: Heartbeat, trace_directory: str | None
) -> az.InferenceData:
    """``nutpie.sample`` with the sampler's progress sent to ``heartbeat`` once a second.

    nutpie hands its progress to a callback only inside notebooks; elsewhere it draws a terminal
    bar or nothing. This starts the very sampler :func:`nutpie.sample` starts (same settings, seed
    and initial point, so the same draws; checked in the tests) with that callback. The draws go to a
    zarr store in ``trace_directory`` as they are made and come back as a lazily loaded
    InferenceData: nutpie's default in-memory store keeps every tuning and kept iteration of every
    variable and copies them several times while converting, which made the ordinal model's memory
    grow with participants x iterations (8.6 GB at 3x the trial).
    """
    import nutpie
    from nutpie import _lib
    from nutpie.sample import _BackgroundSampler

    mass_matrix = sampler.mass_matrix
    settings = (_lib.PyNutsSettings.LowRank if mass_matrix == "low_rank" else _lib.PyNutsSettings.Diag)(sampler.seed)
    settings.num_tune = sampler.tune
    settings.num_draws = iterations
    settings.num_chains = sampler.chains
    settings.target_accept = sampler.target_accept
    if mass_matrix == "draw_variance":
        settings.use_grad_based_mass_matrix = False

    def report(rendered: str) -> None:
        done, total, divergences = rendered.split("|")
        heartbeat.update(int(done), int(total), "iterations of all chains incl. tuning",
                         detail=f"{sum(int(count) for count in divergences.split())} divergences")

    class _ReportingSampler(_BackgroundSampler):
        def __init__(self) -> None:
            self._settings = settings
            self._compiled_model = compiled
            self._save_warmup = False
            self._return_raw_trace = False
            self._html = None
            if trace_directory is None:
                self._store = _lib.PyStorage.arrow()
            else:
                self._zarr_store = nutpie.zarr_store.LocalStore(trace_directory)
                self._store = _lib.PyStorage.zarr(self._zarr_store)
            progress = _lib.ProgressType.template_callback(_NUTPIE_PROGRESS_MS, _NUTPIE_PROGRESS_TEMPLATE, cores, report)
            self._sampler = compiled._make_sampler(settings, np.zeros(compiled.n_dim), cores, progress, self._store)

    running = _ReportingSampler()
    try:
        idata = running.wait()
    except BaseException:
        running.cancel()
        raise
    stats = idata.sample_stats
    _replace_group(idata, "sample_stats", stats.drop_vars([name for name in _UNREQUESTED_STATS if name in stats]))
    return idata


@contextmanager
def sampled_trace(
    model: pm.Model, *, sampler: Sampler, var_names: Sequence[str], cores: int = 1, progress: Heartbeat | None = None
) -> Iterator[az.InferenceData]:
    """Draw from a model's posterior with the registered sampler; the draws load lazily inside the context.

    Parameters
    ----------
    model : pymc.Model
        From :func:`build_ordinal_model` or :func:`build_composite_model`.
    sampler : Sampler
        The registered sampler (:meth:`Sampler.from_plan`).
    var_names : sequence of str
        Variables to keep in the posterior.
    cores : int
        Chains run in parallel.
    progress : analysis.runtime.runlog.Heartbeat, optional
        Receives the stage (compiling, sampling) and, with nutpie, the iterations done and the
        divergences so far; default the running step's (:func:`analysis.runtime.runlog.current_heartbeat`).

    Yields
    ------
    arviz.InferenceData
        ``posterior`` and ``sample_stats`` (with ``diverging``) of the kept draws; the posterior's
        attrs hold ``compile_seconds``, ``sampling_seconds``, ``engine``, ``backend``, ``thin`` and
        ``divergences``, the divergent transitions among all iterations after tuning (thinned out
        ones included). With nutpie, a trace larger than
        :data:`analysis.runtime.resources.IN_MEMORY_TRACE_BYTES` stays on disk (a zarr store in a
        temporary folder, removed when the context closes) and loads when first read, so a caller can
        load a thinned subset of a large variable (:func:`thin_posterior`) without ever holding all its
        draws; a smaller one is sampled into memory (the same draws, a few seconds faster).
    """
    with ExitStack() as stack:
        engine = sampler.engine
        thin = int(sampler.thin)
        iterations = sampler.draws * thin
        progress = progress if progress is not None else current_heartbeat()
        start = time.perf_counter()
        if engine == "nutpie":
            progress.stage(f"compiling the sampler ({sampler.backend})")
            compiled = _compiled_model(model, sampler.backend, var_names)
            compiled_at = time.perf_counter()
            progress.stage(f"sampling ({sampler.chains} chains on {cores} core(s))")
            trace_bytes = trace_size_bytes(compiled.n_dim, sampler)
            trace_directory = (
                stack.enter_context(tempfile.TemporaryDirectory(prefix="nutpie-trace-"))
                if trace_bytes > IN_MEMORY_TRACE_BYTES else None
            )
            log.info("trace of %.0f MB %s", trace_bytes / 2**20, "on disk" if trace_directory else "in memory")
            idata = _sample_nutpie(compiled, sampler, iterations, cores, progress, trace_directory)
            for group in [name for name in idata.groups() if name.startswith("warmup_")]:
                del idata[group]
        elif engine == "pymc":
            compiled_at = start
            progress.stage(f"compiling and sampling (PyMC, {sampler.chains} chains)")
            with model:
                idata = pm.sample(
                    draws=iterations, tune=sampler.tune, chains=sampler.chains, cores=cores,
                    random_seed=sampler.seed, target_accept=sampler.target_accept, progressbar=False,
                    var_names=list(var_names), compute_convergence_checks=False,
                )
        else:
            raise ConfigError(f"bayesian_models.sampler.engine '{engine}' is not one of nutpie, pymc")
        finished = time.perf_counter()
        divergences = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
        if thin > 1:
            for name in ("posterior", "sample_stats"):
                kept = idata[name].isel(draw=slice(thin - 1, None, thin))
                _replace_group(idata, name, kept.assign_coords(draw=np.arange(kept.sizes["draw"])))
        idata.posterior.attrs.update(
            {
                "engine": engine,
                "thin": thin,
                "divergences": divergences,
                "backend": sampler.backend if engine == "nutpie" else "pytensor_c",
                "compile_seconds": compiled_at - start,
                "sampling_seconds": finished - compiled_at,
            }
        )
        log.info("%s: compiled in %.1f s, sampled in %.1f s", engine, compiled_at - start, finished - compiled_at)
        yield idata


def sample_model(
    model: pm.Model, *, sampler: Sampler, var_names: Sequence[str], cores: int = 1, progress: Heartbeat | None = None
) -> az.InferenceData:
    """Draw from a model's posterior with the registered sampler, every kept draw loaded in memory.

    Parameters and returned value as :func:`sampled_trace`.
    """
    with sampled_trace(model, sampler=sampler, var_names=var_names, cores=cores, progress=progress) as idata:
        return loaded(idata)


def loaded(idata: az.InferenceData, drop: Sequence[str] = ()) -> az.InferenceData:
    """``idata`` with every group read into memory, without the posterior variables in ``drop``."""
    groups = {name: idata[name] for name in idata.groups()}
    groups["posterior"] = groups["posterior"].drop_vars([name for name in drop if name in groups["posterior"]])
    return az.InferenceData(**{name: dataset.load() for name, dataset in groups.items()})


def thin_posterior(posterior: xr.Dataset, n_draws: int) -> xr.Dataset:
    """About ``n_draws`` draws in total, evenly spaced within each chain."""
    per_chain = max(1, int(np.ceil(n_draws / posterior.sizes["chain"])))
    step = max(1, posterior.sizes["draw"] // per_chain)
    return posterior.isel(draw=slice(None, None, step)).isel(draw=slice(0, per_chain))


def _replace_group(idata: az.InferenceData, name: str, dataset: xr.Dataset) -> None:
    if name in idata.groups():
        del idata[name]
    idata.add_groups({name: dataset})


def _design_data(design: TrialDesign) -> xr.Dataset:
    return xr.Dataset(
        {
            "participant_id": ("conversation", design.participant_ids[design.participant_index].astype(str)),
            "arm_name": ("conversation", design.arm.astype(str)),
            "conversation_number": ("conversation", design.conversation_number),
            "post_indicator": ("conversation", design.post),
            "scenario_name": ("conversation", design.scenarios[design.scenario_index].astype(str)),
        },
        coords={"conversation": design.conversation_ids.astype(str)},
    )


# ---------------------------------------------------------------------------------------------
# Derived quantities
# ---------------------------------------------------------------------------------------------


def _cell_predictors(posterior: xr.Dataset) -> dict[str, xr.DataArray]:
    """Linear predictors of the four DiD cells per arm (reference-coded, ``eta = 0`` is reference baseline)."""
    zero = xr.zeros_like(posterior["post"])
    return {
        "reference_baseline": zero,
        "reference_post": posterior["post"],
        "arm_baseline": posterior["arm_baseline"],
        "arm_post_cell": posterior["arm_baseline"] + posterior["post"] + posterior["arm_post"],
    }


def _expected(eta: xr.DataArray, cutpoints: xr.DataArray, spread: xr.DataArray | None, scenario: xr.DataArray | None) -> xr.DataArray:
    """Expected score of cell predictor ``eta``; averaged over N(0, spread) and the scenarios when given."""
    if spread is None:
        return xr.apply_ufunc(
            expected_score, eta, cutpoints, input_core_dims=[[], ["cutpoint"]], vectorize=False,
            dask="forbidden",
        )
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    weights = weights / weights.sum()
    node = xr.DataArray(nodes, dims="node")
    weight = xr.DataArray(weights, dims="node")
    shifted = eta + spread * node
    if scenario is not None:
        shifted = shifted + scenario
    values = xr.apply_ufunc(expected_score, shifted, cutpoints, input_core_dims=[[], ["cutpoint"]])
    values = (values * weight).sum("node")
    if scenario is not None:
        values = values.mean("scenario")
    return values


def expected_score_effects(posterior: xr.Dataset) -> xr.Dataset:
    """Changes in expected score (DiD over the four cells) for every posterior draw.

    Returns
    -------
    xarray.Dataset
        ``expected_score_post`` (dimension): the reference arm's change;
        ``expected_score_did`` (arm, dimension): each other arm's DiD; both averaged over the
        participant-effect distribution and the scenarios; and ``*_typical`` versions for a
        participant with ``u = 0`` and the average scenario.
    """
    cutpoints = posterior["cutpoints"]
    cells = _cell_predictors(posterior)
    scenario = posterior["scenario_effect"] if "scenario_effect" in posterior else None
    result = {}
    for suffix, spread, shift in (("", posterior["participant_sd"], scenario), ("_typical", None, None)):
        expected = {name: _expected(eta, cutpoints, spread, shift) for name, eta in cells.items()}
        reference_change = expected["reference_post"] - expected["reference_baseline"]
        result[f"expected_score_post{suffix}"] = reference_change
        result[f"expected_score_did{suffix}"] = (expected["arm_post_cell"] - expected["arm_baseline"]) - reference_change
    return xr.Dataset(result).transpose("chain", "draw", ...)


# ---------------------------------------------------------------------------------------------
# Diagnostics and their registered gates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gates:
    """The registered diagnostic gates (``bayesian_models.diagnostics``).

    Attributes
    ----------
    max_r_hat : float
        Largest rank-normalised split R-hat allowed.
    min_ess_bulk, min_ess_tail : float
        Smallest bulk and tail effective sample sizes allowed.
    max_divergences : int
        Most divergent transitions allowed after tuning (all chains).
    policy : {"fail", "warn"}
        What a broken gate does (:func:`enforce_gates`).
    """

    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    max_divergences: int
    policy: str

    @classmethod
    def from_plan(cls, block: Mapping) -> Gates:
        """The gates registered in ``block`` (``bayesian_models.diagnostics``)."""
        return cls(**{field.name: block[field.name] for field in fields(cls)})


def _parameter_label(name: str, coords: Mapping) -> str:
    if not coords:
        return name
    return f"{name}[{', '.join(str(value) for value in coords.values())}]"


def diagnostics_table(
    idata: az.InferenceData, model: str, *, quantities: Sequence[str], gated: Sequence[str], gates: Gates
) -> pd.DataFrame:
    """R-hat, bulk and tail ESS of every element of the model's registered quantities.

    Parameters
    ----------
    idata : arviz.InferenceData
        A fitted model.
    model : str
        Model name written in the ``model`` column.
    quantities : sequence of str
        Posterior variables to report (those absent, e.g. scenario effects of a one-scenario
        cohort, are skipped); correlation matrices report only their lower triangle.
    gated : sequence of str
        Quantities whose elements must pass ``gates``.
    gates : Gates
        The thresholds (its ``max_divergences`` and ``policy`` are applied by
        :func:`gate_problems` and :func:`enforce_gates`).

    Returns
    -------
    pandas.DataFrame
        ``DIAGNOSTIC_COLUMNS``: one row per element, ``passed`` False when a gated element
        breaks a threshold (a non-finite R-hat or ESS breaks it too); ``divergences`` is the
        model's total number of divergent transitions after tuning (thinned-out iterations
        included).
    """
    names = [name for name in quantities if name in idata.posterior]
    posterior = idata.posterior[names]
    measures = {
        "r_hat": az.rhat(posterior),
        "ess_bulk": az.ess(posterior, method="bulk"),
        "ess_tail": az.ess(posterior, method="tail"),
    }
    rows = []
    for name in names:
        frame = pd.DataFrame({measure: values[name].to_series() if values[name].ndim else pd.Series([float(values[name])])
                              for measure, values in measures.items()})
        dims = list(posterior[name].dims[2:])
        if "dimension" in dims and "dimension_bis" in dims:
            levels = list(posterior[name].coords["dimension"].values)
            first = frame.index.get_level_values("dimension").map(levels.index)
            second = frame.index.get_level_values("dimension_bis").map(levels.index)
            frame = frame[np.asarray(first) > np.asarray(second)]
        labels = [
            _parameter_label(name, dict(zip(dims, key if isinstance(key, tuple) else (key,)))) if dims else name
            for key in frame.index
        ]
        rows.append(frame.assign(model=model, quantity=name, parameter=labels).reset_index(drop=True))
    table = pd.concat(rows, ignore_index=True)
    divergences = _divergences(idata)
    table["gated"] = table["quantity"].isin(list(gated))
    fine = (
        np.isfinite(table[["r_hat", "ess_bulk", "ess_tail"]]).all(axis=1)
        & (table["r_hat"] <= gates.max_r_hat)
        & (table["ess_bulk"] >= gates.min_ess_bulk)
        & (table["ess_tail"] >= gates.min_ess_tail)
    )
    table["passed"] = fine | ~table["gated"]
    table["divergences"] = divergences
    table["chains"] = int(idata.posterior.sizes["chain"])
    table["draws"] = int(idata.posterior.sizes["draw"])
    table["thin"] = int(idata.posterior.attrs.get("thin", 1))
    return table[DIAGNOSTIC_COLUMNS]


def _divergences(idata: az.InferenceData) -> int:
    """Divergent transitions after tuning, counting iterations that thinning dropped."""
    if "divergences" in idata.posterior.attrs:
        return int(idata.posterior.attrs["divergences"])
    return int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0


def gate_problems(diagnostics: pd.DataFrame, *, gates: Gates) -> list[str]:
    """Every broken diagnostic gate, one line each, naming the parameters and their values.

    Parameters
    ----------
    diagnostics : pandas.DataFrame
        From :func:`diagnostics_table` (one or more models).
    gates : Gates
        The registered thresholds.

    Returns
    -------
    list of str
        One line per model and broken gate (empty when every gate passes).
    """
    problems = []
    gated = diagnostics[diagnostics["gated"]]
    checks = (
        ("r_hat", gated["r_hat"].gt(gates.max_r_hat) | ~np.isfinite(gated["r_hat"]), f"R-hat above {gates.max_r_hat}", "{:.4f}"),
        ("ess_bulk", gated["ess_bulk"].lt(gates.min_ess_bulk) | ~np.isfinite(gated["ess_bulk"]), f"bulk ESS below {gates.min_ess_bulk}", "{:.0f}"),
        ("ess_tail", gated["ess_tail"].lt(gates.min_ess_tail) | ~np.isfinite(gated["ess_tail"]), f"tail ESS below {gates.min_ess_tail}", "{:.0f}"),
    )
    for column, broken, text, number in checks:
        for model, group in gated[broken].groupby("model", sort=False):
            listed = ", ".join(
                f"{row.parameter} ({number.format(getattr(row, column))})" for row in group.head(MAX_LISTED).itertuples()
            )
            more = len(group) - MAX_LISTED
            if more > 0:
                listed += f" ... and {more} more (see the diagnostics table)"
            problems.append(f"{model}: {text}: {listed}")
    for model, group in diagnostics.groupby("model", sort=False):
        divergences = int(group["divergences"].iloc[0])
        if divergences > gates.max_divergences:
            problems.append(f"{model}: {divergences} divergent transition(s) after tuning (at most {gates.max_divergences} allowed)")
    return problems


def enforce_gates(problems: Sequence[str], *, gates: Gates, analysis_id: str) -> None:
    """Raise :class:`DiagnosticsError` listing the problems (``gates.policy`` ``fail``) or log them (``warn``).

    Parameters
    ----------
    problems : sequence of str
        From :func:`gate_problems` (nothing happens when empty).
    gates : Gates
        The registered gates; their ``policy`` decides.
    analysis_id : str
        Named in the message.

    Raises
    ------
    DiagnosticsError
        Under policy ``fail``.
    ConfigError
        For a policy other than ``fail`` or ``warn``.
    """
    if not problems:
        return
    policy = gates.policy
    message = (
        f"{analysis_id} broke its registered diagnostic gates (bayesian_models.diagnostics):\n  "
        + "\n  ".join(problems)
        + "\nThe posterior is not trustworthy as sampled; raise bayesian_models.sampler.draws/thin/tune or "
        "target_accept in config/prereg.yaml (a registered change), or set diagnostics.policy: warn."
    )
    if policy == "fail":
        raise DiagnosticsError(message)
    if policy != "warn":
        raise ConfigError(f"bayesian_models.diagnostics.policy '{policy}' is not one of fail, warn")
    log.warning(message)


# ---------------------------------------------------------------------------------------------
# Fitting the registered models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BayesFit:
    """A fitted Bayesian model with its diagnostics.

    ``idata`` holds ``posterior`` (registered and derived quantities only), ``sample_stats``,
    ``observed_data``, ``constant_data`` (each conversation's participant, arm, conversation
    number, post and scenario) and, for the ordinal model, ``posterior_predictive`` on a thinned
    set of draws. ``problems`` lists the broken gates (empty when all pass); ``execution``
    describes the fit for the spec record.
    """

    idata: az.InferenceData
    diagnostics: pd.DataFrame
    problems: list[str]
    execution: dict


def _versions() -> dict[str, str]:
    return {package: version(package) for package in ("pymc", "pytensor", "nutpie", "arviz", "numpy")}


def _sampling_record(idata: az.InferenceData, sampler: Sampler) -> dict:
    return {
        "engine": sampler.engine,
        "backend": sampler.backend,
        "chains": int(idata.posterior.sizes["chain"]),
        "draws": int(idata.posterior.sizes["draw"]),
        "thin": int(sampler.thin),
        "tune": int(sampler.tune),
        "target_accept": float(sampler.target_accept),
        "mass_matrix": sampler.mass_matrix,
    }


def _diagnostics_record(diagnostics: pd.DataFrame, problems: Sequence[str], policy: str) -> dict:
    gated = diagnostics[diagnostics["gated"]]
    return {
        "max_r_hat": float(gated["r_hat"].max()),
        "min_ess_bulk": float(gated["ess_bulk"].min()),
        "min_ess_tail": float(gated["ess_tail"].min()),
        "divergences": int(diagnostics["divergences"].iloc[0]),
        "passed": not problems,
        "policy": policy,
        "problems": list(problems),
    }


def _gated_fit(
    idata: az.InferenceData,
    posterior: xr.Dataset,
    model: str,
    quantities: Sequence[str],
    design: TrialDesign,
    observed: xr.Dataset,
    outcomes: list[str],
    terms: list[str],
    sample: dict,
    details: dict,
    reference_arm: str,
    priors: Mapping[str, Mapping],
    gated: Sequence[str],
    sampler: Sampler,
    gates: Gates,
) -> BayesFit:
    """Put the reported ``posterior`` (keeping the sampler's attrs) and the data into a sampled
    model, check its registered gates and describe the fit for its spec record (what both
    registered models share)."""
    posterior.attrs = dict(idata.posterior.attrs)
    _replace_group(idata, "posterior", posterior)
    _replace_group(idata, "observed_data", observed)
    _replace_group(idata, "constant_data", _design_data(design))
    current_heartbeat().stage("diagnostics (R-hat, ESS) of every registered quantity")
    diagnostics = diagnostics_table(idata, model, quantities=quantities, gated=gated, gates=gates)
    problems = gate_problems(diagnostics, gates=gates)
    execution = {
        "estimator": f"pymc_{sampler.engine}_nuts",
        "outcomes": outcomes,
        "terms": terms,
        "reference_arm": reference_arm,
        "sample": sample,
        "seed": int(sampler.seed),
        "diagnostics": _diagnostics_record(diagnostics, problems, gates.policy),
        "details": {
            **details,
            "priors": dict(priors),
            "sampler": _sampling_record(idata, sampler),
            "gated": list(gated),
            "versions": _versions(),
        },
    }
    return BayesFit(idata=idata, diagnostics=diagnostics, problems=problems, execution=execution)


def fit_ordinal_model(
    data: pd.DataFrame,
    *,
    dimensions: Sequence[str],
    arms: Sequence[str],
    reference_arm: str,
    priors: Mapping[str, Mapping],
    gated: Sequence[str],
    discretisation: str,
    participant_parameterisation: str,
    posterior_predictive_draws: int,
    sampler: Sampler,
    gates: Gates,
    cores: int = 1,
) -> BayesFit:
    """Fit the registered joint ordinal model of the dimensions.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes (``conversation_scores.csv``).
    dimensions : sequence of str
        Registered dimensions.
    arms, reference_arm
        Registered arms and the reference arm.
    priors : mapping
        ``bayesian_models.ordinal.priors``: one prior record per name of :data:`ORDINAL_PRIORS`
        (see :func:`build_ordinal_model`).
    gated : sequence of str
        Quantities whose every element must pass ``gates`` (``bayesian_models.ordinal.gated``).
    discretisation : {"round_half_up", "round_half_down", "integer_only"}
        How a score that is not an integer becomes a category (:func:`discretise_scores`).
    participant_parameterisation : {"non_centred", "centred"}
        Of the participant effects (:func:`build_ordinal_model`).
    posterior_predictive_draws : int
        Posterior draws (evenly thinned) used for the posterior predictive draws.
    sampler : Sampler
        ``bayesian_models.sampler`` (:meth:`Sampler.from_plan`).
    gates : Gates
        ``bayesian_models.diagnostics`` (:meth:`Gates.from_plan`).
    cores : int
        Chains sampled in parallel.

    Returns
    -------
    BayesFit
        ``execution`` records the priors, the sampler settings and ``gated`` as given.
    """
    design = trial_design(data, arms, reference_arm)
    categories, rounded = discretise_scores(data, dimensions, discretisation)
    model = build_ordinal_model(design, categories, dimensions, priors, parameterisation=participant_parameterisation)
    stored = [name for name in (*ORDINAL_QUANTITIES[:7], "cutpoints_centred", *ORDINAL_NUISANCE) if name in model.named_vars]
    with sampled_trace(model, sampler=sampler, var_names=stored, cores=cores) as trace:
        # the participant effects are loaded only at the draws the posterior predictive draws use
        thinned = thin_posterior(trace.posterior, posterior_predictive_draws).load()
        idata = loaded(trace, drop=ORDINAL_NUISANCE)
    current_heartbeat().stage("posterior predictive draws and expected-score effects")
    predictive = pm.sample_posterior_predictive(
        thinned, model=model, var_names=["score"], random_seed=sampler.seed, progressbar=False
    )
    posterior = xr.merge([idata.posterior, expected_score_effects(idata.posterior)])
    _replace_group(idata, "posterior_predictive", predictive.posterior_predictive.astype(np.int8))
    observed = xr.Dataset(
        {"score": (("conversation", "dimension"), categories)},
        coords={"conversation": design.conversation_ids.astype(str), "dimension": list(dimensions)},
    )
    terms = [*design.fixed_terms, "scenario (zero-sum)" if len(design.scenarios) > 1 else "scenario (one level: omitted)",
             "participant (correlated across dimensions, LKJ)"]
    sample = {
        "n_obs": int(design.n_rows),
        "n_scores": int(categories.size),
        "n_participants": int(len(design.participant_ids)),
        "n_scenarios": int(len(design.scenarios)),
        "rounded_scores": rounded,
    }
    details = {
        "likelihood": "cumulative logit, dimension-specific ordered cutpoints",
        "discretisation": discretisation,
        "parameterisation": "fixed effects centred for sampling; participant effects "
                            f"{participant_parameterisation.replace('_', '-')} (LKJCholeskyCov)",
        "posterior_predictive_draws": int(predictive.posterior_predictive.sizes["chain"] * predictive.posterior_predictive.sizes["draw"]),
    }
    return _gated_fit(idata, posterior, ORDINAL_MODEL, ORDINAL_QUANTITIES, design, observed, list(dimensions), terms, sample, details,
                      reference_arm, priors, gated, sampler, gates)


def fit_composite_model(
    data: pd.DataFrame,
    *,
    outcome: str,
    arms: Sequence[str],
    reference_arm: str,
    priors: Mapping[str, Mapping],
    gated: Sequence[str],
    sampler: Sampler,
    gates: Gates,
    cores: int = 1,
) -> BayesFit:
    """Fit the registered Bayesian linear model of the composite.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes (``conversation_scores.csv``).
    outcome : str
        The composite's column (``bayesian_models.composite.outcome``).
    arms, reference_arm
        Registered arms and the reference arm.
    priors : mapping
        ``bayesian_models.composite.priors``: one prior record per name of
        :data:`COMPOSITE_PRIORS` (see :func:`build_composite_model`).
    gated : sequence of str
        Quantities whose every element must pass ``gates`` (``bayesian_models.composite.gated``).
    sampler : Sampler
        ``bayesian_models.sampler`` (:meth:`Sampler.from_plan`).
    gates : Gates
        ``bayesian_models.diagnostics`` (:meth:`Gates.from_plan`).
    cores : int
        Chains sampled in parallel.

    Returns
    -------
    BayesFit
    """
    design = trial_design(data, arms, reference_arm)
    values = outcome_values(data, outcome)
    model = build_composite_model(design, values, priors)
    stored = [*COMPOSITE_QUANTITIES, "intercept_centred"]
    idata = sample_model(model, sampler=sampler, var_names=stored, cores=cores)
    posterior = idata.posterior[[name for name in stored if name in idata.posterior]]
    observed = xr.Dataset({outcome: ("conversation", values)}, coords={"conversation": design.conversation_ids.astype(str)})
    terms = ["intercept", *design.fixed_terms, "participant (random intercept)"]
    sample = {"n_obs": int(design.n_rows), "n_participants": int(len(design.participant_ids))}
    details = {"likelihood": "normal", "parameterisation": "fixed effects centred for sampling; participant intercepts non-centred"}
    return _gated_fit(idata, posterior, COMPOSITE_MODEL, COMPOSITE_QUANTITIES, design, observed, [outcome], terms, sample, details,
                      reference_arm, priors, gated, sampler, gates)


# ---------------------------------------------------------------------------------------------
# Summaries: effects, contrasts, posterior predictive proportions
# ---------------------------------------------------------------------------------------------


# The fit function of each registered model (``bayesian_models.<model>``).
FIT_FUNCTIONS = {"ordinal": fit_ordinal_model, "composite": fit_composite_model}


def _summary_rows(draws: xr.DataArray, hdi_prob: float, direction: str) -> dict:
    """Median, mean, SD, HDI and P(beneficial) of one scalar quantity's draws."""
    values = draws.to_numpy().ravel()
    low, high = az.hdi(values, hdi_prob=hdi_prob)
    beneficial = values > 0 if direction == "increase" else values < 0
    return {
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)),
        "hdi_low": float(low),
        "hdi_high": float(high),
        "hdi_prob": hdi_prob,
        "beneficial_direction": direction,
        "prob_improvement": float(beneficial.mean()),
    }


ORDINAL_SCALES = {
    # scale: (reference arm's variable, other arms' variable)
    "log_odds": ("post", "arm_post"),
    "expected_score": ("expected_score_post", "expected_score_did"),
    "expected_score_typical": ("expected_score_post_typical", "expected_score_did_typical"),
}


def _arm_draws(posterior: xr.Dataset, reference_variable: str, arm_variable: str, arm: str, reference_arm: str, **selection) -> xr.DataArray:
    if arm == reference_arm:
        return posterior[reference_variable].sel(**selection)
    return posterior[arm_variable].sel(arm=arm, **selection)


def bayes_effects(
    ordinal: az.InferenceData,
    composite: az.InferenceData,
    arms: Sequence[str],
    reference_arm: str,
    directions: Mapping[str, str],
    composite_name: str,
    hdi_prob: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effects and pairwise arm contrasts of both models.

    Parameters
    ----------
    ordinal, composite : arviz.InferenceData
        Fitted models (read back from ``ordinal.nc`` and ``composite.nc``).
    arms, reference_arm
        Registered arms and the reference arm.
    directions : mapping
        Beneficial direction per outcome (:func:`beneficial_directions`).
    composite_name : str
        Name of the composite outcome.
    hdi_prob : float
        Probability mass of the highest-density intervals.

    Returns
    -------
    effects : pandas.DataFrame
        ``EFFECT_COLUMNS``; per model, outcome, arm and scale: the reference arm's ``post``
        change and the other arms' ``<arm>:post`` effect. Ordinal scales: ``log_odds``,
        ``expected_score`` (population-averaged DiD of expected scores) and
        ``expected_score_typical``; composite: ``score``. ``prob_improvement`` is the posterior
        probability of a change in the beneficial direction (> 0 for an outcome to increase,
        < 0 for one to decrease).
    contrasts : pandas.DataFrame
        ``CONTRAST_COLUMNS``: ``arm_a`` minus ``arm_b`` for every pair of non-reference arms
        (registered order); ``prob_improvement`` is P(``arm_a``'s effect is the more beneficial).
    """
    treated = [arm for arm in arms if arm != reference_arm]
    effects, contrasts = [], []
    posterior = ordinal.posterior
    for dimension in posterior.coords["dimension"].values:
        direction = directions[str(dimension)]
        for scale, (reference_variable, arm_variable) in ORDINAL_SCALES.items():
            for arm in arms:
                draws = _arm_draws(posterior, reference_variable, arm_variable, arm, reference_arm, dimension=dimension)
                term = "post" if arm == reference_arm else f"{arm}:post"
                effects.append({"model": ORDINAL_MODEL, "outcome": str(dimension), "arm": arm, "term": term, "scale": scale,
                                **_summary_rows(draws, hdi_prob, direction)})
            for arm_a, arm_b in combinations(treated, 2):
                difference = posterior[arm_variable].sel(arm=arm_a, dimension=dimension) - posterior[arm_variable].sel(arm=arm_b, dimension=dimension)
                contrasts.append({"model": ORDINAL_MODEL, "outcome": str(dimension), "arm_a": arm_a, "arm_b": arm_b, "scale": scale,
                                  **_summary_rows(difference, hdi_prob, direction)})
    linear = composite.posterior
    direction = directions[composite_name]
    for arm in arms:
        draws = _arm_draws(linear, "post", "arm_post", arm, reference_arm)
        term = "post" if arm == reference_arm else f"{arm}:post"
        effects.append({"model": COMPOSITE_MODEL, "outcome": composite_name, "arm": arm, "term": term, "scale": "score",
                        **_summary_rows(draws, hdi_prob, direction)})
    for arm_a, arm_b in combinations(treated, 2):
        difference = linear["arm_post"].sel(arm=arm_a) - linear["arm_post"].sel(arm=arm_b)
        contrasts.append({"model": COMPOSITE_MODEL, "outcome": composite_name, "arm_a": arm_a, "arm_b": arm_b, "scale": "score",
                          **_summary_rows(difference, hdi_prob, direction)})
    return pd.DataFrame(effects, columns=EFFECT_COLUMNS), pd.DataFrame(contrasts, columns=CONTRAST_COLUMNS)


def ppc_category_proportions(idata: az.InferenceData, arms: Sequence[str], interval_prob: float = 0.95) -> pd.DataFrame:
    """Observed and posterior predictive share of each category by dimension, arm and conversation.

    Parameters
    ----------
    idata : arviz.InferenceData
        The fitted ordinal model with ``observed_data``, ``constant_data`` and
        ``posterior_predictive`` groups.
    arms : sequence of str
        Arms in output order.
    interval_prob : float
        Mass of the equal-tailed predictive interval of each share.

    Returns
    -------
    pandas.DataFrame
        ``PPC_COLUMNS``: ``observed_share`` is the share of the cell's conversations scored in
        ``category``; ``predicted_median``, ``predicted_low`` and ``predicted_high`` summarise
        the same share over the posterior predictive draws.
    """
    observed = idata.observed_data["score"].to_numpy()
    predicted = idata.posterior_predictive["score"].stack(sample=("chain", "draw")).transpose("sample", "conversation", "dimension").to_numpy()
    constant = idata.constant_data
    arm_names = constant["arm_name"].to_numpy().astype(str)
    numbers = constant["conversation_number"].to_numpy()
    conversation_levels = np.unique(numbers)
    present = [arm for arm in arms if arm in set(arm_names)]
    group = np.array([present.index(arm) for arm in arm_names]) * len(conversation_levels) + np.searchsorted(conversation_levels, numbers)
    n_groups = len(present) * len(conversation_levels)
    n_samples, _, n_dimensions = predicted.shape
    group_size = np.bincount(group, minlength=n_groups).astype(float)
    dimension_index = np.arange(n_dimensions)[None, :]
    observed_counts = np.bincount(
        ((group[:, None] * n_dimensions + dimension_index) * N_CATEGORIES + observed - 1).ravel(),
        minlength=n_groups * n_dimensions * N_CATEGORIES,
    ).reshape(n_groups, n_dimensions, N_CATEGORIES)
    sample_index = np.arange(n_samples)[:, None, None]
    flat = (((sample_index * n_groups + group[None, :, None]) * n_dimensions + dimension_index[None]) * N_CATEGORIES
            + predicted.astype(np.int64) - 1)
    predicted_counts = np.bincount(flat.ravel(), minlength=n_samples * n_groups * n_dimensions * N_CATEGORIES).reshape(
        n_samples, n_groups, n_dimensions, N_CATEGORIES
    )
    shares = predicted_counts / group_size[None, :, None, None]
    tail = (1.0 - interval_prob) / 2.0
    low, median, high = np.quantile(shares, [tail, 0.5, 1.0 - tail], axis=0)
    index = pd.MultiIndex.from_product(
        [present, conversation_levels, idata.observed_data["dimension"].to_numpy().astype(str), np.arange(1, N_CATEGORIES + 1)],
        names=["arm", "conversation_number", "dimension", "category"],
    )
    table = pd.DataFrame(
        {
            "n_conversations": np.repeat(group_size, n_dimensions * N_CATEGORIES).astype(np.int64),
            "observed_share": (observed_counts / group_size[:, None, None]).ravel(),
            "predicted_median": median.ravel(),
            "predicted_low": low.ravel(),
            "predicted_high": high.ravel(),
            "interval_prob": interval_prob,
        },
        index=index,
    ).reset_index()
    order = {name: rank for rank, name in enumerate(idata.observed_data["dimension"].to_numpy().astype(str))}
    table = table.sort_values(["dimension", "arm", "conversation_number", "category"], key=lambda column: (
        column.map(order) if column.name == "dimension" else column.map({a: i for i, a in enumerate(present)}) if column.name == "arm" else column
    ), kind="stable")
    return table[PPC_COLUMNS].reset_index(drop=True)


def summarise_models(
    ordinal: az.InferenceData,
    composite: az.InferenceData,
    *,
    arms: Sequence[str],
    reference_arm: str,
    directions: Mapping[str, str],
    composite_name: str,
    ordinal_gated: Sequence[str],
    composite_gated: Sequence[str],
    gates: Gates,
    hdi_prob: float = 0.95,
) -> dict[str, pd.DataFrame]:
    """All tables of the ``bayes`` family from the two fitted models.

    Parameters
    ----------
    ordinal, composite : arviz.InferenceData
        Fitted models (read back from ``ordinal.nc`` and ``composite.nc``).
    arms, reference_arm
        Registered arms and the reference arm.
    directions : mapping
        Beneficial direction per outcome (:func:`beneficial_directions`).
    composite_name : str
        Name of the composite outcome.
    ordinal_gated, composite_gated : sequence of str
        Each model's gated quantities.
    gates : Gates
        The registered diagnostic gates.
    hdi_prob : float
        Mass of the highest-density and posterior predictive intervals.

    Returns
    -------
    dict
        ``effects`` and ``contrasts`` (:func:`bayes_effects`), ``diagnostics`` (both models,
        :func:`diagnostics_table`) and ``ppc`` (:func:`ppc_category_proportions`).
    """
    effects, contrasts = bayes_effects(ordinal, composite, arms, reference_arm, directions, composite_name, hdi_prob)
    diagnostics = pd.concat(
        [
            diagnostics_table(ordinal, ORDINAL_MODEL, quantities=ORDINAL_QUANTITIES, gated=ordinal_gated, gates=gates),
            diagnostics_table(composite, COMPOSITE_MODEL, quantities=COMPOSITE_QUANTITIES, gated=composite_gated, gates=gates),
        ],
        ignore_index=True,
    )
    return {
        "effects": effects,
        "contrasts": contrasts,
        "diagnostics": diagnostics,
        "ppc": ppc_category_proportions(ordinal, arms, hdi_prob),
    }
