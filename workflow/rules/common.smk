# Shared set-up: validated config and plan, cohort lookup, input functions.
import os
from pathlib import Path

from snakemake.utils import validate

from analysis.constants import NATIVE_FILES
from analysis.prereg import load_prereg

validate(config, schema="../schemas/config.schema.yaml")

PREREG = load_prereg(config["prereg"])
DESIGN = PREREG["design"]
DIMENSIONS = PREREG["outcomes"]["dimensions"]
COHORTS = config["cohorts"]
PACKAGE = Path(workflow.basedir) / "analysis"


wildcard_constraints:
    cohort="[A-Za-z0-9][A-Za-z0-9_-]*",


def code(*modules):
    """The analysis modules a rule runs, declared as inputs so an edit reruns the rule."""
    return [str(PACKAGE / f"{module}.py") for module in ("__init__", "constants", "errors", *modules)]


def cohort_spec(wildcards):
    try:
        return COHORTS[wildcards.cohort]
    except KeyError:
        raise ValueError(f"cohort '{wildcards.cohort}' is not declared under `cohorts:` in the config") from None


def is_synthetic(wildcards):
    return cohort_spec(wildcards)["format"] == "simulated"


def raw_cohort_files(wildcards):
    spec = cohort_spec(wildcards)
    if spec["format"] == "simulated":
        directory = f"data/simulated/{wildcards.cohort}"
    else:
        directory = spec["path"]
    return {name: os.path.join(directory, filename) for name, filename in NATIVE_FILES.items()}


def simulation_params(wildcards):
    spec = cohort_spec(wildcards)
    if spec["format"] != "simulated":
        raise ValueError(f"cohort '{wildcards.cohort}' has format {spec['format']}, not simulated")
    return spec["simulation"]


def validated(table):
    return f"results/{{cohort}}/validated/{table}.csv"


TARGET_PATTERNS = []


def register_targets(patterns):
    """Add final outputs (paths with a `{cohort}` placeholder) that `rule all` builds for every cohort."""
    TARGET_PATTERNS.extend(patterns)


def cohort_targets(cohort):
    return [pattern.format(cohort=cohort) for pattern in TARGET_PATTERNS]


def all_targets():
    return [target for cohort in COHORTS for target in cohort_targets(cohort)]
