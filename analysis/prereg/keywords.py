"""The keyword arguments of a registered analysis, unpacked from its block of the plan.

Each function turns one plan block into the keywords of the one function that consumes it. The rules pass
the result as their ``keywords`` param (``workflow/rules/*.smk``) and the tests call the same functions, so
a rule and the tests of its analysis read a block the same way by construction. Optional plan settings
default to the values the plan schema (``workflow/schemas/prereg.schema.yaml``) gives them.
"""

from __future__ import annotations

from collections.abc import Mapping

from analysis.cohorts.outcomes import Composite
from analysis.secondary.silent_empathy import SelfJudgedPair, Trait
from analysis.secondary.taxonomy import ChangeTest, SplitRule, TextNormalisation

__all__ = [
    "logit_keywords", "perception_keywords", "elo_keywords", "silent_empathy_keywords", "improvement_keywords",
    "agreement_keywords", "power_keywords", "mining_keywords", "theme_change_keywords", "phrase_change_keywords", "ordinal_model_keywords",
    "composite_model_keywords",
]


def logit_keywords(perception: Mapping) -> dict:
    """Keywords that ``perception_analysis`` and ``elo_analysis`` share: the outcome, alpha and the registered logit.

    Parameters
    ----------
    perception : Mapping
        The plan's ``secondary_analyses.perception`` block.

    Returns
    -------
    dict
        ``outcome``, ``alpha``, ``logit_intercept``, ``scenario_dummies``, ``logit_covariance`` and
        ``logit_cluster_by``.
    """
    logit = perception["logit"]
    return {
        "outcome": perception["outcome"],
        "alpha": perception["alpha"],
        "logit_intercept": logit["intercept"],
        "scenario_dummies": logit["scenario_dummies"],
        "logit_covariance": logit["covariance"],
        "logit_cluster_by": logit["cluster_by"],
    }


def perception_keywords(perception: Mapping) -> dict:
    """Keywords of ``analysis.secondary.perception.perception_analysis`` (rule analyse_perception).

    Parameters
    ----------
    perception : Mapping
        The plan's ``secondary_analyses.perception`` block.

    Returns
    -------
    dict
        Every keyword of the analysis but its data frames.
    """
    return {
        **logit_keywords(perception),
        "gap_edges": perception["gap_bins"],
        "proportion_ci": perception["proportion_ci"],
        "bradley_terry_method": perception["bradley_terry"]["method"],
        "bradley_terry_regularisation": perception["bradley_terry"]["regularisation"],
        "zero_gap": perception["zero_gap"],
        "rank_correlation": perception["rank_correlation"],
    }


def elo_keywords(perception: Mapping) -> dict:
    """Keywords of ``analysis.secondary.perception.elo_analysis`` (rule analyse_perception_elo).

    Parameters
    ----------
    perception : Mapping
        The plan's ``secondary_analyses.perception`` block (its ``elo`` block inside).

    Returns
    -------
    dict
        Every keyword of the analysis but its data frames.
    """
    return {
        **logit_keywords(perception),
        "agreement_gap": perception["elo"]["agreement_gap"],
        "rank_correlation": perception["elo"]["rank_correlation"],
    }


def silent_empathy_keywords(silent_empathy: Mapping, composite: Mapping) -> dict:
    """Keywords of ``analysis.secondary.silent_empathy.silent_empathy_analysis`` (rule analyse_silent_empathy).

    Parameters
    ----------
    silent_empathy : Mapping
        The plan's ``secondary_analyses.silent_empathy`` block; ``cluster_inference``, ``correlation`` and
        ``judged_levels`` are optional.
    composite : Mapping
        The plan's ``outcomes.composite`` block.

    Returns
    -------
    dict
        Every keyword of the analysis but its data frames.
    """
    clustered = silent_empathy.get("cluster_inference", {})
    return {
        "outcome": silent_empathy["outcome"],
        "traits": [Trait.from_plan(trait) for trait in silent_empathy["traits"]],
        "self_vs_judged": [SelfJudgedPair.from_plan(pair) for pair in silent_empathy["self_vs_judged"]],
        "subsets": silent_empathy["subsets"],
        "high_levels": silent_empathy["high_levels"],
        "paired_test": silent_empathy["paired_test"],
        "alpha": silent_empathy["alpha"],
        "composite": Composite.from_plan(composite),
        "bootstrap_resamples": clustered.get("bootstrap_resamples", 2000),
        "bootstrap_seed": clustered.get("seed", 20260305),
        "correlation": silent_empathy.get("correlation", "pearson"),
        "judged_levels_rule": silent_empathy.get("judged_levels", "linear_round"),
        "cluster_paired_test": clustered.get("paired_test", "obuchowski"),
    }


def improvement_keywords(improvement: Mapping) -> dict:
    """Keywords of ``analysis.secondary.improvement.improvement_analysis`` from its plan block.

    Parameters
    ----------
    improvement : Mapping
        The plan's ``secondary_analyses.improvement`` block.

    Returns
    -------
    dict
        The keywords the block sets; the design's (arms, reference arm, post conversations, dimensions)
        come from the plan's ``design`` and ``outcomes``.
    """
    return {
        "outcome": improvement["outcome"],
        "standardiser": improvement["standardiser"],
        "baseline_covariate": improvement["baseline_covariate"],
        "sex_levels": improvement["sex_levels"],
        "age_unit": improvement["age_unit"],
        "alpha": improvement["alpha"],
        "covariance": improvement["covariance"],
    }


