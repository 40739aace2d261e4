"""The perception task: do people recognise aligned responses? (secondary, exploratory)

Human raters saw pairs of conversations from the same scenario and chose the more empathic one
(optional cohort file ``perception.csv``); an LLM ranked the conversations by pairwise Elo
(optional ``elo.csv``). Registered under ``secondary_analyses.perception``:

* For each choice, the gap = outcome (composite) of the left minus the right conversation. Logit of
  choosing the higher-composite conversation on ``|gap|`` plus scenario dummies, cluster-robust by
  rater (statsmodels ``Logit``, ``cov_type="cluster"``). Choices with a zero gap have no higher
  conversation: they are left out and counted. With a single scenario the dummies would be
  constant: the term is dropped and the fit table's ``note`` (and the spec record) says so.
* The share choosing the higher conversation by ``|gap|`` bin, with Wilson CIs (statsmodels).
* Bradley-Terry strengths of the conversations from the human choices (``choix``; pairs lie
  within scenarios, so the strengths of different scenarios are tied together only by the
  registered regularisation), and their Spearman correlation with the composite.
* With ``elo.csv`` (:func:`elo_analysis`): the logit of agreeing with the LLM's Elo preference on
  the same covariates, and the Spearman correlation of the Bradley-Terry strengths with Elo.

Both optional files are read and validated by :mod:`analysis.cohorts.optional`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
import pandas as pd

from analysis.cohorts.optional import PERCEPTION_COLUMNS
from analysis.errors import AnalysisError, ConfigError, require_implemented
from analysis.models.tidy import model_coefficients
from analysis.runtime.lazy_imports import lazy_module

__all__ = [
    "CHOICE_COLUMNS", "LOGIT_COLUMNS", "LOGIT_FIT_COLUMNS", "GAP_BIN_COLUMNS", "CURVE_COLUMNS", "STRENGTH_COLUMNS",
    "RANK_COLUMNS", "LEFT_OUT_COLUMNS", "PerceptionResults", "EloResults", "choice_table", "logit_design",
    "scenario_term_note", "fit_cluster_logit", "logit_rows", "gap_bins", "predicted_curve", "bradley_terry", "spearman_row",
    "perception_analysis", "elo_analysis", "read_choices", "read_strengths",
]

choix = lazy_module("choix")
discrete_model = lazy_module("statsmodels.discrete.discrete_model")
sm_exceptions = lazy_module("statsmodels.tools.sm_exceptions")
stats = lazy_module("scipy.stats")
proportion = lazy_module("statsmodels.stats.proportion")

CHOICE_COLUMNS = [
    *PERCEPTION_COLUMNS, "chosen_id", "outcome_left", "outcome_right", "gap", "abs_gap", "higher_side", "chose_higher",
]
LOGIT_COLUMNS = [
    "model", "term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "odds_ratio", "n_obs", "n_clusters",
]
LOGIT_FIT_COLUMNS = [
    "model", "n_choices", "n_used", "n_left_out", "n_raters", "share_outcome", "converged", "log_likelihood", "pseudo_r2", "note",
]
GAP_BIN_COLUMNS = ["bin_low", "bin_high", "label", "n", "n_chose_higher", "share", "ci_low", "ci_high", "mean_abs_gap"]
CURVE_COLUMNS = ["abs_gap", "predicted"]
STRENGTH_COLUMNS = ["conversation_id", "scenario", "strength", "n_comparisons", "n_wins", "outcome"]
RANK_COLUMNS = ["x", "y", "method", "n", "rho", "p_value"]
LEFT_OUT_COLUMNS = ["analysis", "record_id", "reason"]


@dataclass(frozen=True)
class PerceptionResults:
    """Tables of the perception analysis (columns: the ``*_COLUMNS`` lists of this module).

    ``execution`` describes what was run, for the spec record.
    """

    choices: pd.DataFrame
    logit: pd.DataFrame
    logit_fit: pd.DataFrame
    gap_bins: pd.DataFrame
    curve: pd.DataFrame
    strengths: pd.DataFrame
    rank_correlations: pd.DataFrame
    left_out: pd.DataFrame
    execution: dict


@dataclass(frozen=True)
class EloResults:
    """Tables of the Elo comparison (agreement logit and rank correlations)."""

    logit: pd.DataFrame
    logit_fit: pd.DataFrame
    rank_correlations: pd.DataFrame
    left_out: pd.DataFrame
    execution: dict


# ---------------------------------------------------------------------------------------------
# The analysis


def choice_table(perception: pd.DataFrame, outcomes: pd.DataFrame, outcome: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach each shown conversation's outcome and derive the gap and the choice of the higher one.

    Returns
    -------
    choices : pandas.DataFrame
        ``CHOICE_COLUMNS``: gap = outcome_left - outcome_right, ``higher_side`` left/right/tie and
        ``chose_higher`` (1/0, empty for a tie). Only choices whose two conversations were analysed.
    left_out : pandas.DataFrame
        Choices showing a conversation that was not analysed (excluded upstream).
    """
    if outcome not in outcomes:
        raise AnalysisError(f"conversation_scores.csv has no column '{outcome}' (registered perception.outcome)")
    value = outcomes.set_index("conversation_id")[outcome]
    data = perception[PERCEPTION_COLUMNS].copy()
    data["chosen_id"] = np.where(data["choice"] == "left", data["conversation_left_id"], data["conversation_right_id"])
    data["outcome_left"] = data["conversation_left_id"].map(value)
    data["outcome_right"] = data["conversation_right_id"].map(value)
    unanalysed = data["outcome_left"].isna() | data["outcome_right"].isna()
    missing_id = np.where(data["outcome_left"].isna(), data["conversation_left_id"], data["conversation_right_id"])
    left_out = pd.DataFrame(
        {
            "analysis": "perception",
            "record_id": (data["rater_id"] + "/" + data["pair_id"])[unanalysed].to_numpy(),
            "reason": ("conversation " + pd.Series(missing_id, index=data.index)[unanalysed]
                       + " is not among the analysed conversations (excluded upstream)").to_numpy(),
        }
    )
    data = data[~unanalysed].copy()
    data["gap"] = data["outcome_left"] - data["outcome_right"]
    data["abs_gap"] = data["gap"].abs()
    data["higher_side"] = np.select([data["gap"] > 0, data["gap"] < 0], ["left", "right"], "tie")
    chose = (data["choice"] == data["higher_side"]).astype("Int64")
    data["chose_higher"] = chose.where(data["higher_side"] != "tie")
    return data[CHOICE_COLUMNS].reset_index(drop=True), left_out[LEFT_OUT_COLUMNS]


