"""Kill the pipeline (SIGKILL) at random moments, rerun it, and compare every output with an uninterrupted run's.

    .venv/bin/python benchmarks/kill_and_rerun.py                 # 5 kills, seed 1, 2 cores
    .venv/bin/python benchmarks/kill_and_rerun.py --kills 10 --seed 3 --keep

In a temporary folder: `rule all` of a small simulated cohort (64 participants, as in tests/test_cluster.py)
under a copy of the registered plan with few Bayesian draws (tests/workflow_runs.py's ``quick_plan``), run
once uninterrupted as the reference (after a first run that fills the compile caches, whose outputs must
equal the reference's too). Then, ``--kills`` times, in a fresh folder:

1. the same run is started in a process group of its own, and the whole group is SIGKILLed at a moment drawn
   uniformly over the reference run's duration (seeded);
2. what it left behind is recorded (Snakemake's lock, incomplete-output markers, temporary files of the
   atomic writers), and every output present right then, those of the killed steps included, must already
   equal the reference's (no file is half-written);
3. the run is started again with the user's command line (the Makefile's SNAKEMAKE_RUN:
   ``python -m analysis.runtime.run_guard snakemake --cores N --rerun-incomplete --logger=steps``) and must complete
   without any manual step;
4. every file under results/, reports/ and data/ is compared with the reference's, byte for byte except the
   clocks the InferenceData files and the HTML report record (tests/output_comparison.py, shared with the
   cluster test).

The code runs from a copy taken at the start (``--code`` names another checkout to copy instead), so edits
made to the repository while the benchmark runs cannot reach it. Prints a Markdown table (one row per kill);
exits 1 when a rerun failed or an output differs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis.runtime.atomic import PARTIAL_MARKER  # noqa: E402
from tests.output_comparison import compare_outputs  # noqa: E402
from tests.workflow_runs import quick_plan  # noqa: E402

# 64 participants, one judge: tests/test_cluster.py's cohort, whose `rule all` (48 steps) takes 1-2 minutes warm.
TINY = {"seed": 8, "arm_sizes": {"control": 16, "video": 16, "coach": 16, "combined": 16}, "judges": ["gpt-4o"],
        "messages_per_conversation": 4.0}
# What the pipeline needs of a checkout (the report reads requirements.lock; rules name environment.yml).
CODE_ITEMS = ("Snakefile", "analysis", "workflow", "config", "requirements.lock", "environment.yml", "pyproject.toml")
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
RUN_TIMEOUT_S = 3600
JOB_SCRIPT = re.compile(r"\.snakemake/scripts/tmp[^./]+\.(\w+)\.py")
PROGRESS = re.compile(r"^\[\s*(\d+)/(\d+)\]", re.MULTILINE)


def user_command(cores: int) -> list[str]:
    """The Makefile's SNAKEMAKE_RUN (checked against it by :func:`check_makefile`) with the flags of a `make reproduce`."""
    return [sys.executable, "-m", "analysis.runtime.run_guard", str(SNAKEMAKE), "--cores", str(cores), "--rerun-incomplete", "--logger=steps"]


