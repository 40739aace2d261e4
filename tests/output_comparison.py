"""Compare every output of two runs of the DAG: byte for byte, except where a file records its own run's clock.

Shared by the cluster test (tests/test_cluster.py: a run through SLURM against a local one) and the
kill-and-rerun benchmark (benchmarks/kill_and_rerun.py: a run killed and rerun against an uninterrupted one).

Two kinds of file carry the time of the run that made them, and only that is left out of the comparison:

- the InferenceData files (``*.nc``): ArviZ's ``created_at`` and the sampler's compile and sampling seconds
  (every value, coordinate and every other attribute must be identical);
- the HTML report: its "Run time" row and the "generated <date> <time> UTC" of its banner (masked; both
  must be found, once each, then the rest is compared byte for byte).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

OUTPUT_FOLDERS = ("results", "reports", "data")
# the report's "Run time" row and the "generated <date> <time> UTC" of its banner
REPORT_CLOCK = re.compile(r"<tr><td>Run time</td><td>[^<]*</td></tr>|generated \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
REPORT_CLOCK_COUNT = 2
CLOCK_ATTRIBUTES = ("created_at", "compile_seconds", "sampling_seconds")


@dataclass
class OutputComparison:
    """What :func:`compare_outputs` found; paths are relative to the run's folder."""

    compared: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the reference run only
    extra: list[str] = field(default_factory=list)  # in the compared run only

    @property
    def identical(self) -> bool:
        return not (self.differing or self.missing or self.extra)


def output_files(workdir: Path, folders: tuple[str, ...] = OUTPUT_FOLDERS) -> list[str]:
    """Every file under ``folders`` of ``workdir``, hidden ones included, relative and sorted."""
    return sorted(
        str(path.relative_to(workdir)) for folder in folders for path in (Path(workdir) / folder).rglob("*") if path.is_file()
    )


def inference_data_differences(path: Path, reference: Path) -> list[str]:
    """The groups of two InferenceData files that differ in anything but the clock attributes."""
    import arviz as az

    ours, theirs = az.from_netcdf(path), az.from_netcdf(reference)
    if ours.groups() != theirs.groups():
        return [f"groups {ours.groups()} != {theirs.groups()}"]
    differing = []
    for group in ours.groups():
        mine, other = ours[group], theirs[group]
        for dataset in (mine, other):
            for attribute in CLOCK_ATTRIBUTES:
                dataset.attrs.pop(attribute, None)
        if not mine.identical(other):
            differing.append(group)
    return differing


def same_report(text: str, reference: str) -> bool:
    """Two HTML reports equal once their clock is masked (which must be found in both)."""
    counts = [len(REPORT_CLOCK.findall(page)) for page in (text, reference)]
    return counts == [REPORT_CLOCK_COUNT] * 2 and REPORT_CLOCK.sub("", text) == REPORT_CLOCK.sub("", reference)


def same_output(name: str, path: Path, reference: Path) -> bool:
    """One output file equal to the reference run's: byte for byte, clocks aside (see the module's notes)."""
    if name.endswith(".nc"):
        return inference_data_differences(path, reference) == []
    ours, theirs = path.read_bytes(), reference.read_bytes()
    if ours == theirs:
        return True
    if name.startswith("reports/") and name.endswith("/report.html"):
        return same_report(ours.decode("utf-8"), theirs.decode("utf-8"))
    return False


def compare_outputs(workdir: Path, reference: Path, folders: tuple[str, ...] = OUTPUT_FOLDERS) -> OutputComparison:
    """Compare every output file of the run in ``workdir`` with the run in ``reference``.

    Parameters
    ----------
    workdir, reference : pathlib.Path
        The folders the two runs worked in.
    folders : tuple of str
        The output folders compared (``results``, ``reports``, ``data``).

    Returns
    -------
    OutputComparison
        The files compared (present in both), those that differ, and those present in one run only.
    """
    ours, theirs = output_files(workdir, folders), output_files(reference, folders)
    comparison = OutputComparison(missing=sorted(set(theirs) - set(ours)), extra=sorted(set(ours) - set(theirs)))
    comparison.compared = sorted(set(ours) & set(theirs))
    comparison.differing = [name for name in comparison.compared if not same_output(name, workdir / name, reference / name)]
    return comparison
