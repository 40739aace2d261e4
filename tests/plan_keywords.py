"""The keyword arguments of the secondary analyses, unpacked from a plan block as the rule scripts do.

Each helper mirrors the unpacking in its rule script (``workflow/scripts/``), so a test can call an
analysis with a plan block, or with a block edited to probe one option, in one line.
"""

from __future__ import annotations

from collections.abc import Mapping

from analysis.cohorts.outcomes import Composite
from analysis.secondary.silent_empathy import SelfJudgedPair, Trait

__all__ = [
    "logit_keywords", "perception_keywords", "elo_keywords", "silent_empathy_keywords", "improvement_keywords",
    "agreement_keywords",
]


def logit_keywords(settings: Mapping) -> dict:
    """Keywords that ``perception_analysis`` and ``elo_analysis`` share: the outcome, alpha and the registered logit."""
    logit = settings["logit"]
    return {
        "outcome": settings["outcome"],
        "alpha": settings["alpha"],
        "logit_intercept": logit["intercept"],
        "scenario_dummies": logit["scenario_dummies"],
        "logit_covariance": logit["covariance"],
        "logit_cluster_by": logit["cluster_by"],
    }


def perception_keywords(settings: Mapping) -> dict:
    """Keywords of ``perception_analysis`` from ``secondary_analyses.perception`` (analyse_perception.py)."""
    return {
        **logit_keywords(settings),
        "gap_edges": settings["gap_bins"],
        "proportion_ci": settings["proportion_ci"],
        "bradley_terry_method": settings["bradley_terry"]["method"],
        "bradley_terry_regularisation": settings["bradley_terry"]["regularisation"],
        "zero_gap": settings["zero_gap"],
        "rank_correlation": settings["rank_correlation"],
    }


def elo_keywords(settings: Mapping) -> dict:
    """Keywords of ``elo_analysis`` from ``secondary_analyses.perception`` (analyse_perception_elo.py)."""
    return {
        **logit_keywords(settings),
        "agreement_gap": settings["elo"]["agreement_gap"],
        "rank_correlation": settings["elo"]["rank_correlation"],
    }


def silent_empathy_keywords(settings: Mapping, composite: Mapping) -> dict:
    """Keywords of ``silent_empathy_analysis`` from ``secondary_analyses.silent_empathy`` and ``outcomes.composite``."""
    clustered = settings.get("cluster_inference", {})
    return {
        "outcome": settings["outcome"],
        "traits": [Trait.from_plan(trait) for trait in settings["traits"]],
        "self_vs_judged": [SelfJudgedPair.from_plan(pair) for pair in settings["self_vs_judged"]],
        "subsets": settings["subsets"],
        "high_levels": settings["high_levels"],
        "paired_test": settings["paired_test"],
        "alpha": settings["alpha"],
        "composite": Composite.from_plan(composite),
        "bootstrap_resamples": clustered.get("bootstrap_resamples", 2000),
        "bootstrap_seed": clustered.get("seed", 20260305),
        "correlation": settings.get("correlation", "pearson"),
        "judged_levels_rule": settings.get("judged_levels", "linear_round"),
        "cluster_paired_test": clustered.get("paired_test", "obuchowski"),
    }


def improvement_keywords(settings: Mapping) -> dict:
    """Keywords of ``improvement_analysis`` from ``secondary_analyses.improvement`` (analyse_improvement.py)."""
    return {
        "outcome": settings["outcome"],
        "standardiser": settings["standardiser"],
        "baseline_covariate": settings["baseline_covariate"],
        "sex_levels": settings["sex_levels"],
        "age_unit": settings["age_unit"],
        "alpha": settings["alpha"],
        "covariance": settings["covariance"],
    }


def agreement_keywords(settings: Mapping) -> dict:
    """Keywords of ``agreement_analysis`` from the plan's ``agreement`` block (assess_agreement.py), dimensions aside."""
    crowd_bootstrap = settings.get("crowd_bootstrap", {})
    return {
        "experts": settings["experts"],
        "pairs": settings["pairs"],
        "consensus_label": settings["consensus"]["label"],
        "consensus_method": settings["consensus"]["method"],
        "kappa_weights": settings["kappa_weights"],
        "kappa_categories": settings["kappa_categories"],
        "rounding": settings["rounding"],
        "kappa_z_variance": settings["kappa_z_variance"],
        "alpha": settings["alpha"],
        "spearman_ci_se": settings.get("spearman_ci_se", "fisher"),
        "crowd_bootstrap_resamples": crowd_bootstrap.get("resamples", 2000),
        "crowd_bootstrap_seed": crowd_bootstrap.get("seed", 20260306),
        "crowd_worker_min_n": settings.get("crowd_worker_min_n", 10),
    }