def logit_design(
    data: pd.DataFrame, covariate: str, scenarios: Sequence[str], *, intercept: bool, scenario_dummies: bool
) -> pd.DataFrame:
    """Design of the choice logits: intercept, the covariate, scenario dummies (first scenario is the reference).

    Parameters
    ----------
    data : pandas.DataFrame
        The analysed choices (the covariate column and ``scenario``).
    covariate : str
        Column of ``data`` entering the logit.
    scenarios : sequence of str
        The scenarios of the analysed choices (sorted; the first is the reference).
    intercept : bool
        Registered ``logit.intercept``.
    scenario_dummies : bool
        Registered ``logit.scenario_dummies``.

    Returns
    -------
    pandas.DataFrame
        ``intercept`` (when registered), the covariate and one ``scenario[<name>]`` column per
        non-reference scenario (when registered), indexed like ``data``.
    """
    columns = {}
    if intercept:
        columns["intercept"] = np.ones(len(data))
    columns[covariate] = data[covariate].to_numpy(dtype=float)
    if scenario_dummies:
        for scenario in list(scenarios)[1:]:
            columns[f"scenario[{scenario}]"] = (data["scenario"] == scenario).to_numpy(dtype=float)
    return pd.DataFrame(columns, index=data.index)


def scenario_term_note(scenarios: Sequence[str], *, scenario_dummies: bool) -> str:
    """Say why the registered scenario term is left out of a choice logit, or ``""`` when it is not.

    Parameters
    ----------
    scenarios : sequence of str
        The scenarios of the analysed choices (sorted; the first is the reference).
    scenario_dummies : bool
        Registered ``logit.scenario_dummies``.

    Returns
    -------
    str
        With scenario dummies registered and a single scenario present, a note that the term was
        dropped (it would be a constant column, not identified beside the intercept); else ``""``.

    Notes
    -----
    :func:`logit_design` builds no dummy for the reference scenario, so with one scenario the
    model is the registered one minus a term that carries no information here. That is the fit a
    statistician would run, but it is no longer the registered model, so the note goes into the
    fit table, the spec record and the run log instead of passing silently.
    """
    if not scenario_dummies or len(scenarios) != 1:
        return ""
    return (
        f"scenario term dropped: only one scenario ({scenarios[0]}) among the analysed choices, "
        "so the registered scenario dummies would be constant"
    )