def copy_code(source: Path, destination: Path) -> Path:
    """Copy what the pipeline runs (CODE_ITEMS) from ``source`` to ``destination``, caches left out."""
    destination.mkdir(parents=True)
    for name in CODE_ITEMS:
        item = source / name
        if item.is_dir():
            shutil.copytree(item, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif item.is_file():
            shutil.copy2(item, destination / name)
    return destination


def start(workdir: Path, code: Path, overlay: Path, cores: int, name: str) -> subprocess.Popen:
    """Start the user's command in ``workdir`` (a session and process group of its own); output to files."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [*user_command(cores), "--snakefile", str(code / "Snakefile"), "--configfile", str(overlay)]
    environment = {**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{code / 'workflow' / 'plugins'}"}
    with open(workdir.parent / f"{name}.stdout", "w") as stdout, open(workdir.parent / f"{name}.stderr", "w") as stderr:
        return subprocess.Popen(command, cwd=workdir, env=environment, stdout=stdout, stderr=stderr, start_new_session=True)


def finish(process: subprocess.Popen, started: float) -> tuple[int, float]:
    """Wait for a run; its exit status and wall seconds."""
    return process.wait(timeout=RUN_TIMEOUT_S), time.monotonic() - started


def running_jobs(process: subprocess.Popen) -> list[str]:
    """The scripts (rules) the run's job processes execute now."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    names = set()
    for child in children:
        try:
            names.update(JOB_SCRIPT.findall(" ".join(child.cmdline())))
        except psutil.Error:
            continue
    return sorted(names)


def steps_done(stderr: Path) -> str:
    """``done/total`` from the last progress line the run printed, or ``-``."""
    found = PROGRESS.findall(stderr.read_text(encoding="utf-8", errors="replace")) if stderr.is_file() else []
    return f"{found[-1][0]}/{found[-1][1]}" if found else "-"


def survivors(workdir: Path) -> list[int]:
    """Processes still working in ``workdir`` (none after a SIGKILL of the whole group)."""
    left = []
    for process in psutil.process_iter(["pid", "cwd", "cmdline"]):
        if process.info["cwd"] and Path(process.info["cwd"]).is_relative_to(workdir):
            left.append(process.info["pid"])
        elif any(str(workdir) in word for word in process.info["cmdline"] or []):
            left.append(process.info["pid"])
    return left


def left_behind(workdir: Path) -> str:
    """What a killed run left: Snakemake's lock, its incomplete-job markers, the atomic writers' temporary files."""
    locks = workdir / ".snakemake" / "locks"
    markers = [path for path in (workdir / ".snakemake" / "incomplete").rglob("*") if path.is_file()]
    partial = [path for folder in ("results", "reports", "data") for path in (workdir / folder).rglob(f"*{PARTIAL_MARKER}*")]
    parts = ["lock" if locks.is_dir() and any(locks.iterdir()) else "no lock", f"{len(markers)} incomplete output(s)",
             f"{len(partial)} partial file(s)"]
    return ", ".join(parts)


@dataclass
class Cycle:
    number: int
    kill_at: float
    steps: str
    running: str
    left: str
    present_at_kill: int
    not_whole_at_kill: list[str]
    rerun: str
    rerun_seconds: float
    compared: int
    differing: list[str]
    missing: list[str]
    extra: list[str]

    @property
    def passed(self) -> bool:
        return self.rerun.startswith("ok") and not (self.not_whole_at_kill or self.differing or self.missing or self.extra)


def kill_cycle(number: int, kill_at: float, root: Path, code: Path, overlay: Path, cores: int, reference: Path, keep: bool) -> Cycle:
    """Start a run, SIGKILL its process group at ``kill_at`` seconds, rerun it to completion, compare its outputs."""
    workdir = root / f"cycle-{number}"
    started = time.monotonic()
    process = start(workdir, code, overlay, cores, f"cycle-{number}-killed")
    while time.monotonic() - started < kill_at and process.poll() is None:
        time.sleep(0.05)
    if process.poll() is None:
        running = ", ".join(running_jobs(process)) or "(Snakemake itself)"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    else:
        running = f"(finished first, status {process.returncode})"
    steps = steps_done(root / f"cycle-{number}-killed.stderr")
    time.sleep(0.5)  # let the kernel reap the group
    left = survivors(workdir)
    what = left_behind(workdir) + (f", {len(left)} processes survived" if left else "")
    # Every output present right after the kill, those of the killed steps included, must be whole: equal to
    # the reference's. The atomic writers' temporary files are the only files allowed beyond the reference's.
    at_kill = compare_outputs(workdir, reference)
    not_whole = at_kill.differing + [name for name in at_kill.extra if PARTIAL_MARKER not in name]
    rerun_started = time.monotonic()
    status, seconds = finish(start(workdir, code, overlay, cores, f"cycle-{number}-rerun"), rerun_started)
    guard_note = (root / f"cycle-{number}-rerun.stderr").read_text(encoding="utf-8", errors="replace")
    rerun = ("ok" if status == 0 else f"FAILED ({status})") + ("; stale lock removed" if "A killed run left its lock" in guard_note else "")
    comparison = compare_outputs(workdir, reference)
    if not keep and comparison.identical and status == 0:
        shutil.rmtree(workdir)
    return Cycle(number, kill_at, steps, running, what, len(at_kill.compared), not_whole, rerun, seconds,
                 len(comparison.compared), comparison.differing, comparison.missing, comparison.extra)


def table(cycles: list[Cycle]) -> str:
    lines = [
        "| kill | at (s) | steps done | running at the kill | left behind | outputs present at the kill / not whole | rerun "
        "| rerun (s) | files compared | differing | missing / extra |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cycle in cycles:
        differing = ", ".join(cycle.differing) if cycle.differing else "0"
        lines.append(
            f"| {cycle.number} | {cycle.kill_at:.1f} | {cycle.steps} | {cycle.running} | {cycle.left} | "
            f"{cycle.present_at_kill} / {len(cycle.not_whole_at_kill)} | {cycle.rerun} | "
            f"{cycle.rerun_seconds:.0f} | {cycle.compared} | {differing} | {len(cycle.missing)} / {len(cycle.extra)} |"
        )
    return "\n".join(lines)


def check_makefile() -> None:
    """Stop when the Makefile's run command no longer goes through the guard with --rerun-incomplete."""
    text = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    definition = re.search(r"^SNAKEMAKE_RUN :=(.*)$", text, re.MULTILINE)
    if definition is None or "-m analysis.runtime.run_guard" not in definition.group(1) or "--rerun-incomplete" not in definition.group(1):
        sys.exit("Makefile: SNAKEMAKE_RUN no longer runs `python -m analysis.runtime.run_guard ... --rerun-incomplete`; update user_command()")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5, help="kill-and-rerun cycles (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments (default 1)")
    parser.add_argument("--cores", type=int, default=2, help="--cores of every run (default 2)")
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout to copy and run (default: this repository)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed) and every run in it")
    arguments = parser.parse_args()
    check_makefile()

    root = Path(tempfile.mkdtemp(prefix="kill_and_rerun-"))
    code = copy_code(arguments.code.resolve(), root / "code")
    plan = quick_plan(root, min_ess_bulk=20, min_ess_tail=20, max_r_hat=1.2)
    overlay = root / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": plan, "cohorts": {"tiny": {"format": "simulated", "simulation": TINY}}}))
    print(f"folder {root}; code copied from {arguments.code.resolve()}; host {platform.node()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)

    # The first run compiles the Bayesian models into the code copy's .cache; the reference, whose duration sets
    # the range of the kill moments, runs warm like every later run. Two uninterrupted runs must agree too.
    durations = {}
    for name in ("warm-up", "reference"):
        started = time.monotonic()
        status, durations[name] = finish(start(root / name, code, overlay, arguments.cores, name), started)
        if status != 0:
            print((root / f"{name}.stderr").read_text(encoding="utf-8")[-4000:])
            sys.exit(f"the {name} run failed (status {status}); see {root}")
    reference, duration = root / "reference", durations["reference"]
    uninterrupted = compare_outputs(root / "warm-up", reference)
    if not uninterrupted.identical:
        sys.exit(f"two uninterrupted runs differ: {uninterrupted}; see {root}")
    if not arguments.keep:
        shutil.rmtree(root / "warm-up")
    print(f"warm-up run {durations['warm-up']:.0f} s, reference run {duration:.0f} s ({steps_done(root / 'reference.stderr')} steps); "
          f"their {len(uninterrupted.compared)} outputs agree", flush=True)

    moments = np.random.default_rng(arguments.seed).uniform(0, duration, size=arguments.kills)
    cycles = []
    for number, kill_at in enumerate(moments, start=1):
        cycles.append(kill_cycle(number, float(kill_at), root, code, overlay, arguments.cores, reference, arguments.keep))
        print(f"kill {number}: at {kill_at:.1f} s, rerun {cycles[-1].rerun}, {len(cycles[-1].differing)} differing", flush=True)

    print()
    print(table(cycles))
    landed = sum(not cycle.running.startswith("(finished first") for cycle in cycles)
    print(f"\n{landed} of {len(cycles)} kills landed while the run went (a run that finished before its kill moment "
          f"is rerun and compared all the same); load average at the end: {os.getloadavg()[0]:.1f}")
    failed = [cycle for cycle in cycles if not cycle.passed]
    for cycle in failed:
        print(f"kill {cycle.number}: not whole at the kill {cycle.not_whole_at_kill}; after the rerun differing {cycle.differing}, "
              f"missing {cycle.missing}, extra {cycle.extra}")
    if arguments.keep or failed:
        print(f"kept: {root}")
    else:
        shutil.rmtree(root)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
