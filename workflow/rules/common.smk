# Shared set-up: validated config and plan, cohort lookup, input functions.
import os
from pathlib import Path

from snakemake.utils import validate

from analysis.constants import NATIVE_FILES, OPTIONAL_FILES
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


# Where each format's cohort lies in the native contract: `native` cohorts where the config says,
# the others where the rule that simulates or imports them writes it.
NATIVE_DIRECTORIES = {
    "simulated": "data/simulated/{cohort}",
    "pilot_release": "data/imported/pilot_release/{cohort}",
    "paper_release": "data/imported/paper_release/{cohort}",
}
# What a cohort is: a randomised trial (every trial analysis applies) or a rating study (agreement only).
COHORT_KINDS = {"native": "trial", "simulated": "trial", "paper_release": "trial", "pilot_release": "ratings"}


def native_directory(cohort):
    spec = COHORTS[cohort]
    if spec["format"] == "native":
        return spec["path"]
    return NATIVE_DIRECTORIES[spec["format"]].format(cohort=cohort)


def raw_cohort_files(wildcards):
    cohort_spec(wildcards)
    directory = native_directory(wildcards.cohort)
    return {name: os.path.join(directory, filename) for name, filename in NATIVE_FILES.items()}


def simulation_params(wildcards):
    spec = cohort_spec(wildcards)
    if spec["format"] != "simulated":
        raise ValueError(f"cohort '{wildcards.cohort}' has format {spec['format']}, not simulated")
    return spec["simulation"]


def validated(table):
    return f"results/{{cohort}}/validated/{table}.csv"


TARGET_PATTERNS = {"trial": [], "ratings": []}


def register_targets(patterns, kinds=("trial",), requires=None):
    """Add final outputs (paths with a `{cohort}` placeholder) that `rule all` builds for every cohort
    of `kinds`; with `requires` (a key of OPTIONAL_FILES), only for cohorts that have that file."""
    for kind in kinds:
        TARGET_PATTERNS[kind].append((list(patterns), requires))


def has_optional_file(cohort, name):
    """Simulated and paper_release cohorts always provide every optional file (their rules write them);
    a native cohort has one when it lies in its directory."""
    spec = COHORTS[cohort]
    if spec["format"] in ("simulated", "paper_release"):
        return True
    if spec["format"] == "native":
        return os.path.isfile(os.path.join(spec["path"], OPTIONAL_FILES[name]))
    return False


def optional_cohort_file(name):
    """Input function: the cohort's optional file `name` (see OPTIONAL_FILES)."""
    return lambda wildcards: os.path.join(native_directory(wildcards.cohort), OPTIONAL_FILES[name])


def cohort_targets(cohort):
    kind = COHORT_KINDS[COHORTS[cohort]["format"]]
    return [
        pattern.format(cohort=cohort)
        for patterns, requires in TARGET_PATTERNS[kind]
        if requires is None or has_optional_file(cohort, requires)
        for pattern in patterns
    ]


def all_targets():
    return [target for cohort in COHORTS for target in cohort_targets(cohort)]
