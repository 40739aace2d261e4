"""The suite's two shared end-to-end runs, and the helpers that run the workflow in a temporary folder.

**The release run.** A simulated release in the authors' layout, through the DAG.

The release is simulated (analysis.simulate.release writes the layout the authors' notebook shows: one
row per supporter message, the real themes, Elo and perception files and coverage). One Snakemake run,
under a copy of the plan with few Bayesian draws (:func:`quick_plan`) and a planner's ``power_overrides``
(:data:`POWER_OVERRIDES`), imports it (format: paper_release), runs every registered analysis (the
Bayesian fits included), compares the published numbers with the reproduced ones, audits the run and
renders the report. The same run imports three more copies, each with one optional file broken; a dry run
then lists what `rule all` still has to do for each cohort.

**The simulated run.** One Snakemake run on a simulated cohort (``tiny``: its simulated inputs, perception
task and themes included, the primary analysis and its per-judge rerun of two judges) and a small native
cohort (``mine``).

Each family is run end to end once: the release run's cohort makes every family's results, tables and figures
(:data:`FIGURES`), but the primary analysis, which both runs make (the simulated and native formats), and the
per-judge rerun, which needs the simulated cohort's two judges.

Each run is a session fixture (``release_run`` and ``simulated_run`` in tests/conftest.py); tests/conftest.py
keeps the modules that read one run on one pytest-xdist worker (:data:`RUN_GROUPS`), so that each run is
made once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from analysis.cohorts.native import CohortTables, write_native
from analysis.simulate.release import simulate_release, write_release
from tests.hostile_text import with_hostile_text

REPO = Path(__file__).resolve().parent.parent
RELEASE_GROUP = "release_run"
SIMULATED_GROUP = "simulated_run"
# The test modules that read each shared run (tests/conftest.py schedules each group on one worker).
RUN_GROUPS = {
    **dict.fromkeys(("tests/test_workflow_report.py", "tests/test_workflow_bayes.py", "tests/test_workflow_secondary.py",
                     "tests/test_workflow_taxonomy.py", "tests/test_workflow_mixed.py", "tests/test_design_workflow.py"), RELEASE_GROUP),
    **dict.fromkeys(("tests/test_workflow.py",), SIMULATED_GROUP),
}

# A bulk ESS no fit reaches: the gate breaks on any CPU and for any seed.
IMPOSSIBLE_ESS = 10**9
# A planner's overrides of the registered power grid (two sizes x 30 simulated trials), given to the release run.
POWER_OVERRIDES = {"n_per_arm": [20, 40], "simulations": 30, "attrition": 0.1, "mde": {"power": 0.8, "effect_grid_sd": [0.2, 0.8]}}


def quick_plan(directory, name: str = "prereg_quick.yaml", **diagnostics) -> str:
    """A copy of the registered plan with few draws, a gate no fit can meet (``policy: warn`` unless given) and a
    small power grid."""
    plan = yaml.safe_load((REPO / "config" / "prereg.yaml").read_text(encoding="utf-8"))
    bayes = plan["bayesian_models"]
    bayes["sampler"].update({"chains": 2, "draws": 150, "thin": 2, "tune": 300})
    bayes["ordinal"]["posterior_predictive_draws"] = 40
    bayes["ordinal"]["gated"] = ["post", "arm_post", "expected_score_post", "expected_score_did"]
    bayes["diagnostics"].update({"min_ess_bulk": IMPOSSIBLE_ESS, "min_ess_tail": 100, "max_r_hat": 1.05, "policy": "warn", **diagnostics})
    # The planning family's registered grid (9 sizes x 1,000 simulated trials) is a minute of CPU; two
    # sizes x 40 trials exercise the same code.
    plan["power_analysis"].update({"n_per_arm": [20, 40], "simulations": 40, "mde": {"power": 0.8, "effect_grid_sd": [0.2, 0.5]}})
    path = directory / name
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return str(path)


# The smallest cohort every family runs on (at 8 per arm the moderation tests of the improvement
# analysis have too few participants per level).
ARM_SIZES = {"control": 12, "video": 12, "coach": 12, "combined": 12}
RELEASE_PARTICIPANTS = sum(ARM_SIZES.values())
RELEASE_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["paper_release"]
# Families whose spec records are registered at integration: until then they are (correctly) "not run".
NOT_YET_REGISTERED = '{id: not-yet-registered, kind: analysis_not_run, analysis_id: "*", reason: "spec records registered at integration"}'
AMENDED = '{id: amended-alpha, kind: plan_amended, analysis_id: prereg, reason: "the test plan was amended after locking"}'
# One copy per optional file, that file broken: its families must be skipped, nothing else.
BROKEN = {
    "no_themes": ("all_themes", lambda frame: frame.drop(columns=["Level 1"])),
    "no_perception": ("experiment_2", lambda frame: frame.assign(participant_choice="maybe")),
    "no_elo": ("elo_rankings", None),  # the file is missing from the copy
}
SKIPPED_RULES = {
    "no_themes": {"validate_themes", "estimate_theme_change", "estimate_theme_level2_change", "plot_theme_change", "render_theme_tables"},
    "no_perception": {"analyse_perception", "analyse_perception_elo", "plot_perception", "render_perception_tables",
                      "render_perception_elo_table"},
    "no_elo": {"analyse_perception_elo", "render_perception_elo_table"},
}


def pseudonym_key(workdir: Path) -> Path:
    """The key of the `rel` cohort's pseudonyms: beside the run's folder, outside it and the repository."""
    return workdir.parent / f"{workdir.name}.key"


def snakemake(workdir: Path, *arguments: str, deviations: tuple[str, ...] = (NOT_YET_REGISTERED,),
              prereg: Path | None = None, inputs: Path | None = None) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` on the stand-in release and the three broken copies (targets and
    flags first: --configfile takes every word after it), under ``prereg`` (default: the run's own plan).

    The releases and the key are read from ``inputs`` (default: ``workdir``): a copy of a run that reads
    the original's inputs sees the same paths in every rule's params, so only what changed reruns."""
    inputs = inputs or workdir
    cohorts = {"rel": {"format": "paper_release", "path": str(inputs / "release"), "verify_checksums": False,
                       "pseudonymise_ids": {"key_file": str(pseudonym_key(inputs))}}}
    cohorts |= {name: {"format": "paper_release", "path": str(inputs / name), "verify_checksums": False} for name in BROKEN}
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(prereg or workdir / "prereg.yaml"), "cohorts": cohorts, "paper_release": RELEASE_CONFIG,
                                       "power_overrides": POWER_OVERRIDES}))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *arguments, "--config", f"deviations=[{', '.join(deviations)}]", "--configfile", str(overlay)]
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)