def fit_cluster_logit(y: np.ndarray, design: pd.DataFrame, clusters: pd.Series):
    """Logit with cluster-robust covariance (statsmodels' default small-sample correction).

    Raises
    ------
    AnalysisError
        When the outcome does not vary, a design column is constant zero, or the fit fails
        (e.g. perfect separation).
    """
    if len(y) == 0 or np.all(y == y[0]):
        raise AnalysisError("the logit outcome does not vary (every choice is the same); the slope is not identified")
    empty = [name for name, column in design.items() if name != "intercept" and not np.any(column)]
    if empty:
        raise AnalysisError(f"no choices for term(s) {empty}; the logit is not identified")
    groups = pd.factorize(clusters, sort=True)[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", sm_exceptions.PerfectSeparationWarning)
            return discrete_model.Logit(np.asarray(y, dtype=float), design).fit(
                disp=0, method="newton", maxiter=100, cov_type="cluster", cov_kwds={"groups": groups}
            )
    except (np.linalg.LinAlgError, sm_exceptions.PerfectSeparationError, sm_exceptions.PerfectSeparationWarning) as error:
        raise AnalysisError(f"the choice logit could not be fitted: {error}") from error


def logit_rows(result, model: str, alpha: float, n_clusters: int) -> pd.DataFrame:
    """Tidy coefficients of a fitted logit (``LOGIT_COLUMNS``)."""
    return model_coefficients(
        result, alpha, model=model, odds_ratio=np.exp(result.params.to_numpy()), n_clusters=n_clusters
    )[LOGIT_COLUMNS]


def _edge_text(edge: float) -> str:
    """A bin edge as a whole number for the bin label, never ``-0``."""
    text = f"{float(edge):.0f}"
    return text.lstrip("-") if float(text) == 0.0 else text


def gap_bins(choices: pd.DataFrame, edges: Sequence[float], method: str, alpha: float) -> pd.DataFrame:
    """Share choosing the higher conversation per right-closed ``|gap|`` bin, with CIs.

    Zero gaps are not in any bin (they have no higher conversation); gaps above the last edge
    are counted in the last bin. CIs: ``statsmodels.stats.proportion.proportion_confint``.
    """
    edges = [float(edge) for edge in edges]
    if any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
        raise AnalysisError(f"gap_bins must be increasing, got {edges}")
    data = choices[choices["higher_side"] != "tie"]
    gaps = np.minimum(data["abs_gap"].to_numpy(dtype=float), edges[-1])
    bins = pd.cut(gaps, edges, right=True, include_lowest=False)
    grouped = pd.DataFrame({"bin": bins, "chose": data["chose_higher"].to_numpy(dtype=float), "gap": data["abs_gap"].to_numpy()})
    summary = grouped.groupby("bin", observed=False).agg(n=("chose", "size"), n_chose_higher=("chose", "sum"), mean_abs_gap=("gap", "mean"))
    summary["n_chose_higher"] = summary["n_chose_higher"].astype("int64")
    n = summary["n"].to_numpy()
    share = np.where(n > 0, summary["n_chose_higher"].to_numpy() / np.maximum(n, 1), np.nan)
    low, high = proportion.proportion_confint(summary["n_chose_higher"].to_numpy(), np.maximum(n, 1), alpha=alpha, method=method)
    table = pd.DataFrame(
        {
            "bin_low": edges[:-1], "bin_high": edges[1:],
            "label": [f"({_edge_text(a)}, {_edge_text(b)}]" for a, b in zip(edges[:-1], edges[1:], strict=True)],
            "n": n.astype("int64"), "n_chose_higher": summary["n_chose_higher"].to_numpy(), "share": share,
            "ci_low": np.where(n > 0, low, np.nan), "ci_high": np.where(n > 0, high, np.nan),
            "mean_abs_gap": summary["mean_abs_gap"].to_numpy(),
        }
    )
    return table[GAP_BIN_COLUMNS]


def predicted_curve(result, design: pd.DataFrame, covariate: str, grid: np.ndarray) -> pd.DataFrame:
    """Average predicted probability over the observed choices (their scenario mix) at each covariate value."""
    predictions = []
    for value in grid:
        shifted = design.copy()
        shifted[covariate] = value
        predictions.append(float(np.mean(result.predict(shifted))))
    return pd.DataFrame({"abs_gap": grid, "predicted": predictions})[CURVE_COLUMNS]


def bradley_terry(choices: pd.DataFrame, conversations: pd.DataFrame, method: str, regularisation: float) -> pd.DataFrame:
    """Bradley-Terry strengths of every shown conversation from the human choices (choix).

    Parameters
    ----------
    choices : pandas.DataFrame
        Validated perception rows (conversation_left_id, conversation_right_id, choice).
    conversations : pandas.DataFrame
        conversation_id and scenario (and the outcome column ``outcome`` when known).
    method : {"ilsr_pairwise", "opt_pairwise"}
        choix estimator.
    regularisation : float
        choix ``alpha``. Pairs lie within scenarios, so the comparison graph is disconnected;
        the regularisation makes the strengths finite and ties the scenarios' levels together.

    Returns
    -------
    pandas.DataFrame
        ``STRENGTH_COLUMNS``, sorted by conversation_id (the item order given to choix).
    """
    items = np.sort(pd.unique(pd.concat([choices["conversation_left_id"], choices["conversation_right_id"]])))
    index = {item: position for position, item in enumerate(items)}
    left = choices["conversation_left_id"].map(index).to_numpy()
    right = choices["conversation_right_id"].map(index).to_numpy()
    chose_left = (choices["choice"] == "left").to_numpy()
    winners = np.where(chose_left, left, right)
    losers = np.where(chose_left, right, left)
    data = list(zip(winners.tolist(), losers.tolist(), strict=True))
    if method == "ilsr_pairwise":
        strength = choix.ilsr_pairwise(len(items), data, alpha=regularisation)
    elif method == "opt_pairwise":
        strength = choix.opt_pairwise(len(items), data, alpha=regularisation)
    else:
        raise AnalysisError(f"unknown bradley_terry.method '{method}' (expected ilsr_pairwise or opt_pairwise)")
    table = pd.DataFrame(
        {
            "conversation_id": items, "strength": strength,
            "n_comparisons": np.bincount(np.concatenate([left, right]), minlength=len(items)),
            "n_wins": np.bincount(winners, minlength=len(items)),
        }
    )
    table = table.merge(conversations, on="conversation_id", how="left", validate="one_to_one")
    return table[STRENGTH_COLUMNS]


def spearman_row(x_name: str, y_name: str, x: np.ndarray, y: np.ndarray) -> dict:
    """Spearman rho with two-sided p (scipy.stats.spearmanr); NaN with fewer than three pairs or no spread."""
    n = int(len(x))
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"x": x_name, "y": y_name, "method": "spearman", "n": n, "rho": np.nan, "p_value": np.nan}
    result = stats.spearmanr(x, y)
    return {"x": x_name, "y": y_name, "method": "spearman", "n": n, "rho": float(result.statistic), "p_value": float(result.pvalue)}


