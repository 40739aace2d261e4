"""Benchmark the pipeline on the default cohort: whole DAG, no-op rerun, and each hot step.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_pipeline.py``). Prints a Markdown
table to paste into docs/performance.md. Timings are wall-clock seconds on the machine it runs on;
nothing here is asserted.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis.cohorts.contract import load_and_validate  # noqa: E402
from analysis.cohorts.exclusions import apply_exclusions  # noqa: E402
from analysis.cohorts.native import write_native  # noqa: E402
from analysis.cohorts.outcomes import derive_outcomes  # noqa: E402
from analysis.models.did import primary_analysis  # noqa: E402
from analysis.prereg.plan import load_prereg  # noqa: E402
from analysis.simulate.cohort import simulate_cohort  # noqa: E402


def timed(function, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def snakemake_run(workdir: Path, *arguments: str) -> float:
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"prereg": str(REPO / "config" / "prereg.yaml")}))
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(REPO / "config" / "config.yaml"), str(overlay), "--cores", "all", "--quiet", *arguments,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each in-process step (median reported)")
    arguments = parser.parse_args()

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    simulation = config["cohorts"]["paper_sim"]["simulation"]
    plan = load_prereg(REPO / "config" / "prereg.yaml")
    design = plan["design"]
    rows = []

    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        rows.append(("snakemake, whole DAG, default cohort (cold results)", snakemake_run(workdir)))
        rows.append(("snakemake, no-op rerun", snakemake_run(workdir)))

        seconds, tables = timed(
            lambda: simulate_cohort(
                arm_sizes=simulation["arm_sizes"], seed=simulation["seed"], judges=simulation["judges"],
                first_scenario_counts=simulation["first_scenario_counts"],
                messages_per_conversation=simulation["messages_per_conversation"],
            ),
            arguments.repeats,
        )
        rows.append(("simulate_cohort (968 participants, ~34k messages)", seconds))
        files = write_native(tables, workdir / "bench_input")
        files = {name: str(path) for name, path in files.items()}
        seconds, (validated, _) = timed(
            lambda: load_and_validate(files, design["arms"], plan["outcomes"]["dimensions"], design["conversations_per_participant"]),
            arguments.repeats,
        )
        rows.append(("read + validate the four native files", seconds))
        seconds, exclusion = timed(
            lambda: apply_exclusions(
                validated.participants, validated.conversations, validated.messages, validated.scores,
                plan["exclusions"], plan["outcomes"]["dimensions"], "all", design["conversations_per_participant"], design["arms"],
            ),
            arguments.repeats,
        )
        rows.append(("apply_exclusions", seconds))
        seconds, outcomes = timed(
            lambda: derive_outcomes(
                validated.participants, validated.conversations, validated.scores, exclusion.included,
                plan["outcomes"]["dimensions"], plan["outcomes"]["composite"], plan["judge_aggregation"],
                design["post_conversations"],
            ),
            arguments.repeats,
        )
        rows.append(("derive_outcomes", seconds))
        seconds, _ = timed(
            lambda: primary_analysis(outcomes, plan["primary_analysis"]["outcomes"], design["arms"], design["reference_arm"]),
            arguments.repeats,
        )
        rows.append(("primary_analysis (7 outcomes: OLS + cluster SE + contrasts)", seconds))

    print(f"Machine: {platform.platform()}, Python {platform.python_version()}, {platform.processor() or 'cpu'}")
    print()
    print("| step | seconds |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
