"""The comparison of two runs' outputs (tests/output_comparison.py) that the cluster test and the kill-and-rerun
benchmark rely on: only the report's clock is forgiven, and a clock it cannot find is not."""

from __future__ import annotations

from pathlib import Path

from tests.output_comparison import compare_outputs, same_report

REPORT = "<p>SYNTHETIC DATA, generated {date} UTC</p><table><tr><td>Run time</td><td>{run}</td></tr></table>{body}"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_only_the_report_clock_is_forgiven(tmp_path):
    reference = write(tmp_path / "reference", {
        "results/c/a.csv": "x\n1\n", "results/c/b.csv": "x\n2\n", "data/simulated/c/p.csv": "id\n",
        "reports/c/report.html": REPORT.format(date="2026-01-01 10:00", run="2 min", body="same"),
    })
    rerun = write(tmp_path / "rerun", {
        "results/c/a.csv": "x\n1\n", "results/c/b.csv": "x\n2.0\n", "results/c/.b.csv.partial-0a1b.csv": "x\n",
        "reports/c/report.html": REPORT.format(date="2026-01-01 11:07", run="3 min 05 s", body="same"),
    })
    comparison = compare_outputs(rerun, reference)
    assert comparison.compared == ["reports/c/report.html", "results/c/a.csv", "results/c/b.csv"]
    assert comparison.differing == ["results/c/b.csv"]
    assert (comparison.missing, comparison.extra) == (["data/simulated/c/p.csv"], ["results/c/.b.csv.partial-0a1b.csv"])
    assert not comparison.identical


def test_a_report_differing_elsewhere_or_without_its_clock_differs():
    ours = REPORT.format(date="2026-01-01 10:00", run="2 min", body="same")
    assert same_report(REPORT.format(date="2026-02-03 04:05", run="1 s", body="same"), ours)
    assert not same_report(REPORT.format(date="2026-01-01 10:00", run="2 min", body="other"), ours)
    # masking nothing would compare nothing: both clocks must be found
    assert not same_report(ours.replace("Run time", "Runtime"), ours.replace("Run time", "Runtime"))