def _fit_summary(model: str, n_choices: int, used: pd.DataFrame, response: str, result, n_left_out: int, note: str = "") -> dict:
    return {
        "model": model, "n_choices": n_choices, "n_used": int(len(used)), "n_left_out": n_left_out,
        "n_raters": int(used["rater_id"].nunique()), "share_outcome": float(used[response].astype(float).mean()),
        "converged": bool(result.mle_retvals.get("converged", True)), "log_likelihood": float(result.llf),
        "pseudo_r2": float(result.prsquared), "note": note,
    }


def _logit_record(intercept: bool, scenario_dummies: bool, covariance: str, cluster_by: str) -> dict:
    """The registered ``logit`` block as the spec record shows it; refuses a covariance that is not run."""
    require_implemented("perception.logit.covariance", covariance, "cluster")
    require_implemented("perception.logit.cluster_by", cluster_by, "rater_id")
    return {"intercept": intercept, "scenario_dummies": scenario_dummies, "covariance": covariance, "cluster_by": cluster_by}


@dataclass(frozen=True)
class _GapLogit:
    """One registered logit on ``|gap|`` (and scenario dummies), clustered by rater: the fit, its design,
    its tables (``LOGIT_COLUMNS``, one ``LOGIT_FIT_COLUMNS`` row) and the scenario term's record."""

    result: object
    design: pd.DataFrame
    n_raters: int
    coefficients: pd.DataFrame
    fit: pd.DataFrame
    scenario_note: str
    scenario_term: str


