# Shared set-up: validated config and plan, cohort lookup, input functions.
import csv
import json
import os
from pathlib import Path

import jsonschema
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from analysis.cohorts.formats import FORMATS
from analysis.constants import NATIVE_FILES, OPTIONAL_FILES
from analysis.errors import ConfigError, exit_on_pipeline_error
from analysis.adapters.paper_release import release_marks_synthetic
from analysis.prereg.plan import load_prereg, read_yaml

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"


def validate_config(config):
    """Validate the run configuration against its schema and fill in the schema's defaults. A ConfigError
    lists every problem, one line each (Snakemake's own error shows the first one with the whole schema)."""
    try:
        validate(config, schema=str(SCHEMAS / "config.schema.yaml"))
    except WorkflowError as error:
        schema = read_yaml(SCHEMAS / "config.schema.yaml")
        problems = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda p: (p.json_path, p.message))
        lines = [f"{problem.json_path}: {problem.message}" for problem in problems] or [str(error)]
        raise ConfigError(
            "The run configuration (config/config.yaml, or the files given with --configfile, and any --config "
            "values) is invalid; fix it and run again:\n  " + "\n  ".join(lines)
        ) from None


# An invalid config or plan stops the run here with its message alone (no traceback of the Snakefile).
with exit_on_pipeline_error():
    validate_config(config)
    PREREG = load_prereg(config["prereg"])
DESIGN = PREREG["design"]
DIMENSIONS = PREREG["outcomes"]["dimensions"]
COHORTS = config["cohorts"]
PACKAGE = Path(workflow.basedir) / "analysis"


wildcard_constraints:
    cohort="[A-Za-z0-9][A-Za-z0-9_-]*",


# The import graph of workflow/scripts and the analysis package, parsed once per Snakemake run.
from analysis.runtime.code_inputs import ImportGraph
from analysis.runtime.jobenv import CACHE_FOLDER

SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
# The parses are kept in the checkout's cache folder (keyed by each file's text): every Snakemake command
# reads the graph, and a parse of the whole package is most of it. The Snakefile saves it once the rules are read.
CODE_GRAPH = ImportGraph(
    PACKAGE,
    data_dirs=[PACKAGE / "reference", Path(workflow.basedir) / "workflow" / "schemas"],
    cache_file=Path(workflow.basedir) / CACHE_FOLDER / "code_inputs.json",
)


def code(script):
    """Input list of the code a step runs, so that editing any of it reruns the step: its script
    (`workflow/scripts/<script>.py`, the file its `script` directive names), every analysis module the
    script reaches through its imports, and the reference and schema files those modules name."""
    path = SCRIPTS / f"{script}.py"
    if not path.is_file():
        raise ValueError(f"code({script!r}): no script {path}; code() takes the name of the rule's script")
    return [str(file) for file in CODE_GRAPH.closure(path)]


def cohort_spec(wildcards):
    try:
        return COHORTS[wildcards.cohort]
    except KeyError:
        raise ConfigError(f"cohort '{wildcards.cohort}' is not declared under `cohorts:` in the config") from None


def cohort_format(cohort):
    """The cohort's row of the format table (analysis.cohorts.formats.FORMATS)."""
    return FORMATS[COHORTS[cohort]["format"]]


def cohort_kind(cohort):
    """`trial` (a randomised trial: every trial analysis applies) or `ratings` (a rating study: agreement only)."""
    return cohort_format(cohort).kind


def is_synthetic(wildcards):
    """Simulated cohorts, and local copies of a release that analysis.simulate.release wrote, are labelled
    synthetic in every table, figure and report."""
    spec = cohort_spec(wildcards)
    synthetic = cohort_format(wildcards.cohort).synthetic
    if synthetic == "release_marker":
        return "path" in spec and release_marks_synthetic(paper_release_paths(wildcards)["experiment_1"])
    return synthetic == "always"


def native_directory(cohort):
    """Where the cohort lies in the native contract: where the config says, or where the rule that
    simulates or imports it writes it."""
    return cohort_format(cohort).native_directory(cohort, COHORTS[cohort].get("path"))


