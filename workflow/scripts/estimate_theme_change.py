"""Rules estimate_theme_change and estimate_theme_level2_change: how training changed the use of the coded themes
(DiD of proportions), at the finest level and at the parent level of a hierarchical coding."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.optional import read_validated_themes, themes_at_level
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.specs import write_rule_spec_record
from analysis.runtime.runlog import logged_step
from analysis.secondary.taxonomy import theme_change

with logged_step(snakemake.log[0], "estimate_theme_change") as log:
    results = theme_change(
        themes_at_level(read_validated_themes(snakemake.input.themes), snakemake.params.level),
        read_validated(snakemake.input.messages, "messages"),
        read_outcomes(snakemake.input.outcomes),
        **snakemake.params.keywords,
    )
    for name in ("shares", "change", "top", "left_out"):
        write_csv(getattr(results, name), snakemake.output[name])
    write_rule_spec_record(
        snakemake.params, snakemake.wildcards.cohort, "taxonomy", results.execution, snakemake.output.spec
    )
    log.info("%s significant changes after FDR", int(results.change["significant"].sum()))