def _gap_logit(
    used: pd.DataFrame, response: str, *, model: str, scenarios: Sequence[str], n_choices: int, n_left_out: int, alpha: float,
    intercept: bool, scenario_dummies: bool,
) -> _GapLogit:
    """Fit ``response`` (0/1 column of ``used``) on ``abs_gap`` as both perception logits are registered."""
    note = scenario_term_note(scenarios, scenario_dummies=scenario_dummies)
    design = logit_design(used, "abs_gap", scenarios, intercept=intercept, scenario_dummies=scenario_dummies)
    result = fit_cluster_logit(used[response].to_numpy(dtype=float), design, used["rater_id"])
    n_raters = int(used["rater_id"].nunique())
    fit = pd.DataFrame([_fit_summary(model, n_choices, used, response, result, n_left_out, note)], columns=LOGIT_FIT_COLUMNS)
    return _GapLogit(
        result=result, design=design, n_raters=n_raters, coefficients=logit_rows(result, model, alpha, n_raters), fit=fit,
        scenario_note=note, scenario_term=note or ("fitted" if scenario_dummies else "not registered"),
    )


def _logit_execution(result, *, outcome: str, alpha: float, sample: dict, details: dict) -> dict:
    """The spec record's execution block of a perception logit (``result``: the fitted statsmodels logit)."""
    return {
        "estimator": "logit",
        "outcomes": [outcome],
        "terms": list(result.params.index),
        "covariance": {"type": result.cov_type, "cluster_by": "rater_id",
                       "small_sample_correction": bool(result.cov_kwds.get("use_correction", True)),
                       "reference_distribution": "t" if result.use_t else "normal"},
        "alpha": alpha,
        "sample": sample,
        "diagnostics": {"converged": bool(result.mle_retvals.get("converged", True))},
        "details": details,
    }


