"""The registered linear mixed models: ``score ~ arm * post + scenario + (1 | participant)``.

For each outcome a random-intercept linear mixed model is fitted by REML, with
the fixed effects coded as in the primary analysis (reference arm left out,
``post = 1`` for the post-training conversations) plus treatment-coded scenario
dummies. Term names are those of the primary table (``intercept``, ``<arm>``,
``post``, ``<arm>:post``) followed by ``scenario[<level>]`` for every
non-reference scenario; the variance components follow as the rows
``var(participant)`` and ``var(residual)``.

The fit: REML profiled down to one variance ratio
-------------------------------------------------
With one random intercept per participant the marginal covariance of
participant ``i``'s ``n_i`` scores is ``sigma2_e (I + theta J)``, ``J`` the
all-ones matrix and ``theta = sigma2_u / sigma2_e``. Its inverse splits into a
within-participant and a between-participant part,
``(I - J/n_i) + J / (n_i (1 + n_i theta))``, so every quantity REML needs is a
sum of the within-participant cross-products of ``[X, y]`` and, per distinct
participant size ``m``, the between-participant cross-products of the
participant sums, weighted by ``1 / (1 + m theta)``. Both are computed once
(time linear in the rows); after that one evaluation of the criterion costs
the same at any number of participants. Given ``theta``, the fixed effects,
``sigma2_e`` and the REML criterion are closed-form (Bates et al. 2015,
section 3.4, with ``|L_theta|^2 = prod_i (1 + n_i theta)``)::

    M(theta)     = X' V^-1 X,   beta = M^-1 X' V^-1 y,   r2 = y' V^-1 y - beta' X' V^-1 y
    sigma2_e     = r2 / (n - p),      sigma2_u = theta sigma2_e
    REMLcrit     = sum_i log(1 + n_i theta) + log|M| + (n - p) (1 + log(2 pi r2 / (n - p)))
    vcov(beta)   = sigma2_e M^-1      (lme4's vcov())

(``V`` in units of ``sigma2_e``). ``REMLcrit`` is lme4's ``REMLcrit()``; the
REML log-likelihood is ``-REMLcrit / 2``.

The criterion is minimised over ``log(theta)``: first on a grid of
:data:`GRID_POINTS` points spanning ``theta`` in :data:`RATIO_BOUNDS` (no start
value to choose), then by scipy's bounded Brent method
(``minimize_scalar(method="bounded")``) between the grid neighbours of the best
grid point, with the registered ``maxiter`` and ``xatol``.

Convergence
-----------
The registered optimizers are tried in order. A fit is accepted only when
Brent's method reports success, the variance ratio is not on the boundary
(``sqrt(theta)`` below 1e-4, lme4's ``isSingular()`` tolerance, or the best
grid point at either end of the grid) and no linear-algebra error occurs.
Every failed attempt's reason is kept for the convergence record; when no
registered optimizer gives an accepted fit, :class:`analysis.errors.AnalysisError`
is raised naming the outcome, the optimizers tried and what went wrong. There
is no silent fallback.

References
----------
Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
mixed-effects models using lme4. Journal of Statistical Software 67(1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.models.did import COEFFICIENT_COLUMNS
from analysis.models.tidy import wald_coefficients
from analysis.runtime.lazy_imports import lazy_module
from analysis.runtime.runlog import current_heartbeat

__all__ = [
    "CONVERGENCE_COLUMNS", "VARIANCE_TERMS", "FIXED_TERMS", "OPTIMIZER_TOLERANCES", "WARNING_SEPARATOR", "RATIO_BOUNDS",
    "GRID_POINTS", "SINGULAR_RATIO", "ALGORITHM", "Optimizer", "MixedFit", "model_formula", "scenario_levels",
    "fixed_effects_design", "ProfiledREML", "fit_mixed_model", "coefficient_rows", "MixedResults", "mixed_analysis",
]

linalg = lazy_module("scipy.linalg")
optimize = lazy_module("scipy.optimize")

CONVERGENCE_COLUMNS = [
    "outcome", "converged", "optimizer", "attempts", "iterations", "function_calls", "log_likelihood", "n_obs",
    "n_clusters", "warnings",
]
VARIANCE_TERMS = ("var(participant)", "var(residual)")
FIXED_TERMS = ("arm", "post", "arm:post", "scenario")
# Registered optimizer methods and the tolerance each one understands.
OPTIMIZER_TOLERANCES = {"profiled_bounded": "xatol"}
WARNING_SEPARATOR = " | "
# The variance ratio sigma2_u / sigma2_e searched: far beyond any ratio these scores can give at either end.
RATIO_BOUNDS = (1e-10, 1e10)
GRID_POINTS = 41
# lme4's isSingular(): a relative standard deviation sqrt(theta) below 1e-4 is a fit on the boundary.
SINGULAR_RATIO = 1e-8
ALGORITHM = (
    "REML profiled over the fixed effects and sigma2_e, minimised over log(sigma2_u / sigma2_e) on a grid of "
    f"{GRID_POINTS} points over [{RATIO_BOUNDS[0]:g}, {RATIO_BOUNDS[1]:g}] then by bounded Brent; GLS fixed effects"
)


@dataclass(frozen=True)
class Optimizer:
    """One registered optimizer attempt (an entry of ``mixed_models.optimizers``).

    Attributes
    ----------
    method : str
        ``profiled_bounded``: the profiled REML criterion minimised over
        ``log(sigma2_u / sigma2_e)`` by a grid, then scipy's bounded Brent
        method.
    maxiter : int
        Maximum number of Brent iterations.
    xatol : float, optional
        Absolute tolerance on ``log(sigma2_u / sigma2_e)``; scipy's default
        (1e-5) when None.
    """

    method: str
    maxiter: int = 500
    xatol: float | None = None

    @classmethod
    def from_plan(cls, entry: Mapping) -> Optimizer:
        """Build from a prereg entry such as ``{method: profiled_bounded, maxiter: 500, xatol: 1.0e-10}``."""
        if entry["method"] not in OPTIMIZER_TOLERANCES:
            raise AnalysisError(f"optimizer method '{entry['method']}' is not one of {sorted(OPTIMIZER_TOLERANCES)}")
        return cls(method=entry["method"], maxiter=int(entry.get("maxiter", 500)), xatol=entry.get("xatol"))

    def fit_options(self) -> dict:
        """Options of :func:`scipy.optimize.minimize_scalar` (only the tolerance this method uses)."""
        options = {"maxiter": self.maxiter}
        if self.xatol is not None:
            options["xatol"] = self.xatol
        return options

    def describe(self) -> dict:
        """The settings as run, for the spec record."""
        return {"method": self.method, **self.fit_options()}


@dataclass(frozen=True)
class MixedFit:
    """One accepted REML fit and how it was reached.

    Attributes
    ----------
    fixed_effects : pandas.Series
        Estimates, indexed by term name.
    fixed_covariance : pandas.DataFrame
        Model-based REML covariance of the fixed effects (lme4's ``vcov``).
    participant_variance, residual_variance : float
        ``sigma2_u`` and ``sigma2_e``.
    log_likelihood : float
        The REML log-likelihood at the estimates (lme4: ``-REMLcrit / 2``).
    optimizer : str
        The method of the accepted attempt.
    attempts : list of str
        Methods tried, in order, ending with ``optimizer``.
    iterations, function_calls : int
        Of the accepted attempt: Brent iterations; criterion evaluations
        (grid and Brent).
    warnings : list of str
        Why each earlier attempt failed, prefixed with its method.
    """

    fixed_effects: pd.Series
    fixed_covariance: pd.DataFrame
    participant_variance: float
    residual_variance: float
    log_likelihood: float
    optimizer: str
    attempts: list[str]
    iterations: int
    function_calls: int
    warnings: list[str] = field(default_factory=list)


def model_formula(terms: Sequence[str], group: str = "participant_id") -> str:
    """The model in lme4 notation, e.g. ``score ~ arm + post + arm:post + scenario + (1 | participant_id)``."""
    return "score ~ " + " + ".join([*terms, f"(1 | {group})"]) if terms else f"score ~ 1 + (1 | {group})"


def scenario_levels(data: pd.DataFrame, reference: str | None = None) -> list[str]:
    """The scenario levels of ``data`` with the reference first.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversations with a ``scenario`` column.
    reference : str, optional
        The reference level; None takes the first level in sorted order (as
        R's ``factor()`` does).

    Raises
    ------
    AnalysisError
        When ``reference`` does not occur in the data.
    """
    levels = sorted(data["scenario"].unique())
    if reference is None:
        return levels
    if reference not in levels:
        raise AnalysisError(f"registered scenario reference '{reference}' does not occur in the data (levels: {levels})")
    return [reference, *(level for level in levels if level != reference)]


def fixed_effects_design(
    data: pd.DataFrame,
    terms: Sequence[str],
    arms: Sequence[str],
    reference_arm: str,
    scenario_reference: str | None = None,
) -> pd.DataFrame:
    """The fixed-effect design matrix with the primary table's term names.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversations with ``arm``, ``post`` and (for the ``scenario`` term)
        ``scenario``.
    terms : sequence of str
        Registered terms, from ``arm``, ``post``, ``arm:post`` and
        ``scenario``; the intercept is always included.
    arms : sequence of str
        Registered arms (their order fixes the column order).
    reference_arm : str
        The arm absorbed in the intercept.
    scenario_reference : str, optional
        Reference scenario; None takes the first level in sorted order.

    Returns
    -------
    pandas.DataFrame
        Columns ``intercept``, ``<arm>`` (non-reference arms), ``post``,
        ``<arm>:post``, ``scenario[<level>]`` (non-reference levels), as far
        as the terms ask for them, in that order; float 0/1 values.

    Raises
    ------
    AnalysisError
        When a term is unknown, an arm is not registered, a column has no
        observations, or the columns are linearly dependent (an effect would
        not be identified).
    """
    unknown_terms = [term for term in terms if term not in FIXED_TERMS]
    if unknown_terms:
        raise AnalysisError(f"fixed terms {unknown_terms} are not among {list(FIXED_TERMS)}")
    unknown_arms = sorted(set(data["arm"]) - set(arms))
    if unknown_arms:
        raise AnalysisError(f"arms {unknown_arms} are not registered (registered: {list(arms)})")
    others = [arm for arm in arms if arm != reference_arm]
    post = data["post"].to_numpy(dtype=float)
    arm_values = data["arm"].to_numpy()
    columns = {"intercept": np.ones(len(data))}
    if "arm" in terms:
        columns.update({arm: (arm_values == arm).astype(float) for arm in others})
    if "post" in terms:
        columns["post"] = post
    if "arm:post" in terms:
        columns.update({f"{arm}:post": (arm_values == arm).astype(float) * post for arm in others})
    if "scenario" in terms:
        scenario = data["scenario"].to_numpy()
        levels = scenario_levels(data, scenario_reference)
        if len(levels) < 2:
            raise AnalysisError(
                f"the registered term 'scenario' is not estimable: every conversation has the same scenario {levels}; "
                "remove scenario from the registered terms for a single-scenario cohort"
            )
        columns.update({f"scenario[{level}]": (scenario == level).astype(float) for level in levels[1:]})
    matrix = pd.DataFrame(columns, index=data.index)
    empty = [name for name, column in matrix.items() if not column.any()]
    if empty:
        raise AnalysisError(f"no observations for term(s) {empty}: every registered arm needs baseline and post conversations")
    rank = np.linalg.matrix_rank(matrix.to_numpy())
    if rank < matrix.shape[1]:
        raise AnalysisError(
            f"the fixed-effect design {list(matrix.columns)} has rank {rank} < {matrix.shape[1]} columns: "
            "some effects are not identified by these data"
        )
    return matrix


@dataclass(frozen=True)
class ProfiledREML:
    """Sufficient statistics of one random-intercept model and its profiled REML criterion.

    Built once from the data in time linear in the rows; every later
    evaluation costs ``O(k p^3)`` for ``k`` distinct participant sizes and
    ``p`` fixed effects, whatever the number of rows.

    Attributes
    ----------
    n_obs, n_groups : int
        Rows and participants.
    sizes, size_counts : numpy.ndarray
        The distinct numbers of rows per participant and how many participants
        have each.
    within : numpy.ndarray
        ``(p + 1, p + 1)`` within-participant cross-products of ``[X, y]``
        (deviations from each participant's means).
    between : numpy.ndarray
        ``(k, p + 1, p + 1)``: per distinct size ``m``, the sum over its
        participants of ``s s' / m``, ``s`` the participant's column sums of
        ``[X, y]``.
    """

    n_obs: int
    n_groups: int
    sizes: np.ndarray
    size_counts: np.ndarray
    within: np.ndarray
    between: np.ndarray

    @classmethod
    def from_data(cls, endog: np.ndarray, exog: np.ndarray, groups: np.ndarray) -> ProfiledREML:
        """Sufficient statistics of ``endog ~ exog + (1 | groups)``.

        Parameters
        ----------
        endog : numpy.ndarray
            Outcome, one value per row, no missing values.
        exog : numpy.ndarray
            ``(n, p)`` fixed-effect design of full column rank.
        groups : numpy.ndarray
            Participant of each row.
        """
        values = np.column_stack([np.asarray(exog, dtype=float), np.asarray(endog, dtype=float)])
        codes, uniques = pd.factorize(pd.Series(groups), sort=True)
        if (codes < 0).any():
            raise AnalysisError(f"{int((codes < 0).sum())} row(s) have no participant (missing grouping value)")
        n_groups = len(uniques)
        counts = np.bincount(codes, minlength=n_groups)
        sums = np.column_stack([np.bincount(codes, weights=values[:, j], minlength=n_groups) for j in range(values.shape[1])])
        # Deviations from the participant means keep the within part free of cancellation at large means.
        deviations = values - (sums / counts[:, None])[codes]
        sizes, size_index, size_counts = np.unique(counts, return_inverse=True, return_counts=True)
        scaled = sums / np.sqrt(counts)[:, None]
        between = np.stack([scaled[size_index == k].T @ scaled[size_index == k] for k in range(len(sizes))])
        return cls(
            n_obs=int(len(values)), n_groups=int(n_groups), sizes=sizes.astype(float), size_counts=size_counts.astype(float),
            within=deviations.T @ deviations, between=between,
        )

    def solve(self, log_ratio: float) -> dict:
        """Fixed effects, variances and REML criterion at ``theta = exp(log_ratio)``.

        Returns
        -------
        dict
            ``beta`` (p), ``unscaled_covariance`` (``M^-1``, p x p),
            ``residual_variance``, ``participant_variance`` and
            ``criterion`` (lme4's ``REMLcrit``).

        Raises
        ------
        numpy.linalg.LinAlgError
            When ``X' V^-1 X`` is not positive definite or the weighted
            residual sum of squares is not positive.
        """
        theta = float(np.exp(log_ratio))
        weights = 1.0 / (1.0 + self.sizes * theta)
        total = self.within + np.tensordot(weights, self.between, axes=1)
        p = total.shape[0] - 1
        factor = linalg.cho_factor(total[:p, :p], lower=True)
        beta = linalg.cho_solve(factor, total[:p, p])
        residual = total[p, p] - total[:p, p] @ beta
        dof = self.n_obs - p
        if not residual > 0 or dof <= 0:
            raise np.linalg.LinAlgError(f"the weighted residual sum of squares is {residual:.3g} with {dof} residual degrees of freedom")
        residual_variance = residual / dof
        criterion = (
            self.size_counts @ np.log1p(self.sizes * theta)
            + 2 * np.log(np.diag(factor[0])).sum()
            + dof * (1 + np.log(2 * np.pi * residual_variance))
        )
        return {
            "beta": beta,
            "unscaled_covariance": linalg.cho_solve(factor, np.eye(p)),
            "residual_variance": float(residual_variance),
            "participant_variance": float(theta * residual_variance),
            "criterion": float(criterion),
        }

    def criterion(self, log_ratio: float) -> float:
        """lme4's ``REMLcrit`` (``-2`` times the REML log-likelihood), profiled over the fixed effects and ``sigma2_e``."""
        return self.solve(log_ratio)["criterion"]


class _FailedAttempt(Exception):
    """One optimizer attempt that gives no acceptable fit (its message says why)."""


def _minimise(profile: ProfiledREML, optimizer: Optimizer) -> optimize.OptimizeResult:
    """The log variance ratio minimising the profiled REML criterion: grid, then bounded Brent between grid neighbours."""
    grid = np.linspace(np.log(RATIO_BOUNDS[0]), np.log(RATIO_BOUNDS[1]), GRID_POINTS)
    try:
        values = np.array([profile.criterion(point) for point in grid])
    except (np.linalg.LinAlgError, FloatingPointError) as error:
        raise _FailedAttempt(f"linear algebra failed: {error}") from error
    if not np.isfinite(values).all():
        raise _FailedAttempt("the REML criterion is not finite on the search grid")
    best = int(np.argmin(values))
    if best == 0:
        raise _FailedAttempt(
            f"boundary (singular) fit: the criterion is smallest at sigma2_u / sigma2_e = {RATIO_BOUNDS[0]:g}, "
            "the participant variance is estimated at zero"
        )
    if best == GRID_POINTS - 1:
        raise _FailedAttempt(
            f"boundary fit: the criterion is smallest at sigma2_u / sigma2_e = {RATIO_BOUNDS[1]:g}, "
            "the residual variance is estimated at zero"
        )
    try:
        result = optimize.minimize_scalar(
            profile.criterion, bounds=(grid[best - 1], grid[best + 1]), method="bounded", options=optimizer.fit_options()
        )
    except (np.linalg.LinAlgError, FloatingPointError) as error:
        raise _FailedAttempt(f"linear algebra failed: {error}") from error
    if not result.success:
        raise _FailedAttempt(f"Brent's method did not converge: {result.message}")
    if result.fun > values[best]:
        raise _FailedAttempt(f"Brent's method ended above the best grid point ({result.fun!r} > {values[best]!r})")
    if np.exp(result.x) < SINGULAR_RATIO:
        raise _FailedAttempt(
            f"boundary (singular) fit: sigma2_u / sigma2_e = {np.exp(result.x):.3g} < {SINGULAR_RATIO:g} "
            "(lme4's isSingular tolerance), the participant variance is estimated at zero"
        )
    result.nfev += GRID_POINTS
    return result


def fit_mixed_model(
    endog: pd.Series,
    exog: pd.DataFrame,
    groups: pd.Series,
    optimizers: Sequence[Optimizer],
    label: str,
) -> MixedFit:
    """Fit one random-intercept model by REML, trying the registered optimizers in order.

    Parameters
    ----------
    endog : pandas.Series
        The outcome, one value per conversation.
    exog : pandas.DataFrame
        Fixed-effect design (see :func:`fixed_effects_design`).
    groups : pandas.Series
        Participant of each conversation (the random intercept's grouping).
    optimizers : sequence of Optimizer
        Tried in order until one gives an accepted fit.
    label : str
        Name of the model in messages (e.g. the outcome).

    Returns
    -------
    MixedFit
        The accepted fit with its fixed effects, their model-based
        covariance, the variance components and the convergence record.

    Raises
    ------
    AnalysisError
        When no optimizer gives an accepted fit (see the module notes).
    """
    if not optimizers:
        raise AnalysisError("no optimizer is registered for the mixed models (mixed_models.optimizers is empty)")
    profile = ProfiledREML.from_data(endog.to_numpy(dtype=float), exog.to_numpy(dtype=float), groups.to_numpy())
    messages: list[str] = []
    failures: list[str] = []
    attempts: list[str] = []
    for optimizer in optimizers:
        attempts.append(optimizer.method)
        try:
            result = _minimise(profile, optimizer)
        except _FailedAttempt as failure:
            messages.append(f"{optimizer.method}: {failure}")
            failures.append(f"{optimizer.method} ({optimizer.fit_options()}): {failure}")
            continue
        solution = profile.solve(result.x)
        covariance = solution["residual_variance"] * solution["unscaled_covariance"]
        return MixedFit(
            fixed_effects=pd.Series(solution["beta"], index=exog.columns),
            fixed_covariance=pd.DataFrame(covariance, index=exog.columns, columns=exog.columns),
            participant_variance=solution["participant_variance"],
            residual_variance=solution["residual_variance"],
            log_likelihood=-solution["criterion"] / 2,
            optimizer=optimizer.method,
            attempts=attempts,
            iterations=int(result.nit),
            function_calls=int(result.nfev),
            warnings=messages,
        )
    if any("participant variance is estimated at zero" in failure for failure in failures):
        advice = (
            "The between-participant variance is estimated at (or near) zero, so the random intercept is not "
            "identified by these data; check the outcome's variation between participants."
        )
    elif any("residual variance is estimated at zero" in failure or "residual sum of squares" in failure for failure in failures):
        advice = (
            "The residual variance is estimated at (or near) zero: the outcome hardly varies within participants "
            "beyond the fixed terms; check the outcome's variation within participants."
        )
    else:
        advice = "Register another optimizer or more iterations (mixed_models.optimizers), or check the data."
    raise AnalysisError(
        f"the mixed model for '{label}' did not converge cleanly with any registered optimizer: "
        + " | ".join(failures) + f". {advice}"
    )


def coefficient_rows(fit: MixedFit, outcome: str, alpha: float, n_obs: int, n_clusters: int) -> pd.DataFrame:
    """The fixed effects (Wald z tests) and the two variance components as rows of the primary table's layout.

    Variance rows carry only ``estimate`` (plus outcome, term, n_obs and
    n_clusters): neither lme4 nor statsmodels gives a standard error on the
    variance scale (statsmodels' ``bse_re`` is not one; see docs/mixed_models.md).
    """
    fixed = wald_coefficients(
        fit.fixed_effects.index,
        fit.fixed_effects.to_numpy(),
        np.sqrt(np.diag(fit.fixed_covariance.to_numpy())),
        alpha,
        zero_se="inf",  # a fixed effect with no sampling variation: z = +/-inf, p = 0
        outcome=outcome,
        n_obs=n_obs,
        n_clusters=n_clusters,
    )
    variances = pd.DataFrame(
        {
            "outcome": outcome,
            "term": list(VARIANCE_TERMS),
            "estimate": [fit.participant_variance, fit.residual_variance],
            "n_obs": n_obs,
            "n_clusters": n_clusters,
        }
    )
    return pd.concat([fixed, variances], ignore_index=True).reindex(columns=COEFFICIENT_COLUMNS)


@dataclass(frozen=True)
class MixedResults:
    """Coefficients (``did.COEFFICIENT_COLUMNS``), convergence record (``CONVERGENCE_COLUMNS``) and execution."""

    coefficients: pd.DataFrame
    convergence: pd.DataFrame
    execution: dict


def mixed_analysis(
    data: pd.DataFrame,
    outcomes: Sequence[str],
    arms: Sequence[str],
    reference_arm: str,
    optimizers: Sequence[Mapping | Optimizer],
    terms: Sequence[str] = FIXED_TERMS,
    scenario_reference: str | None = None,
    alpha: float = 0.05,
    group: str = "participant_id",
) -> MixedResults:
    """Fit the registered linear mixed model to every outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        Conversation-level outcomes (see :func:`analysis.cohorts.outcomes.derive_outcomes`).
    outcomes : sequence of str
        Outcomes to model, in output order.
    arms, reference_arm : sequence of str, str
        Registered arms and the reference arm.
    optimizers : sequence of mapping or Optimizer
        The registered optimizer attempts (``mixed_models.optimizers``).
    terms : sequence of str
        Registered fixed terms (default: arm, post, arm:post, scenario).
    scenario_reference : str, optional
        Reference scenario; None takes the first in sorted order.
    alpha : float
        Two-sided level; intervals are ``1 - alpha`` Wald intervals.
    group : str
        Column holding the participant (the random intercept's grouping).

    Returns
    -------
    MixedResults
        ``coefficients``: per outcome the fixed effects (estimate, model-based
        SE, z statistic, two-sided normal p-value, Wald CI, n_obs, n_clusters)
        then ``var(participant)`` and ``var(residual)`` (estimate only).
        ``convergence``: per outcome converged, optimizer, attempts (methods
        tried, ``>``-joined), Brent iterations, criterion evaluations
        (function_calls), REML log_likelihood, n_obs, n_clusters and why
        each earlier attempt failed
        (``" | "``-joined, empty when none).

    Raises
    ------
    AnalysisError
        When an outcome has missing values, the design is not identified, or
        a fit does not converge with any registered optimizer.
    """
    optimizers = [entry if isinstance(entry, Optimizer) else Optimizer.from_plan(entry) for entry in optimizers]
    missing_columns = [column for column in [*outcomes, group, "arm", "post"] if column not in data.columns]
    if missing_columns:
        raise AnalysisError(f"conversation scores lack column(s) {missing_columns}")
    exog = fixed_effects_design(data, terms, arms, reference_arm, scenario_reference)
    n_obs = int(len(data))
    n_clusters = int(data[group].nunique())
    coefficients, convergence, warning_counts = [], [], []
    progress = current_heartbeat()
    progress.stage("fitting one mixed model per outcome")
    for fitted, outcome in enumerate(outcomes):
        progress.update(fitted, len(outcomes), "outcomes", detail=f"now {outcome}")
        missing = data[outcome].isna()
        if missing.any():
            raise AnalysisError(
                f"outcome '{outcome}' has {int(missing.sum())} missing value(s) among analysed conversations "
                f"(first: row {int(np.flatnonzero(missing.to_numpy())[0]) + 1})"
            )
        fit = fit_mixed_model(data[outcome], exog, data[group], optimizers, outcome)
        coefficients.append(coefficient_rows(fit, outcome, alpha, n_obs, n_clusters))
        warning_counts.append(len(fit.warnings))
        convergence.append(
            {
                "outcome": outcome,
                "converged": True,
                "optimizer": fit.optimizer,
                "attempts": ">".join(fit.attempts),
                "iterations": fit.iterations,
                "function_calls": fit.function_calls,
                "log_likelihood": fit.log_likelihood,
                "n_obs": n_obs,
                "n_clusters": n_clusters,
                "warnings": WARNING_SEPARATOR.join(fit.warnings),
            }
        )
    convergence_table = pd.DataFrame(convergence, columns=CONVERGENCE_COLUMNS)
    execution = {
        "estimator": "mixedlm_reml",
        "outcomes": list(outcomes),
        "terms": list(exog.columns),
        "reference_arm": reference_arm,
        "covariance": {
            "type": "model_based_reml",
            "formula": "sigma2_e (X' V^-1 X)^-1 at the REML variance components (lme4 vcov)",
            "reference_distribution": "normal",
        },
        "alpha": alpha,
        "sample": {"unit": "conversation", "n_obs": n_obs, "n_conversations": n_obs, "n_participants": n_clusters},
        "diagnostics": {
            "converged": {row["outcome"]: row["converged"] for row in convergence},
            "optimizer": {row["outcome"]: row["optimizer"] for row in convergence},
            "n_warnings": {outcome: count for outcome, count in zip(outcomes, warning_counts, strict=True)},
        },
        "details": {
            "formula": model_formula(terms, group),
            "fixed_terms": list(terms),
            "random_effects": {"intercept": group},
            "reml": True,
            "scenario_levels": scenario_levels(data, scenario_reference) if "scenario" in terms else [],
            "optimizers": [optimizer.describe() for optimizer in optimizers],
            "algorithm": ALGORITHM,
            "variance_rows": list(VARIANCE_TERMS),
        },
    }
    return MixedResults(
        coefficients=pd.concat(coefficients, ignore_index=True) if coefficients else pd.DataFrame(columns=COEFFICIENT_COLUMNS),
        convergence=convergence_table,
        execution=execution,
    )
