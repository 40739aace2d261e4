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


# Spec records (analysis/specs.py) that the pre-registration audit of a cohort reads (issue 6).
SPEC_RECORDS = []


def register_spec_records(patterns, kinds=("trial",), requires=None, analysis_ids=()):
    """Add spec records (paths with a `{cohort}` placeholder) that the audit of every cohort of `kinds`
    reads; with `requires` (a key of OPTIONAL_FILES), only for cohorts that have that file.
    `analysis_ids`: the plan IDs the records carry, so that the audit reports a registered analysis the
    workflow does not run for a cohort as "not applicable" rather than "not run"."""
    SPEC_RECORDS.append((list(patterns), tuple(kinds), requires, list(analysis_ids)))


def spec_records_apply(cohort, kinds, requires):
    return COHORT_KINDS[COHORTS[cohort]["format"]] in kinds and (requires is None or has_optional_file(cohort, requires))


def cohort_spec_records(cohort):
    return [
        pattern.format(cohort=cohort)
        for patterns, kinds, requires, _ in SPEC_RECORDS
        if spec_records_apply(cohort, kinds, requires)
        for pattern in patterns
    ]


def inapplicable_analyses(cohort):
    """Registered analysis IDs the workflow does not run for this cohort, with the reason."""
    applied = {i for _, kinds, requires, ids in SPEC_RECORDS if spec_records_apply(cohort, kinds, requires) for i in ids}
    reasons = {}
    for _, kinds, requires, ids in SPEC_RECORDS:
        if not spec_records_apply(cohort, kinds, requires):
            kind = COHORT_KINDS[COHORTS[cohort]["format"]]
            why = f"runs for {'/'.join(kinds)} cohorts only" if kind not in kinds else f"needs {OPTIONAL_FILES[requires]}"
            reasons.update({i: why for i in ids if i not in applied})
    return reasons


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
    return [target for cohort in COHORTS if cohort_available(cohort) for target in cohort_targets(cohort)]


# Cohorts whose data may not be had on this machine (issue 5): a format listed here is asked, at DAG
# construction, whether its input can be had; when not, the cohort's targets are left out of `rule all`
# (with a warning saying why) and the other cohorts run as usual.
COHORT_AVAILABILITY = {}


def cohort_available(cohort):
    check = COHORT_AVAILABILITY.get(COHORTS[cohort]["format"])
    return check is None or check(cohort)


# The Lend an Ear pilot release (format pilot_release, issue 5; docs/measurement_validity.md): read from
# the cohort's `path` when that folder exists, else from an earlier download, else downloaded (the URL is
# probed once, quickly); when none is possible the cohort is skipped with a warning.
from snakemake.logging import logger

from analysis.pilot_release import DEFAULT_BASE_URL, PILOT_OUTPUT_FILES, locate_release, manifest_inputs, read_manifest

PILOT_MANIFEST = str(PACKAGE / "reference" / "pilot_release_manifest.csv")
PILOT_DOWNLOADS = "data/downloads/pilot_release/{cohort}"
PILOT_SOURCES = {}


def pilot_release_source(cohort):
    if cohort not in PILOT_SOURCES:
        spec = COHORTS[cohort]
        source = locate_release(
            spec.get("path"), PILOT_DOWNLOADS.format(cohort=cohort), spec.get("download_url", DEFAULT_BASE_URL),
            read_manifest(PILOT_MANIFEST), cohort=cohort,
        )
        (logger.warning if source.kind == "unavailable" else logger.info)(source.message)
        PILOT_SOURCES[cohort] = source
    return PILOT_SOURCES[cohort]


def pilot_release_available(cohort):
    return pilot_release_source(cohort).kind != "unavailable"


COHORT_AVAILABILITY["pilot_release"] = pilot_release_available


def pilot_release_files(wildcards):
    """Input function: the release's files (manifest keys) from the local copy or the download folder."""
    source = pilot_release_source(wildcards.cohort)
    root = source.root if source.kind in ("local", "downloaded") else PILOT_DOWNLOADS.format(cohort=wildcards.cohort)
    return manifest_inputs(read_manifest(PILOT_MANIFEST), root)


def pilot_download_url(wildcards):
    return cohort_spec(wildcards).get("download_url", DEFAULT_BASE_URL)


def pilot_download_outputs():
    return manifest_inputs(read_manifest(PILOT_MANIFEST), PILOT_DOWNLOADS)