def perception_analysis(
    perception: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    outcome: str,
    alpha: float,
    logit_intercept: bool,
    scenario_dummies: bool,
    gap_edges: Sequence[float],
    proportion_ci: str,
    bradley_terry_method: str,
    bradley_terry_regularisation: float,
    logit_covariance: str = "cluster",
    logit_cluster_by: str = "rater_id",
    zero_gap: str = "exclude",
    rank_correlation: str = "spearman",
) -> PerceptionResults:
    """Run the registered perception analysis (without Elo).

    Parameters
    ----------
    perception : pandas.DataFrame
        Validated ``perception.csv`` (:func:`analysis.cohorts.optional.load_perception`).
    outcomes : pandas.DataFrame
        Analysed conversations (``conversation_scores.csv``).
    outcome : str
        Registered ``outcome``: the column of ``outcomes`` whose gap is analysed.
    alpha : float
        Two-sided level; CIs are ``1 - alpha``.
    logit_intercept, scenario_dummies : bool
        Registered ``logit.intercept`` and ``logit.scenario_dummies`` (see :func:`logit_design`).
    gap_edges : sequence of float
        Registered ``gap_bins``: increasing edges of the right-closed ``|gap|`` bins (see :func:`gap_bins`).
    proportion_ci : str
        Registered ``proportion_ci``: the statsmodels ``proportion_confint`` method.
    bradley_terry_method : {"ilsr_pairwise", "opt_pairwise"}
        Registered ``bradley_terry.method`` (see :func:`bradley_terry`).
    bradley_terry_regularisation : float
        Registered ``bradley_terry.regularisation`` (choix ``alpha``).
    logit_covariance : {"cluster"}
        Registered ``logit.covariance``; the only one implemented.
    logit_cluster_by : {"rater_id"}
        Registered ``logit.cluster_by``; the only one implemented.
    zero_gap : {"exclude"}
        Registered ``zero_gap``; the only policy implemented (zero gaps are left out and listed).
    rank_correlation : {"spearman"}
        Registered ``rank_correlation``; the only one implemented.

    Returns
    -------
    PerceptionResults

    Raises
    ------
    ConfigError
        When a fixed option (covariance, cluster variable, zero-gap policy, rank correlation) is
        registered with another value than the implemented one.
    """
    logit_settings = _logit_record(logit_intercept, scenario_dummies, logit_covariance, logit_cluster_by)
    require_implemented("perception.zero_gap", zero_gap, "exclude")
    require_implemented("perception.rank_correlation", rank_correlation, "spearman")
    alpha = float(alpha)
    choices, left_out = choice_table(perception, outcomes, outcome)
    ties = choices["higher_side"] == "tie"
    tie_rows = pd.DataFrame(
        {"analysis": "logit_higher_outcome", "record_id": (choices["rater_id"] + "/" + choices["pair_id"])[ties].to_numpy(),
         "reason": f"zero {outcome} gap: neither conversation is higher"}
    )
    used = choices[~ties]
    scenarios = sorted(choices["scenario"].unique())
    logit = _gap_logit(
        used, "chose_higher", model="higher_outcome", scenarios=scenarios, n_choices=int(len(choices)),
        n_left_out=int(ties.sum()), alpha=alpha, intercept=logit_intercept, scenario_dummies=scenario_dummies,
    )
    bins = gap_bins(choices, gap_edges, proportion_ci, alpha)
    top = float(min(gap_edges[-1], max(used["abs_gap"].max(), 1.0)))
    curve = predicted_curve(logit.result, logit.design, "abs_gap", np.linspace(0.0, top, 61))
    # every validated choice informs the ranking (it needs no composite); shown conversations that were
    # not analysed keep an empty outcome and drop out of the rank correlation only
    shown = pd.DataFrame(
        {"conversation_id": pd.concat([perception["conversation_left_id"], perception["conversation_right_id"]]),
         "scenario": pd.concat([perception["scenario"], perception["scenario"]])}
    ).drop_duplicates("conversation_id")
    shown["outcome"] = shown["conversation_id"].map(outcomes.set_index("conversation_id")[outcome])
    strengths = bradley_terry(perception, shown, bradley_terry_method, float(bradley_terry_regularisation))
    scored = strengths.dropna(subset=["outcome"])
    ranks = pd.DataFrame(
        [spearman_row("bradley_terry", outcome, scored["strength"].to_numpy(), scored["outcome"].to_numpy())], columns=RANK_COLUMNS
    )
    execution = _logit_execution(
        logit.result, outcome="chose_higher_outcome", alpha=alpha,
        sample={"n_choices": int(len(perception)), "n_analysed_choices": int(len(choices)), "n_nonzero_gap": int(len(used)),
                "n_zero_gap": int(ties.sum()), "n_raters": logit.n_raters, "n_conversations_shown": int(len(strengths)),
                "n_left_out_records": int(len(left_out) + len(tie_rows))},
        details={
            "gap": f"{outcome} of the left minus the right conversation",
            "zero_gap": zero_gap,
            "logit": logit_settings,
            "scenario_reference": scenarios[0] if scenario_dummies and not logit.scenario_note else None,
            "scenario_term": logit.scenario_term,
            "gap_bins": list(gap_edges),
            "proportion_ci": proportion_ci,
            "bradley_terry": {"library": f"choix {version('choix')}", "method": bradley_terry_method,
                              "alpha": float(bradley_terry_regularisation)},
            "rank_correlation": rank_correlation,
        },
    )
    return PerceptionResults(
        choices=choices, logit=logit.coefficients, logit_fit=logit.fit, gap_bins=bins, curve=curve, strengths=strengths,
        rank_correlations=ranks, left_out=pd.concat([left_out, tie_rows], ignore_index=True)[LEFT_OUT_COLUMNS], execution=execution,
    )


