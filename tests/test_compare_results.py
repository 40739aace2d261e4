"""tools/compare_results.py: the before/after check of a refactoring finds every changed, missing or extra result."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.conftest import REPO

SPEC = importlib.util.spec_from_file_location("compare_results", REPO / "tools" / "compare_results.py")
compare_results = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(compare_results)


def write(folder: Path, relative: str, text: str) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_identical_results_pass_and_every_kind_of_difference_is_named(tmp_path, capsys):
    before, after = tmp_path / "before", tmp_path / "after"
    for folder in (before, after):
        write(folder, "results/sim/primary/did.csv", "term,estimate\npost,0.25\n")
        write(folder, "results/sim/primary/spec.json", '{"seed": 1}\n')
        write(folder, "results/sim/primary/figure.png", "not compared")
    assert compare_results.main([str(before), str(after), "--cohort", "sim"]) == 0
    assert "2 CSV and JSON files compared under results/{sim}: identical" in capsys.readouterr().out

    write(after, "results/sim/primary/did.csv", "term,estimate\npost,0.2500000001\n")
    write(after, "results/sim/mixed/extra.csv", "a\n1\n")
    (after / "results/sim/primary/spec.json").unlink()
    write(after, "results/sim/primary/figure.png", "changed, still not compared")
    assert compare_results.main([str(before), str(after), "--cohort", "sim"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        f"only in {before}: results/sim/primary/spec.json",
        f"only in {after}: results/sim/mixed/extra.csv",
        "differs: results/sim/primary/did.csv",
    ]
    assert lines[3].endswith("3 difference(s)")


def test_a_cohort_without_results_on_either_side_fails(tmp_path, capsys):
    assert compare_results.main([str(tmp_path / "a"), str(tmp_path / "b"), "--cohort", "missing"]) == 1
    assert "missing: no results in either folder" in capsys.readouterr().out