def raw_cohort_files(wildcards):
    cohort_spec(wildcards)
    directory = native_directory(wildcards.cohort)
    return {name: os.path.join(directory, filename) for name, filename in NATIVE_FILES.items()}


# Pseudonymised IDs (cohort option `pseudonymise_ids`; docs/data_contract.md): the first step that writes a
# cohort's IDs replaces them by keyed hashes, so that every later output carries only pseudonyms. The key
# file is an input of that step (a new key reruns the cohort) and is checked when the DAG is built: it must
# exist, hold at least 32 bytes and lie outside the repository and the folder the run writes to.
from analysis.cohorts.privacy import read_pseudonym_key

KEY_PROTECTED_DIRS = [str(workflow.basedir), os.getcwd()]

with exit_on_pipeline_error():
    for name, spec in COHORTS.items():
        if "pseudonymise_ids" in spec and cohort_format(name).pseudonymised_by is None:
            raise ConfigError(
                f"cohort '{name}': pseudonymise_ids is not available for format {spec['format']} "
                f"({cohort_format(name).not_pseudonymised_because}); remove it from the cohort's block"
            )


def pseudonymise_option(step):
    """Params function: when `step` is the one that pseudonymises the cohort, its `pseudonymise_ids` option;
    else None. (The folders the key must lie outside of are checked by `pseudonym_key_file` when the DAG is
    built; as params they would tie every job to the folder it ran in.)"""

    def option(wildcards):
        spec = cohort_spec(wildcards)
        if "pseudonymise_ids" in spec and cohort_format(wildcards.cohort).pseudonymised_by == step:
            return dict(spec["pseudonymise_ids"])
        return None

    return option


def pseudonym_key_file(step):
    """Input function: the key file of a cohort that `step` pseudonymises (empty for any other cohort). A key
    that is missing, short or inside a protected folder stops the run with the message alone."""

    @exit_on_pipeline_error()
    def key_file(wildcards):
        option = pseudonymise_option(step)(wildcards)
        if option is None:
            return []
        read_pseudonym_key(option["key_file"], protected_dirs=KEY_PROTECTED_DIRS)
        return [os.path.abspath(os.path.expanduser(option["key_file"]))]

    return key_file


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


# Spec records (analysis/prereg/specs.py) that the pre-registration audit of a cohort reads (docs/preregistration.md).
SPEC_RECORDS = []


def register_spec_records(patterns, kinds=("trial",), requires=None, analysis_ids=()):
    """Add spec records (paths with a `{cohort}` placeholder) that the audit of every cohort of `kinds`
    reads; with `requires` (a key of OPTIONAL_FILES), only for cohorts that have that file.
    `analysis_ids`: the plan IDs the records carry, so that the audit reports a registered analysis the
    workflow does not run for a cohort as "not applicable" rather than "not run"."""
    SPEC_RECORDS.append((list(patterns), tuple(kinds), requires, list(analysis_ids)))


def spec_records_apply(cohort, kinds, requires):
    return cohort_kind(cohort) in kinds and (requires is None or has_optional_file(cohort, requires))


def cohort_spec_records(cohort):
    return [
        pattern.format(cohort=cohort)
        for patterns, kinds, requires, _ in SPEC_RECORDS
        if spec_records_apply(cohort, kinds, requires)
        for pattern in patterns
    ]


def inapplicable_analyses(cohort):
    """Registered analysis IDs the workflow does not run for this cohort, with the reason (those whose
    input the cohort was meant to have but could not be had are in unavailable_analyses instead)."""
    applied = {i for _, kinds, requires, ids in SPEC_RECORDS if spec_records_apply(cohort, kinds, requires) for i in ids}
    unavailable = unavailable_analyses(cohort)
    reasons = {}
    for _, kinds, requires, ids in SPEC_RECORDS:
        if not spec_records_apply(cohort, kinds, requires):
            kind = cohort_kind(cohort)
            why = f"runs for {'/'.join(kinds)} cohorts only" if kind not in kinds else f"needs {OPTIONAL_FILES.get(requires, requires)}"
            reasons.update({i: why for i in ids if i not in applied and i not in unavailable})
    return reasons


