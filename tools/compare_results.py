"""Compare the CSV and JSON results of two runs of the pipeline, byte for byte.

A change that must not alter any number (a refactoring, a move of modules) is checked by running the
pipeline before and after it and comparing every ``results/<cohort>/**/*.csv`` and ``*.json`` of both runs:

    .venv/bin/python tools/compare_results.py BEFORE_FOLDER AFTER_FOLDER [--cohort paper_sim --cohort pilot]

Each folder is a working copy where `make reproduce` ran (the comparison reads its ``results/``). The
results hold no clock: neither the spec records nor the tables record when they were made (the run's
time lives in the logs, the report and the InferenceData files, which are not compared here), so no
value is masked. The script prints one line per file that differs or exists on one side only, then a
summary, and exits 1 when anything differs (or when a cohort has no results on either side).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PATTERNS = ("*.csv", "*.json")


def result_files(folder: Path, cohort: str) -> dict[str, Path]:
    """The CSV and JSON files under ``folder/results/<cohort>``, keyed by their path relative to ``folder``."""
    root = folder / "results" / cohort
    return {str(path.relative_to(folder)): path for pattern in PATTERNS for path in root.rglob(pattern) if path.is_file()}


def compare(before: Path, after: Path, cohorts: list[str]) -> tuple[list[str], int]:
    """Lines describing every difference between the two folders' results, and the number of files compared."""
    problems, compared = [], 0
    for cohort in cohorts:
        first, second = result_files(before, cohort), result_files(after, cohort)
        if not first and not second:
            problems.append(f"{cohort}: no results in either folder")
            continue
        for name in sorted(first.keys() - second.keys()):
            problems.append(f"only in {before}: {name}")
        for name in sorted(second.keys() - first.keys()):
            problems.append(f"only in {after}: {name}")
        for name in sorted(first.keys() & second.keys()):
            compared += 1
            if first[name].read_bytes() != second[name].read_bytes():
                problems.append(f"differs: {name}")
    return problems, compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="working copy of the first run")
    parser.add_argument("after", type=Path, help="working copy of the second run")
    parser.add_argument("--cohort", action="append", dest="cohorts", help="cohort to compare (default: paper_sim and pilot)")
    arguments = parser.parse_args(argv)
    cohorts = arguments.cohorts or ["paper_sim", "pilot"]
    problems, compared = compare(arguments.before, arguments.after, cohorts)
    for line in problems:
        print(line)
    verdict = "identical" if not problems else f"{len(problems)} difference(s)"
    print(f"{compared} CSV and JSON files compared under results/{{{','.join(cohorts)}}}: {verdict}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