def elo_analysis(
    choices: pd.DataFrame,
    strengths: pd.DataFrame,
    elo: pd.DataFrame,
    *,
    outcome: str,
    alpha: float,
    agreement_gap: str,
    logit_intercept: bool,
    scenario_dummies: bool,
    logit_covariance: str = "cluster",
    logit_cluster_by: str = "rater_id",
    rank_correlation: str = "spearman",
) -> EloResults:
    """Agreement of the human choices with the LLM's Elo preference, and BT versus Elo ranks.

    Parameters
    ----------
    choices : pandas.DataFrame
        ``choices.csv`` of :func:`perception_analysis` (analysed choices, zero gaps included).
    strengths : pandas.DataFrame
        ``bt_strengths.csv`` of :func:`perception_analysis`.
    elo : pandas.DataFrame
        Validated ``elo.csv`` (:func:`analysis.cohorts.optional.load_elo`).
    outcome : str
        Registered perception ``outcome`` (named in the covariate and the rank correlation).
    alpha : float
        Two-sided level; CIs are ``1 - alpha``.
    agreement_gap : {"composite", "elo"}
        Registered ``elo.agreement_gap``: the covariate of the agreement logit (see Notes).
    logit_intercept, scenario_dummies : bool
        Registered ``logit.intercept`` and ``logit.scenario_dummies`` (see :func:`logit_design`).
    logit_covariance : {"cluster"}
        Registered ``logit.covariance``; the only one implemented.
    logit_cluster_by : {"rater_id"}
        Registered ``logit.cluster_by``; the only one implemented.
    rank_correlation : {"spearman"}
        Registered ``elo.rank_correlation``; the only one implemented.

    Returns
    -------
    EloResults

    Raises
    ------
    ConfigError
        When ``agreement_gap`` is neither option, or a fixed option is registered with another
        value than the implemented one.

    Notes
    -----
    ``agree = 1`` when the chosen conversation has the higher Elo rating. Choices whose two
    conversations have equal Elo ratings, or a conversation without a rating, are left out and
    listed. The covariate is ``|gap|`` of the outcome (``agreement_gap: composite``; zero gaps
    are kept because the Elo preference is defined) or ``|Elo gap| / 100`` (``elo``).
    """
    logit_settings = _logit_record(logit_intercept, scenario_dummies, logit_covariance, logit_cluster_by)
    require_implemented("perception.elo.rank_correlation", rank_correlation, "spearman")
    if agreement_gap not in ("composite", "elo"):
        raise ConfigError(f"perception.elo.agreement_gap '{agreement_gap}' is not supported (implemented: composite, elo)")
    alpha = float(alpha)
    rating = elo.set_index("conversation_id")["elo_rating"]
    data = choices.copy()
    data["elo_left"] = data["conversation_left_id"].map(rating)
    data["elo_right"] = data["conversation_right_id"].map(rating)
    key = data["rater_id"] + "/" + data["pair_id"]
    unrated = data["elo_left"].isna() | data["elo_right"].isna()
    missing_id = np.where(data["elo_left"].isna(), data["conversation_left_id"], data["conversation_right_id"])
    tie = ~unrated & (data["elo_left"] == data["elo_right"])
    left = [
        pd.DataFrame({"analysis": "logit_elo_agreement", "record_id": key[unrated].to_numpy(),
                      "reason": ("conversation " + pd.Series(missing_id, index=data.index)[unrated] + " has no Elo rating").to_numpy()}),
        pd.DataFrame({"analysis": "logit_elo_agreement", "record_id": key[tie].to_numpy(), "reason": "equal Elo ratings: no Elo preference"}),
    ]
    used = data[~unrated & ~tie].copy()
    elo_choice = np.where(used["elo_left"] > used["elo_right"], "left", "right")
    used["agree"] = (used["choice"].to_numpy() == elo_choice).astype(float)
    if agreement_gap == "elo":
        used["abs_gap"] = (used["elo_left"] - used["elo_right"]).abs() / 100.0
        covariate_note = "|Elo gap| / 100"
    else:
        covariate_note = f"|{outcome} gap|"
    logit = _gap_logit(
        used, "agree", model="elo_agreement", scenarios=sorted(choices["scenario"].unique()), n_choices=int(len(choices)),
        n_left_out=int(unrated.sum() + tie.sum()), alpha=alpha, intercept=logit_intercept, scenario_dummies=scenario_dummies,
    )
    with_elo = strengths.assign(elo=strengths["conversation_id"].map(rating))
    no_rating = with_elo["elo"].isna()
    left.append(pd.DataFrame({"analysis": "rank_bradley_terry_elo", "record_id": with_elo.loc[no_rating, "conversation_id"].to_numpy(),
                              "reason": "shown in the perception task but has no Elo rating"}))
    not_shown = ~elo["conversation_id"].isin(strengths["conversation_id"])
    left.append(pd.DataFrame({"analysis": "rank_bradley_terry_elo", "record_id": elo.loc[not_shown, "conversation_id"].to_numpy(),
                              "reason": "has an Elo rating but was not shown in the perception task"}))
    rated = with_elo[~no_rating]
    scored = rated.dropna(subset=["outcome"])
    ranks = pd.DataFrame(
        [
            spearman_row("bradley_terry", "elo", rated["strength"].to_numpy(), rated["elo"].to_numpy()),
            spearman_row("elo", outcome, scored["elo"].to_numpy(), scored["outcome"].to_numpy()),
        ],
        columns=RANK_COLUMNS,
    )
    left_out = pd.concat(left, ignore_index=True)[LEFT_OUT_COLUMNS]
    execution = _logit_execution(
        logit.result, outcome="agree_with_elo", alpha=alpha,
        sample={"n_choices": int(len(choices)), "n_used": int(len(used)), "n_raters": logit.n_raters,
                "n_rank_pairs": int(len(rated)), "n_left_out_records": int(len(left_out))},
        details={"agreement_gap": agreement_gap, "covariate": covariate_note, "logit": logit_settings,
                 "scenario_term": logit.scenario_term, "rank_correlation": rank_correlation},
    )
    return EloResults(
        logit=logit.coefficients, logit_fit=logit.fit, rank_correlations=ranks, left_out=left_out, execution=execution,
    )


def read_choices(path) -> pd.DataFrame:
    """Read ``choices.csv`` with IDs as text."""
    text = {column: "str" for column in ["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id",
                                          "choice", "chosen_id", "higher_side"]}
    return pd.read_csv(path, dtype={**text, "chose_higher": "Int64"}, keep_default_na=False, na_values=[""])


def read_strengths(path) -> pd.DataFrame:
    """Read ``bt_strengths.csv`` with IDs as text."""
    return pd.read_csv(path, dtype={"conversation_id": "str", "scenario": "str"}, keep_default_na=False, na_values=[""])