def unavailable_analyses(cohort):
    """Registered analysis IDs not run for this cohort because an optional file it needs could not be
    imported (paper_release cohorts), with the reason: the audit reports them as "not run: input
    unavailable", not as a deviation."""
    missing = unavailable_optional_files(cohort)
    applied = {i for _, kinds, requires, ids in SPEC_RECORDS if spec_records_apply(cohort, kinds, requires) for i in ids}
    return {
        i: f"{OPTIONAL_FILES[requires]} unavailable: {missing[requires]}"
        for _, kinds, requires, ids in SPEC_RECORDS
        if requires in missing
        for i in ids
        if i not in applied
    }


def unavailable_optional_files(cohort):
    """Cohorts whose optional files an import record lists (paper_release): optional file -> why it could
    not be imported, read from the record once the import checkpoint has run (release.smk); empty for
    other formats."""
    if cohort_format(cohort).optional_files != "import_record":
        return {}
    record = checkpoints.import_paper_release.get(cohort=cohort).output.record
    with open(record, encoding="utf-8") as handle:
        status = json.load(handle).get("optional", {})
    return {name: entry["reason"] for name, entry in status.items() if not entry["available"]}


def has_optional_file(cohort, name):
    """Whether the cohort has the optional file `name` (a key of OPTIONAL_FILES, or `theme_levels`: a
    themes.csv with the parent level theme_level2). Simulated cohorts provide every optional file but
    theme levels; paper_release cohorts those their import could map (known after the import
    checkpoint); a native cohort has one when it lies in its directory (the format table,
    analysis.cohorts.formats, says which of these a format follows)."""
    format_ = cohort_format(cohort)
    if name == "theme_levels":
        if format_.theme_levels == "never" or not has_optional_file(cohort, "themes"):
            return False
        if format_.theme_levels == "themes_header":
            with open(os.path.join(native_directory(cohort), OPTIONAL_FILES["themes"]), encoding="utf-8-sig") as handle:
                return "theme_level2" in next(csv.reader(handle), [])
        return True
    if format_.optional_files == "all":
        return True
    if format_.optional_files == "import_record":
        return name not in unavailable_optional_files(cohort)
    if format_.optional_files == "directory":
        return os.path.isfile(os.path.join(native_directory(cohort), OPTIONAL_FILES[name]))
    return False


def optional_cohort_file(name):
    """Input function: the cohort's optional file `name` (see OPTIONAL_FILES); for a cohort whose IDs are
    pseudonymised at validation, its copy with the same pseudonyms (rule pseudonymise_cohort_file)."""

    def path(wildcards):
        if pseudonymise_option("validate_cohort")(wildcards) is not None:
            return f"results/{wildcards.cohort}/pseudonymised/{OPTIONAL_FILES[name]}"
        return os.path.join(native_directory(wildcards.cohort), OPTIONAL_FILES[name])

    return path


def cohort_targets(cohort):
    kind = cohort_kind(cohort)
    return [
        pattern.format(cohort=cohort)
        for patterns, requires in TARGET_PATTERNS[kind]
        if requires is None or has_optional_file(cohort, requires)
        for pattern in patterns
    ]


def all_targets():
    return [target for cohort in COHORTS if cohort_available(cohort) for target in cohort_targets(cohort)]


# Cohorts whose data may not be had on this machine (downloaded releases): a format whose row in the
# format table says `availability="probe"` is asked, at DAG construction, whether its input can be had,
# through its check here (format -> check); when not, the cohort's targets are left out of `rule all`
# (with a warning saying why) and the other cohorts run as usual.
COHORT_AVAILABILITY = {}


def cohort_available(cohort):
    format_ = cohort_format(cohort)
    return format_.availability != "probe" or COHORT_AVAILABILITY[format_.name](cohort)


# The Lend an Ear pilot release (format pilot_release; docs/measurement_validity.md): read from
# the cohort's `path` when that folder exists, else from an earlier download, else downloaded (the URL is
# probed once, quickly); when none is possible the cohort is skipped with a warning.
from snakemake.logging import logger