def dry_run_jobs(output: str) -> dict[str, set[str]]:
    """Rules a dry run would run, per cohort (from its job listing)."""
    jobs: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) )", output):
        rule = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        cohort = re.search(r"wildcards: cohort=([\w-]+)", block)
        if rule and cohort:
            jobs.setdefault(cohort.group(1), set()).add(rule.group(1))
    return jobs


def build_release_run(workdir: Path) -> tuple[Path, object, dict[str, set[str]]]:
    """Simulate the release and its broken copies in ``workdir``, run the DAG, and dry-run `rule all`."""
    release = simulate_release(ARM_SIZES, seed=3, messages_per_conversation=5, n_raters=20, pairs_per_rater=8, pool_per_scenario=8)
    release = with_hostile_text(release)  # participant text that must be shown literally in every output
    write_release(release, workdir / "release")
    for name, (role, change) in BROKEN.items():
        files = write_release(release, workdir / name)
        if change is None:
            files[role].unlink()
        else:
            frame = pd.read_csv(files[role], dtype=str, keep_default_na=False)
            change(frame).to_csv(files[role], index=False)
    quick_plan(workdir, name="prereg.yaml")
    pseudonym_key(workdir).write_text("5e" * 32 + "\n", encoding="utf-8")
    # the broken copies are only imported: which of their families remain is read from the dry run below
    targets = ["reports/rel/report.html", *(f"data/imported/paper_release/{name}/import_issues.csv" for name in BROKEN)]
    process = snakemake(workdir, *targets)
    assert process.returncode == 0, process.stderr[-6000:]
    dry = snakemake(workdir, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-6000:]
    return workdir, release, dry_run_jobs(dry.stdout + dry.stderr)


