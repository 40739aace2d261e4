# Lend an Ear trial: the registered analysis pipeline.
# Run: snakemake -c all   (or `make reproduce`); see README.md.
import os

from snakemake.utils import min_version

from analysis.runtime.jobenv import job_environment

min_version("9.0")

# Every job inherits this: compiled code cached in .cache/, PyTensor linked to scipy's OpenBLAS.
os.environ.update(job_environment(workflow.basedir))


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/primary.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/release.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/mixed.smk"
include: "workflow/rules/bayes.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/pilot.smk"
include: "workflow/rules/judges.smk"
include: "workflow/rules/taxonomy.smk"
include: "workflow/rules/secondary.smk"
include: "workflow/rules/design.smk"


CODE_GRAPH.save()


# An input function: a paper_release cohort's targets are known once its import checkpoint has run.
rule all:
    input:
        lambda wildcards: all_targets(),
    default_target: True