from analysis.adapters.pilot_release import DEFAULT_BASE_URL, PILOT_OUTPUT_FILES, locate_release, manifest_inputs, read_manifest

PILOT_MANIFEST = str(PACKAGE / "reference" / "pilot_release_manifest.csv")
PILOT_DOWNLOADS = FORMATS["pilot_release"].download_directory
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


# Pre-registration audit, the authors' release (format: paper_release) and the report
# (docs/preregistration.md, docs/paper_release.md, docs/report.md).
import csv

from analysis.adapters.paper_release import RELEASE_COMMIT as PAPER_RELEASE_COMMIT
from analysis.adapters.paper_release import RELEASE_FILES as PAPER_RELEASE_FILES
from analysis.adapters.paper_release import result_requirement

PAPER_RELEASE_DOWNLOADS = FORMATS["paper_release"].download_directory.format(commit=PAPER_RELEASE_COMMIT)
PAPER_RELEASE_MANIFEST = str(PACKAGE / "reference" / "paper_release_manifest.csv")
PUBLISHED_COMPARISONS = PACKAGE / "reference" / "published_comparisons.csv"
REPORT_DIR = Path(workflow.basedir) / "workflow" / "report"


def prereg_lock_file():
    """The plan's lock (the plan's path with suffix .lock) as a list: empty while the plan is not locked."""
    lock = os.path.splitext(config["prereg"])[0] + ".lock"
    return [lock] if os.path.isfile(lock) else []


def audit_inputs(wildcards):
    cohort = wildcards.cohort
    files = {"specs": cohort_spec_records(cohort), "prereg": config["prereg"], "lock": prereg_lock_file()}
    if cohort_kind(cohort) == "trial":
        files["flow"] = f"results/{cohort}/qc/flow.csv"
        files["hypothesis_tests"] = f"results/{cohort}/primary/hypothesis_tests.csv"
    if cohort_format(cohort).import_record:
        files["import_record"] = cohort_format(cohort).import_record.format(cohort=cohort)
    return files


def audit_not_applicable(wildcards):
    return inapplicable_analyses(wildcards.cohort)


def audit_input_unavailable(wildcards):
    return unavailable_analyses(wildcards.cohort)


def paper_release_files(wildcards):
    """The release files of a paper_release cohort that exist: from its `path` (laid out as upstream,
    with or without the `data/` folder) or from the download of the pinned commit."""
    paths = paper_release_paths(wildcards)
    if "path" not in cohort_spec(wildcards):
        return paths  # the download rule makes them
    # an optional file missing from a local copy makes its families unavailable (the import says so);
    # experiment_1.csv stays required
    return {role: path for role, path in paths.items() if role == "experiment_1" or os.path.isfile(path)}


def paper_release_paths(wildcards):
    """Where each release file of a paper_release cohort is expected (whether or not it exists)."""
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
    unavailable = unavailable_results(wildcards)
    return {
        "comparisons": str(PUBLISHED_COMPARISONS),
        "published": sorted({str(PACKAGE / "reference" / row["published_file"]) for row in rows}),
        "results": sorted({f"results/{wildcards.cohort}/{row['result_file']}" for row in rows if row["result_file"] not in unavailable}),
    }


