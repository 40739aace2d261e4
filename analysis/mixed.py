"""The registered linear mixed models: ``score ~ arm * post + scenario + (1 | participant)``.

For each outcome a random-intercept linear mixed model is fitted by REML with
:class:`statsmodels.regression.mixed_linear_model.MixedLM`, with the fixed
effects coded as in the primary analysis (reference arm left out, ``post = 1``
for the post-training conversations) plus treatment-coded scenario dummies.
Term names are those of the primary table (``intercept``, ``<arm>``, ``post``,
``<arm>:post``) followed by ``scenario[<level>]`` for every non-reference
scenario; the variance components follow as the rows ``var(participant)`` and
``var(residual)``.

Covariance of the fixed effects
-------------------------------
The standard errors are the model-based REML ones that lme4's ``vcov()``
reports, ``sigma2_e (X' V^-1 X)^-1`` at the REML estimates of the variance
components (``V`` the marginal covariance scaled by ``sigma2_e``). They are
read off statsmodels' own Hessian (:meth:`MixedLM.hessian`): the inverse of
its fixed-effect block. statsmodels' default ``bse_fe`` inverts the whole
Hessian, fixed effects and variance parameters together; that differs from
lme4 by up to about 5e-4 on a cohort of 120 participants, so it is not used.

Convergence
-----------
The registered optimizers are tried in order. A fit is accepted only when
statsmodels reports convergence and raises no
:class:`statsmodels.tools.sm_exceptions.ConvergenceWarning` (failed
optimisation, a variance on the boundary of the parameter space, a Hessian
that is not positive definite) and no linear-algebra error. Every warning of
every attempt is kept for the convergence record; when no registered optimizer
gives an accepted fit, :class:`analysis.errors.AnalysisError` is raised naming
the outcome, the optimizers tried and what went wrong.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from analysis.did import COEFFICIENT_COLUMNS
from analysis.errors import AnalysisError

CONVERGENCE_COLUMNS = [
    "outcome", "converged", "optimizer", "attempts", "iterations", "function_calls", "log_likelihood", "n_obs",
    "n_clusters", "warnings",
]
VARIANCE_TERMS = ("var(participant)", "var(residual)")
FIXED_TERMS = ("arm", "post", "arm:post", "scenario")
# Which registered tolerance each optimizer understands (statsmodels passes it on to scipy).
OPTIMIZER_TOLERANCES = {"bfgs": "gtol", "cg": "gtol", "powell": "ftol", "nm": "ftol"}
WARNING_SEPARATOR = " | "


@dataclass(frozen=True)
class Optimizer:
    """One registered optimizer attempt (an entry of ``mixed_models.optimizers``).

    Attributes
    ----------
    method : str
        statsmodels/scipy method name: ``bfgs``, ``cg``, ``powell`` or ``nm``.
    maxiter : int
        Maximum number of iterations.
    gtol, ftol : float, optional
        Gradient tolerance (``bfgs``, ``cg``) or function tolerance
        (``powell``, ``nm``); scipy's default when None.
    """

    method: str
    maxiter: int = 1000
    gtol: float | None = None
    ftol: float | None = None

    @classmethod
    def from_plan(cls, entry: Mapping) -> Optimizer:
        """Build from a prereg entry such as ``{method: bfgs, maxiter: 1000, gtol: 1.0e-8}``."""
        if entry["method"] not in OPTIMIZER_TOLERANCES:
            raise AnalysisError(f"optimizer method '{entry['method']}' is not one of {sorted(OPTIMIZER_TOLERANCES)}")
        return cls(method=entry["method"], maxiter=int(entry.get("maxiter", 1000)), gtol=entry.get("gtol"), ftol=entry.get("ftol"))

    def fit_options(self) -> dict:
        """Keyword arguments for :meth:`MixedLM.fit` (only the tolerance this method uses)."""
        options = {"maxiter": self.maxiter}
        tolerance = OPTIMIZER_TOLERANCES[self.method]
        value = getattr(self, tolerance)
        if value is not None:
            options[tolerance] = value
        return options

    def describe(self) -> dict:
        """The settings as run, for the spec record."""
        return {"method": self.method, **self.fit_options()}


@dataclass(frozen=True)
class MixedFit:
    """One accepted REML fit and how it was reached.

    Attributes
    ----------
    result : statsmodels MixedLMResults
        The accepted fit.
    fixed_effects : pandas.Series
        Estimates, indexed by term name.
    fixed_covariance : pandas.DataFrame
        Model-based REML covariance of the fixed effects (lme4's ``vcov``).
    participant_variance, residual_variance : float
        ``sigma2_u`` and ``sigma2_e``.
    optimizer : str
        The method of the accepted attempt.
    attempts : list of str
        Methods tried, in order, ending with ``optimizer``.
    iterations, function_calls : int
        Of the accepted attempt.
    warnings : list of str
        Every warning raised by any attempt, prefixed with its method.
    """

    result: object
    fixed_effects: pd.Series
    fixed_covariance: pd.DataFrame
    participant_variance: float
    residual_variance: float
    optimizer: str
    attempts: list[str]
    iterations: int
    function_calls: int
    warnings: list[str] = field(default_factory=list)

    @property
    def log_likelihood(self) -> float:
        """The REML log-likelihood at the estimates (lme4: ``-REMLcrit / 2``)."""
        return float(self.result.llf)


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


def _attempt(model: sm.MixedLM, optimizer: Optimizer) -> tuple[object | None, list[str], str | None]:
    """Fit once with one optimizer; return the result (None on failure), the warnings and the failure reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(reml=True, method=[optimizer.method], full_output=True, **optimizer.fit_options())
        except (np.linalg.LinAlgError, ValueError, OverflowError) as error:
            messages = [f"{optimizer.method}: {warning.message}" for warning in caught]
            return None, messages, f"{type(error).__name__}: {error}"
    messages = [f"{optimizer.method}: {warning.message}" for warning in caught]
    convergence = [str(warning.message) for warning in caught if issubclass(warning.category, ConvergenceWarning)]
    if not result.converged:
        return None, messages, "the optimizer did not converge: " + "; ".join(convergence or ["statsmodels reports converged = False"])
    if convergence:
        return None, messages, "; ".join(convergence)
    return result, messages, None


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
        When no optimizer gives a converged fit free of convergence warnings.
    """
    if not optimizers:
        raise AnalysisError("no optimizer is registered for the mixed models (mixed_models.optimizers is empty)")
    model = sm.MixedLM(endog.to_numpy(dtype=float), exog, groups=groups.to_numpy())
    messages: list[str] = []
    failures: list[str] = []
    attempts: list[str] = []
    for optimizer in optimizers:
        attempts.append(optimizer.method)
        result, caught, failure = _attempt(model, optimizer)
        messages.extend(caught)
        if result is None:
            failures.append(f"{optimizer.method} ({optimizer.fit_options()}): {failure}")
            continue
        hessian, _ = model.hessian(result.params_object)
        k_fe = exog.shape[1]
        covariance = np.linalg.inv(-hessian[:k_fe, :k_fe])
        retvals = result.hist[-1]
        iterations = retvals.get("iterations", len(retvals.get("allvecs", [None])) - 1)
        return MixedFit(
            result=result,
            fixed_effects=pd.Series(np.asarray(result.fe_params), index=exog.columns),
            fixed_covariance=pd.DataFrame(covariance, index=exog.columns, columns=exog.columns),
            participant_variance=float(np.asarray(result.cov_re)[0, 0]),
            residual_variance=float(result.scale),
            optimizer=optimizer.method,
            attempts=attempts,
            iterations=int(iterations),
            function_calls=int(retvals.get("fcalls", 0)),
            warnings=messages,
        )
    if any("boundary" in failure for failure in failures):
        advice = (
            "The between-participant variance is estimated at (or near) zero, so the random intercept is not "
            "identified by these data; check the outcome's variation between participants."
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
    estimate = fit.fixed_effects.to_numpy()
    std_error = np.sqrt(np.diag(fit.fixed_covariance.to_numpy()))
    statistic = estimate / std_error
    critical = stats.norm.ppf(1 - alpha / 2)
    fixed = pd.DataFrame(
        {
            "outcome": outcome,
            "term": fit.fixed_effects.index,
            "estimate": estimate,
            "std_error": std_error,
            "statistic": statistic,
            "p_value": 2 * stats.norm.sf(np.abs(statistic)),
            "ci_low": estimate - critical * std_error,
            "ci_high": estimate + critical * std_error,
            "n_obs": n_obs,
            "n_clusters": n_clusters,
        }
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
        Conversation-level outcomes (see :func:`analysis.outcomes.derive_outcomes`).
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
        tried, ``>``-joined), iterations, function_calls, REML
        log_likelihood, n_obs, n_clusters and every warning raised
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
    for outcome in outcomes:
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
            "variance_rows": list(VARIANCE_TERMS),
        },
    }
    return MixedResults(
        coefficients=pd.concat(coefficients, ignore_index=True) if coefficients else pd.DataFrame(columns=COEFFICIENT_COLUMNS),
        convergence=convergence_table,
        execution=execution,
    )
