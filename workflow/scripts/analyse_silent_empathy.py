"""Rule analyse_silent_empathy: trait empathy and self-ratings against the judged scores."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import Composite, read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.silent_empathy import SelfJudgedPair, Trait, silent_empathy_analysis

with logged_step(snakemake.log[0], "analyse_silent_empathy") as log:
    settings = snakemake.params.settings
    # cluster_inference, correlation and judged_levels are optional in the plan; their defaults are the schema's
    clustered = settings.get("cluster_inference", {})
    results = silent_empathy_analysis(
        participants=read_validated(snakemake.input.participants, "participants"),
        conversations=read_validated(snakemake.input.conversations, "conversations"),
        outcomes=read_outcomes(snakemake.input.outcomes),
        outcome=settings["outcome"],
        traits=[Trait.from_plan(trait) for trait in settings["traits"]],
        self_vs_judged=[SelfJudgedPair.from_plan(pair) for pair in settings["self_vs_judged"]],
        subsets=settings["subsets"],
        high_levels=settings["high_levels"],
        paired_test=settings["paired_test"],
        alpha=settings["alpha"],
        composite=Composite.from_plan(snakemake.params.composite),
        bootstrap_resamples=clustered.get("bootstrap_resamples", 2000),
        bootstrap_seed=clustered.get("seed", 20260305),
        correlation=settings.get("correlation", "pearson"),
        judged_levels_rule=settings.get("judged_levels", "linear_round"),
        cluster_paired_test=clustered.get("paired_test", "obuchowski"),
    )
    for name in ("trait_correlations", "trait_levels", "participants", "self_judged", "distributions", "high_rating_gap", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "silent_empathy", results.execution, snakemake.output.spec)
    log.info("%s records left out (listed in %s)", len(results.left_out), snakemake.output.left_out)
