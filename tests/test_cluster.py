"""The cluster path on a real SLURM cluster: `rule all` of a small simulated cohort through
workflow/profiles/slurm, against a local run of the same DAG.

Needs a SLURM cluster that answers on this machine: `.ci/run` starts a single-node one with
tools/local_slurm.sh before `make test-cluster`; elsewhere these tests skip and say why. Marked
`cluster`, so `make test` leaves them out (pyproject.toml: `-m "not cluster"`).

Checked: every output (results/, reports/, data/) equals the local run's byte for byte; each SLURM
job asked for the CPUs, memory and time limit its rule declared (seen with `squeue` while the run
goes, since SLURM forgets a finished job after MinJobAge); the Bayesian fits, which ask for one CPU
per chain (4 here), are capped at the largest node's CPUs by the profile; and a request no node can
hold stops the run at once, naming the rule and what it asked for.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from analysis.runtime.resources import (
    bayes_memory_mb,
    bayes_runtime_minutes,
    count_participants,
    largest_node_cpus,
    slurm_nodes,
    slurm_status_command,
)
from tests.conftest import REPO
from tests.output_comparison import compare_outputs
from tests.workflow_runs import quick_plan

pytestmark = pytest.mark.cluster

PROFILE = REPO / "workflow" / "profiles" / "slurm"
TINY = {
    "seed": 8,
    "arm_sizes": {"control": 16, "video": 16, "coach": 16, "combined": 16},
    "judges": ["gpt-4o"],
    "messages_per_conversation": 4.0,
}
COHORTS = {"tiny": {"format": "simulated", "simulation": TINY}}
CHAINS = 4  # more than the 2 CPUs of a CI node: the profile must cap the fits' threads
PROFILE_DEFAULTS = {"mem_mb": 2000, "runtime": 20}  # default-resources of workflow/profiles/slurm
RUN_TIMEOUT_S = 1800
NODES = slurm_nodes()


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    """Skip, saying why, where no SLURM cluster answers (a fixture, so that `make test`, which
    deselects these tests, does not report them as skipped)."""
    if NODES is None:
        pytest.skip("no SLURM cluster answers on this machine (start one with `tools/local_slurm.sh start`)")


def light_plan(directory: Path) -> str:
    """The registered plan with few draws (CHAINS chains): the fits take seconds, not minutes. The
    gates are lowered to what so few draws reach; this test compares outputs, not posteriors."""
    path = quick_plan(directory, min_ess_bulk=20, min_ess_tail=20, max_r_hat=1.2)
    plan = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    plan["bayesian_models"]["sampler"].update({"chains": CHAINS, "draws": 60, "thin": 1, "tune": 150})
    plan["bayesian_models"]["ordinal"]["posterior_predictive_draws"] = 20
    Path(path).write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def run_snakemake(workdir: Path, *arguments: str, watch: list | None = None) -> subprocess.CompletedProcess:
    """`rule all` (or ``arguments``' targets) of COHORTS in ``workdir``, while a thread records every
    SLURM job it sees with squeue into ``watch``. The cwd is ``workdir``: the plugin resolves its
    .snakemake/slurm_logs against it."""
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(REPO / "config" / "prereg.yaml"), "cohorts": COHORTS}))
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(overlay), *arguments,
    ]
    done = threading.Event()
    seen: dict[str, str] = {}

    def record():
        while not done.wait(2):
            listing = subprocess.run(
                ["squeue", "--states=all", "--noheader", "--format", "%i|%j|%k|%C|%m|%l|%T"],
                capture_output=True, text=True, check=False,
            )
            for line in listing.stdout.splitlines():
                seen[line.split("|", 1)[0]] = line

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=workdir)
    finally:
        done.set()
        watcher.join()
        if watch is not None:
            watch.extend(seen.values())


def through_slurm(workdir: Path, *arguments: str, watch: list | None = None) -> subprocess.CompletedProcess:
    """Through the SLURM profile, without --cores: the profile decides how many threads a job gets."""
    return run_snakemake(workdir, "--profile", str(PROFILE), *arguments, watch=watch)


def minutes(limit: str) -> int:
    """A SLURM time limit ([D-]HH:MM:SS, MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, mins, secs = parts
    return int(days or 0) * 1440 + hours * 60 + mins + (1 if secs else 0)


def megabytes(memory: str) -> int:
    """A SLURM memory figure (``2000M``, ``3G``) in MB."""
    number, unit = re.fullmatch(r"(\d+)([KMGT]?)", memory).groups()
    return int(number) * {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2}[unit]


def planned_jobs(dry_run_stdout: str) -> dict[str, dict]:
    """Per rule, the resources Snakemake's dry run prints for its job."""
    jobs = {}
    for block in dry_run_stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        resources = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        jobs[rule] = dict(item.split("=", 1) for item in resources.group(1).split(", ")) if resources else {}
    return jobs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`rule all` locally on 2 cores and through the SLURM profile, each in a folder of its own."""
    local, cluster = tmp_path_factory.mktemp("local"), tmp_path_factory.mktemp("slurm")
    # one plan file for both: its path is part of the merged configuration, whose hash the report shows
    plan = light_plan(tmp_path_factory.mktemp("plan"))
    timings = {}
    start = time.monotonic()
    process = run_snakemake(local, "--cores", "2", "--config", f"prereg={plan}")
    timings["local"] = time.monotonic() - start
    assert process.returncode == 0, process.stderr[-4000:]
    jobs: list[str] = []
    start = time.monotonic()
    process = through_slurm(cluster, "--config", f"prereg={plan}", watch=jobs)
    timings["slurm"] = time.monotonic() - start
    assert process.returncode == 0, process.stderr[-6000:]
    print(f"rule all, tiny cohort: local {timings['local']:.0f} s, through SLURM {timings['slurm']:.0f} s")
    run_id = re.search(r"SLURM run ID: (\S+)", process.stderr).group(1)
    return local, cluster, process, [line for line in jobs if line.split("|")[1] == run_id], plan


def test_the_profile_reads_the_cluster():
    assert largest_node_cpus(NODES) == max(node.cpus for node in NODES)
    expected = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    accounting = re.search(r"^AccountingStorageType\s*=\s*(\S+)", expected, re.MULTILINE).group(1)
    assert slurm_status_command() == ("squeue" if accounting == "accounting_storage/none" else "sacct")


def test_every_output_equals_the_local_runs_byte_for_byte(runs):
    """Byte for byte, except where a file records its own run's clock: the InferenceData files
    (ArviZ's ``created_at``, the sampler's compile and sampling seconds; every value and every other
    attribute must be identical) and the report's "Run time" row and "generated" time (masked, the rest
    byte for byte)."""
    local, cluster, process, _, _ = runs
    comparison = compare_outputs(cluster, local)
    assert (comparison.missing, comparison.extra) == ([], [])
    names = comparison.compared
    assert len(names) > 100 and "reports/tiny/report.html" in names and "results/tiny/bayes/ordinal.nc" in names
    assert comparison.differing == [], comparison.differing


def test_each_job_asked_for_what_its_rule_declared(runs):
    local, cluster, process, jobs, plan_path = runs
    plan = yaml.safe_load(Path(plan_path).read_text(encoding="utf-8"))
    n_rules_run = int(re.search(r"(\d+) of \1 steps \(100%\) done", process.stderr).group(1)) - 1  # `all` runs locally
    assert len(jobs) == n_rules_run, "\n".join(jobs)
    dry = through_slurm(cluster, "--config", f"prereg={plan_path}", "--dry-run", "--forceall")
    assert dry.returncode == 0, dry.stderr[-4000:]
    planned = planned_jobs(dry.stdout)
    participants = count_participants(cluster / "results/tiny/outcomes/conversation_scores.csv")
    cap = largest_node_cpus(NODES)
    seen_rules = set()
    for line in jobs:
        _, _, comment, cpus, memory, limit, state = line.split("|")
        rule = re.fullmatch(r"rule_(\w+?)_wildcards_tiny", comment).group(1)
        seen_rules.add(rule)
        asked = {"cpus": int(cpus), "mem_mb": megabytes(memory), "runtime": minutes(limit)}
        # the dry run prints each job's resources (not its threads: those are checked below)
        declared = {"mem_mb": int(planned[rule]["mem_mb"]), "runtime": int(planned[rule]["runtime"])}
        assert {key: asked[key] for key in declared} == declared, (rule, asked, declared)
        assert state == "COMPLETED", line
        # independently of Snakemake's plan: the fits ask for their chains (capped at the largest node),
        # memory and time estimated from the cohort; the planning family a CPU per hypothesis; every other rule
        # the profile's defaults (one CPU)
        if rule.startswith("fit_bayes_"):
            effects = 6 if rule == "fit_bayes_ordinal" else 1
            sampler = plan["bayesian_models"]["sampler"]
            expected = {"cpus": min(CHAINS, cap), "mem_mb": bayes_memory_mb(participants, effects, sampler),
                        "runtime": bayes_runtime_minutes(participants, effects, sampler, min(CHAINS, cap))}
        elif rule == "simulate_power":
            # one process per registered hypothesis (workflow/rules/design.smk), capped at the largest node
            expected = {"cpus": min(len(plan["hypotheses"]), cap), **PROFILE_DEFAULTS}
        else:
            expected = {"cpus": 1, **PROFILE_DEFAULTS}
        assert asked == expected, (rule, asked, expected)
    assert {"simulate_cohort", "fit_bayes_ordinal", "fit_bayes_composite", "render_report"} <= seen_rules


def test_a_request_no_node_can_hold_stops_the_run_at_once(runs):
    """A fit asking for one CPU more than the largest node has (--max-threads and --set-threads on the
    command line win over the profile's cap) is refused before it is submitted, naming the rule and its
    request; SLURM itself would keep it pending for ever. Memory beyond every node (set by hand) is
    refused by sbatch at once; the plugin's message shows the sbatch call with the request."""
    local, cluster, process, _, plan = runs
    over = largest_node_cpus(NODES) + 1
    start = time.monotonic()
    refused = through_slurm(cluster, "--config", f"prereg={plan}", "--forcerun", "fit_bayes_composite", "--until", "fit_bayes_composite",
                            "--max-threads", str(over), "--set-threads", f"fit_bayes_composite={over}")
    assert refused.returncode != 0
    assert time.monotonic() - start < 120
    assert f"rule fit_bayes_composite (cohort=tiny) asks for {over} CPUs" in refused.stderr, refused.stderr[-3000:]
    assert "more than any node of this SLURM cluster has" in refused.stderr
    assert "has been submitted with SLURM jobid" not in refused.stderr
    too_much = max(node.memory_mb for node in NODES) + 1000
    start = time.monotonic()
    refused = through_slurm(cluster, "--config", f"prereg={plan}", "--forcerun", "fit_bayes_composite", "--until", "fit_bayes_composite",
                            "--set-resources", f"fit_bayes_composite:mem_mb={too_much}")
    assert refused.returncode != 0
    assert time.monotonic() - start < 120
    assert "Error in rule fit_bayes_composite" in refused.stderr and f"--mem {too_much}" in refused.stderr, refused.stderr[-3000:]
    assert "SLURM sbatch failed" in refused.stderr