# Pre-registration audit, the authors' release (format: paper_release) and the report (issue 6;
# docs/preregistration.md, docs/paper_release.md, docs/report.md).
import csv

from analysis.paper_release import RELEASE_COMMIT as PAPER_RELEASE_COMMIT
from analysis.paper_release import RELEASE_FILES as PAPER_RELEASE_FILES

PAPER_RELEASE_DOWNLOADS = f"data/downloads/paper_release/{PAPER_RELEASE_COMMIT}"
PAPER_RELEASE_MANIFEST = str(PACKAGE / "reference" / "paper_release_manifest.csv")
PUBLISHED_COMPARISONS = PACKAGE / "reference" / "published_comparisons.csv"
REPORT_DIR = Path(workflow.basedir) / "workflow" / "report"


def cohort_kind(cohort):
    return COHORT_KINDS[COHORTS[cohort]["format"]]


def prereg_lock_file():
    """The plan's lock (the plan's path with suffix .lock) as a list: empty while the plan is not locked."""
    lock = os.path.splitext(config["prereg"])[0] + ".lock"
    return [lock] if os.path.isfile(lock) else []


def audit_inputs(wildcards):
    cohort = wildcards.cohort
    files = {"specs": cohort_spec_records(cohort), "prereg": config["prereg"], "lock": prereg_lock_file()}
    if cohort_kind(cohort) == "trial":
        files["flow"] = f"results/{cohort}/qc/flow.csv"
        files["coefficients"] = f"results/{cohort}/primary/did_coefficients.csv"
    return files


def audit_not_applicable(wildcards):
    return inapplicable_analyses(wildcards.cohort)


def paper_release_files(wildcards):
    """The release files of a paper_release cohort: from its `path` (laid out as upstream, with or
    without the `data/` folder) or from the download of the pinned commit."""
    spec = cohort_spec(wildcards)
    if spec["format"] != "paper_release":
        raise ValueError(f"cohort '{wildcards.cohort}' has format {spec['format']}, not paper_release")
    if "path" not in spec:
        return {role: f"{PAPER_RELEASE_DOWNLOADS}/{path}" for role, path in PAPER_RELEASE_FILES.items()}
    nested = os.path.isdir(os.path.join(spec["path"], "data"))
    return {
        role: os.path.join(spec["path"], path if nested else os.path.basename(path))
        for role, path in PAPER_RELEASE_FILES.items()
    }


def published_comparison_inputs(wildcards):
    with open(PUBLISHED_COMPARISONS, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "comparisons": str(PUBLISHED_COMPARISONS),
        "published": sorted({str(PACKAGE / "reference" / row["published_file"]) for row in rows}),
        "results": sorted({f"results/{wildcards.cohort}/{row['result_file']}" for row in rows}),
    }


def report_inputs(wildcards):
    cohort = wildcards.cohort
    own = {f"reports/{cohort}/report.html"}
    files = {
        "targets": [target for target in cohort_targets(cohort) if target not in own],
        "audit": f"reports/{cohort}/prereg_audit.json",
        "prereg": config["prereg"],
        "lock": prereg_lock_file(),
        "template": str(REPORT_DIR / "report.html.j2"),
        "captions": sorted(str(path) for path in REPORT_DIR.glob("*.rst")),
        "requirements": str(Path(workflow.basedir) / "requirements.lock"),
    }
    if cohort_kind(cohort) == "trial":
        files["flow"] = f"results/{cohort}/qc/flow.csv"
        files["validation"] = f"results/{cohort}/validated/validation.json"
    if COHORTS[cohort]["format"] == "paper_release":
        files["import_record"] = f"data/imported/paper_release/{cohort}/import_record.json"
        files["comparison"] = f"results/{cohort}/release/published_vs_reproduced.csv"
        files["extras"] = [f"data/imported/paper_release/{cohort}/import_issues.csv"]
    return files


# Cluster resources (README, "Running on a cluster"): requests estimated from the cohort.
from analysis.resources import bayes_memory_mb, count_participants


def bayes_memory(n_effects_per_participant):
    """Memory request (MB) of a Bayesian fit, from the cohort's participants and the registered
    sampler (analysis.resources.bayes_memory_mb); evaluated when the job is scheduled."""
    sampler = PREREG["bayesian_models"]["sampler"]
    return lambda wildcards, input: bayes_memory_mb(count_participants(input.outcomes), n_effects_per_participant, sampler)