def unavailable_results(wildcards):
    """Result files (relative to results/NAME/) of the published comparison that a paper_release cohort
    cannot have because an optional file they need could not be imported, with why."""
    with open(PUBLISHED_COMPARISONS, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = unavailable_optional_files(wildcards.cohort)
    needs = {row["result_file"]: result_requirement(row["result_file"]) for row in rows}
    return {file: f"{OPTIONAL_FILES[need]} unavailable: {missing[need]}" for file, need in needs.items() if need in missing}


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
    format_ = cohort_format(cohort)
    if format_.import_record:
        files["import_record"] = format_.import_record.format(cohort=cohort)
    if format_.compares_published:
        files["comparison"] = f"results/{cohort}/release/published_vs_reproduced.csv"
    if format_.import_issues:
        files["extras"] = [format_.import_issues.format(cohort=cohort)]
    return files


# Cluster resources (README, "Running on a cluster"): requests estimated from the cohort.
from functools import cache

from analysis.runtime.resources import (
    bayes_memory_mb,
    bayes_runtime_minutes,
    bayes_trace_disk_mb,
    check_fits_a_node,
    count_participants,
    slurm_nodes,
)


# The registered sampler, from which the Bayesian fits' requests are estimated.
BAYES_SAMPLER = PREREG["bayesian_models"]["sampler"]


@cache
def submission_nodes():
    """The nodes of the SLURM cluster when this run submits its jobs to SLURM (the profile
    workflow/profiles/slurm), else None (local runs, dry runs, and the jobs themselves)."""
    plugin = workflow.executor_plugin
    return slurm_nodes() if plugin is not None and plugin.name == "slurm" else None


def bayes_memory(rule_name, n_effects_per_participant):
    """Memory request (MB) of a Bayesian fit, from the cohort's participants and the registered sampler
    (analysis.runtime.resources.bayes_memory_mb); evaluated when the job is scheduled. Under SLURM, a request
    no node can hold stops the run before the job is submitted (it would pend for ever)."""
    def memory_mb(wildcards, input, threads):
        request = bayes_memory_mb(count_participants(input.outcomes), n_effects_per_participant, BAYES_SAMPLER)
        nodes = submission_nodes()
        if nodes:
            check_fits_a_node(rule_name, threads, request, nodes, wildcards=f"cohort={wildcards.cohort}")
        return request

    return memory_mb


def bayes_runtime(n_effects_per_participant):
    """Wall-time request (minutes) of a Bayesian fit, from the cohort's participants, the registered
    sampler and the job's CPUs (analysis.runtime.resources.bayes_runtime_minutes)."""
    def runtime(wildcards, input, threads):
        return bayes_runtime_minutes(count_participants(input.outcomes), n_effects_per_participant, BAYES_SAMPLER, threads)

    return runtime


def bayes_disk(n_effects_per_participant):
    """Disk request (MB) of a Bayesian fit: its trace in the job's temporary folder
    (analysis.runtime.resources.bayes_trace_disk_mb)."""
    def disk_mb(wildcards, input):
        return bayes_trace_disk_mb(count_participants(input.outcomes), n_effects_per_participant, BAYES_SAMPLER)

    return disk_mb


def bayes_fit_params(bayes_model, keywords):
    """The params both Bayesian fit rules share: the model's analysis ID (`bayesian_models.<bayes_model>`),
    the trial's exclusions and aggregation, the sampler and the gates, and the keywords of the model's fit
    function (`keywords`, from its plan block: analysis.prereg.keywords) with the trial's arms."""
    bayes = PREREG["bayesian_models"]
    return {
        "model": bayes_model,
        "analysis_id": bayes[bayes_model]["id"],
        "confirmatory": bayes["confirmatory"],
        "exclusions": [rule["id"] for rule in PREREG["exclusions"]],
        "judge_aggregation": PREREG["judge_aggregation"],
        "keywords": dict(keywords, arms=DESIGN["arms"], reference_arm=DESIGN["reference_arm"]),
        "sampler": bayes["sampler"],
        "gates": bayes["diagnostics"],
    }


# Planning the next cohort (docs/power.md): the registered settings of `power_analysis` with a planner's
# `power_overrides` from the run config, checked against the plan schema's `power_analysis`. Called while
# the workflow is read: invalid overrides stop the run with the message alone.
@exit_on_pipeline_error()
def power_settings(registered, overrides):
    fixed = sorted(set(overrides) & {"id", "confirmatory"})
    if fixed:
        raise ConfigError(f"power_overrides: {fixed} cannot be overridden (they identify the registered analysis)")
    settings = {**registered, **overrides}
    plan_schema = read_yaml(SCHEMAS / "prereg.schema.yaml")
    schema = {**plan_schema["properties"]["power_analysis"], "definitions": plan_schema["definitions"]}
    problems = sorted(jsonschema.Draft202012Validator(schema).iter_errors(settings), key=str)
    if problems:
        raise ConfigError("power_overrides: " + "; ".join(f"{p.json_path}: {p.message}" for p in problems))
    return settings