def agreement_keywords(agreement: Mapping) -> dict:
    """Keywords of ``analysis.secondary.agreement.agreement_analysis`` from its plan block.

    Parameters
    ----------
    agreement : Mapping
        The plan's ``agreement`` block; ``crowd_bootstrap``, ``crowd_worker_min_n`` and ``spearman_ci_se``
        are optional.

    Returns
    -------
    dict
        The keywords the block sets (the dimensions come from the plan's ``outcomes``).
    """
    crowd_bootstrap = agreement.get("crowd_bootstrap", {})
    return {
        "experts": agreement["experts"],
        "pairs": agreement["pairs"],
        "consensus_label": agreement["consensus"]["label"],
        "consensus_method": agreement["consensus"]["method"],
        "kappa_weights": agreement["kappa_weights"],
        "kappa_categories": agreement["kappa_categories"],
        "rounding": agreement["rounding"],
        "kappa_z_variance": agreement["kappa_z_variance"],
        "alpha": agreement["alpha"],
        "spearman_ci_se": agreement.get("spearman_ci_se", "fisher"),
        "crowd_bootstrap_resamples": crowd_bootstrap.get("resamples", 2000),
        "crowd_bootstrap_seed": crowd_bootstrap.get("seed", 20260306),
        "crowd_worker_min_n": agreement.get("crowd_worker_min_n", 10),
    }


def power_keywords(power: Mapping) -> dict:
    """Keywords of ``analysis.planning.power.design_analysis`` from the power-analysis block.

    Parameters
    ----------
    power : Mapping
        The plan's ``power_analysis`` block under a planner's overrides; ``allocation``,
        ``post_conversations`` and ``judges`` are optional (None: the trial's).

    Returns
    -------
    dict
        The keywords the block sets; the trial's design, hypotheses and primary analysis come from the
        rest of the plan.
    """
    return {
        "n_per_arm": power["n_per_arm"],
        "allocation": power.get("allocation"),
        "post_conversations": power.get("post_conversations"),
        "attrition": power["attrition"],
        "judges": power.get("judges"),
        "judge_agreement": power["judge_agreement"],
        "smallest_effect_sd": power["smallest_effect_sd"],
        "target_power": power["target_power"],
        "mde_power": power["mde"]["power"],
        "mde_effect_grid_sd": power["mde"]["effect_grid_sd"],
        "simulations": power["simulations"],
        "seed": power["seed"],
        "discretisation": power["discretisation"],
    }


def mining_keywords(taxonomy: Mapping) -> dict:
    """Keywords of ``analysis.secondary.taxonomy.mine_phrases`` from the taxonomy block.

    Parameters
    ----------
    taxonomy : Mapping
        The plan's ``taxonomy`` block (its ``mining`` block inside).

    Returns
    -------
    dict
        Every keyword of the mining but its data frames and the dimensions.
    """
    mining = taxonomy["mining"]
    return {
        "min_participants": taxonomy["min_participants"],
        "text": TextNormalisation.from_plan(taxonomy["text"]),
        "ngram_range": taxonomy["ngram_range"],
        "drop_nested_share": taxonomy["drop_nested_share"],
        "split": SplitRule.from_plan(mining["split"]),
        "prior_type": mining["prior"]["type"],
        "prior_background": mining["prior"]["background"],
        "prior_scale": mining["prior"]["scale"],
        "z_threshold": mining["z_threshold"],
    }


def theme_change_keywords(taxonomy: Mapping) -> dict:
    """Keywords of ``analysis.secondary.taxonomy.theme_change`` from the taxonomy block.

    Parameters
    ----------
    taxonomy : Mapping
        The plan's ``taxonomy`` block.

    Returns
    -------
    dict
        ``min_participants`` and ``change`` (the registered test of change).
    """
    return {"min_participants": taxonomy["min_participants"], "change": ChangeTest.from_plan(taxonomy["change"])}


def phrase_change_keywords(taxonomy: Mapping) -> dict:
    """Keywords of ``analysis.secondary.taxonomy.phrase_change`` from the taxonomy block.

    Parameters
    ----------
    taxonomy : Mapping
        The plan's ``taxonomy`` block.

    Returns
    -------
    dict
        Those of :func:`theme_change_keywords`, with the text normalisation and n-gram range that
        matched the mined phrases.
    """
    return {
        **theme_change_keywords(taxonomy),
        "text": TextNormalisation.from_plan(taxonomy["text"]),
        "ngram_range": taxonomy["ngram_range"],
    }


def ordinal_model_keywords(ordinal: Mapping) -> dict:
    """Keywords of ``analysis.models.bayes.fit_ordinal_model`` from its plan block.

    Parameters
    ----------
    ordinal : Mapping
        The plan's ``bayesian_models.ordinal`` block.

    Returns
    -------
    dict
        The keywords the block sets; the dimensions, the design, the sampler and the gates come from the
        rest of the plan.
    """
    return {
        "priors": ordinal["priors"],
        "gated": ordinal["gated"],
        "discretisation": ordinal["discretisation"],
        "participant_parameterisation": ordinal["participant_parameterisation"],
        "posterior_predictive_draws": ordinal["posterior_predictive_draws"],
    }


def composite_model_keywords(composite: Mapping) -> dict:
    """Keywords of ``analysis.models.bayes.fit_composite_model`` from its plan block.

    Parameters
    ----------
    composite : Mapping
        The plan's ``bayesian_models.composite`` block.

    Returns
    -------
    dict
        The keywords the block sets; the design, the sampler and the gates come from the rest of the plan.
    """
    return {"outcome": composite["outcome"], "priors": composite["priors"], "gated": composite["gated"]}
