"""Rule estimate_reliable_change: reliability of the composite and each participant's reliable change."""

from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import read_outcomes
from analysis.models.reliable_change import reliable_change_analysis
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "estimate_reliable_change") as log:
    plan = snakemake.params.plan
    results = reliable_change_analysis(
        read_outcomes(snakemake.input.outcomes),
        arms=snakemake.params.arms,
        reliability_arm=plan["reliability_arm"],
        optimizers=snakemake.params.optimizers,
        conversations_per_participant=snakemake.params.conversations_per_participant,
        post_conversations=snakemake.params.post_conversations,
        outcome=plan["outcome"],
        terms=plan["terms"],
        critical_value=plan["critical_value"],
    )
    for name in ("reliability", "responders", "participants", "excluded"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(snakemake.params, snakemake.wildcards.cohort, "mixed", results.execution, snakemake.output.spec)
    row = results.reliability.iloc[0]
    log.info("sigma2_u %.4f, sigma2_e %.4f, r1 %.4f, r2 %.4f, SE_d %.4f", row.sigma2_u, row.sigma2_e, row.r1, row.r2, row.se_d)
    log.info("%s participants classified, %s left out (listed in %s)", len(results.participants), len(results.excluded), snakemake.output.excluded)