def run_on_cohorts(workdir: Path, cohorts: dict, *arguments: str, **config) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` on exactly ``cohorts``, under the registered plan (a config
    given on the command line replaces the Snakefile's default config, so `rule all` builds only these).

    ``config`` adds top-level config keys (e.g. ``power_overrides``). Targets and flags go in ``arguments``:
    they come before ``--configfile``, which takes every word after it."""
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(REPO / "config" / "prereg.yaml"), "cohorts": cohorts, **config}))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *arguments, "--configfile", str(overlay)]
    # a guard against a hung run only: on a shared, loaded machine a whole run may take several minutes
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)


# The simulated cohort: 40 participants per arm, two judges (the per-judge sensitivity analysis), 8 messages per
# conversation.
SIMULATION = {
    "seed": 5,
    "arm_sizes": {"control": 40, "video": 40, "coach": 40, "combined": 40},
    "judges": ["gpt-4o", "claude"],
    "messages_per_conversation": 8.0,
}
N_PARTICIPANTS = 160

# The figures of every family, built (and checked) by the release run.
FIGURES = ["effects_sd", "composite_by_conversation", "responders", "silent_empathy_traits", "silent_empathy_self_vs_judged",
           "improvement_by_arm", "perception_gap_bins", "phrase_change", "theme_change", "power_curves", "estimator_comparison",
           "bayes_effects", "bayes_ppc"]
FOUNDATION_TARGETS = [
    f"reports/tiny/tables/{name}.{extension}" for name in ("primary_did", "arm_contrasts") for extension in ("csv", "tex", "md")
] + ["results/tiny/primary/spec.json", "results/tiny/qc/flow.csv"]
JUDGE_TARGETS = ["results/tiny/primary/judge_sensitivity.csv", "reports/tiny/tables/judge_sensitivity.md"]
# The mixed models' outputs, read from the release run (tests/test_workflow_mixed.py).
MIXED_RESULTS = [
    f"results/rel/mixed/{name}" for name in (
        "lmm_coefficients.csv", "convergence.csv", "spec.json", "reliability.csv", "responders.csv", "participant_change.csv",
        "reliable_change_excluded.csv", "reliable_change.spec.json")
]
MIXED_REPORTS = [f"reports/rel/tables/{name}.{ext}" for name in ("lmm_coefficients", "responders") for ext in ("csv", "tex", "md")]
# The secondary analyses' tables and spec records, read from the release run (tests/test_workflow_secondary.py).
SECONDARY_TABLES = ["silent_empathy_correlations", "silent_empathy_gap", "improvement_effects", "baseline_heterogeneity", "perception",
                    "perception_elo"]
SECONDARY_SPECS = ["silent_empathy/spec.json", "improvement/spec.json", "perception/spec.json", "perception/elo.spec.json"]
# The simulated format's optional inputs: the perception task, its Elo ratings and the planted themes, validated.
SIMULATED_OPTIONAL_TARGETS = [*(f"data/simulated/tiny/{name}.csv" for name in ("perception", "elo", "themes")),
                              "results/tiny/taxonomy/themes_validated.csv"]
NATIVE_TARGETS = ["reports/mine/tables/primary_did.md", "results/mine/primary/hypothesis_tests.csv"]
SIMULATED_TARGETS = [*FOUNDATION_TARGETS, *JUDGE_TARGETS, *SIMULATED_OPTIONAL_TARGETS, *NATIVE_TARGETS]


def simulated_cohorts(workdir: Path) -> dict:
    """The simulated run's cohorts: ``tiny`` (simulated) and ``mine`` (native, read from ``workdir/input``)."""
    return {"tiny": {"format": "simulated", "simulation": SIMULATION}, "mine": {"format": "native", "path": str(workdir / "input")}}


def run_simulated(workdir: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` on the simulated run's cohorts."""
    return run_on_cohorts(workdir, simulated_cohorts(workdir), *arguments)


def build_simulated_run(workdir: Path, native: CohortTables) -> Path:
    """Write the native cohort ``native`` to ``workdir/input`` and build every simulated-run target."""
    write_native(native, workdir / "input")
    process = run_simulated(workdir, *SIMULATED_TARGETS)
    assert process.returncode == 0, process.stderr[-6000:]
    return workdir
