"""The README's "Running your own cohort" commands, read from README.md and run as written.

The commands and the cohort file are taken from the README itself, so that the test and the text cannot
drift apart. They run in a scratch folder that links the repository's code, config and `.venv`, on a
small native cohort written by the test (its directory replaces the README's placeholder `path`).
The first command naming a target builds it from scratch (the target is deleted before); a later command
naming it again must find it up to date (a target swallowed by `--configfile` fails either way). A command
without targets would build every cohort (minutes, Bayesian fits included), so it runs with
`--dry-run` in the targets' slot: Snakemake still reads both config files and builds the whole DAG.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from analysis.cohorts.native import write_native
from tests.conftest import REPO, make_small_cohort

pytestmark = pytest.mark.e2e

SECTION = "## Running your own cohort"
LINKED = ("Snakefile", "Makefile", "analysis", "workflow", "config", ".venv", "requirements.lock", "pyproject.toml")


def readme_section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def section_blocks(section: str) -> tuple[dict[str, str], list[str]]:
    """The fenced YAML blocks that start with a `# <file>` comment (file -> text), and the commands:
    lines indented by four spaces outside fences."""
    files = {}
    for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.S):
        first = block.splitlines()[0]
        if first.startswith("# ") and first.endswith(".yaml"):
            files[first[2:].strip()] = block
    outside = re.sub(r"```.*?```", "", section, flags=re.S)
    commands = [line[4:] for line in outside.splitlines() if line.startswith("    ") and line.strip()]
    return files, commands


def command_targets(words: list[str]) -> list[str]:
    """The outputs a command names: Snakemake's positional paths, or the words of make's TARGETS=."""
    if words[0] == "make":
        settings = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        return settings.get("TARGETS", "").split()
    return [word for word in words if word.startswith(("results/", "reports/"))]


def as_dry_run(words: list[str]) -> list[str]:
    """The command with a dry-run flag where targets would go (before --configfile, which takes every
    word after it)."""
    if words[0] == "make":
        return [*words, "TARGETS=--dry-run"]
    return [words[0], "--dry-run", *words[1:]]


def test_section_is_found_and_parsed():
    files, commands = section_blocks(readme_section((REPO / "README.md").read_text(encoding="utf-8"), SECTION))
    assert list(files) == ["my_cohort.yaml"]
    assert len(commands) >= 3
    assert any(command.startswith("make run ") for command in commands)
    assert any(command.startswith(".venv/bin/snakemake ") for command in commands)
    assert [command_targets(shlex.split(c)) for c in commands].count([]) >= 1
    # the parser sees a target after --configfile when there is one (the documented mistake this guards)
    assert command_targets(shlex.split("snakemake -c 1 --configfile a.yaml results/x.csv")) == ["results/x.csv"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    stamp = subprocess.run(["make", "--question", ".venv/.installed"], cwd=root, capture_output=True, text=True)
    assert stamp.returncode == 0, ".venv is older than requirements.lock or pyproject.toml: run `make test` (it updates .venv first)"
    return root


def test_readme_commands_run_as_written(scratch):
    files, commands = section_blocks(readme_section((REPO / "README.md").read_text(encoding="utf-8"), SECTION))
    config = yaml.safe_load(files["my_cohort.yaml"])
    (cohort_name,) = config["cohorts"]
    write_native(make_small_cohort(n_per_arm=6), scratch / "input")
    config["cohorts"][cohort_name]["path"] = str(scratch / "input")
    (scratch / "my_cohort.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    built = {}
    for command in commands:
        words = shlex.split(command)
        targets = command_targets(words)
        for target in targets:
            if target not in built:
                (scratch / target).unlink(missing_ok=True)
        process = subprocess.run(
            words if targets else as_dry_run(words), cwd=scratch, capture_output=True, text=True, timeout=300,
        )
        assert process.returncode == 0, f"{command}\n{process.stdout[-2000:]}\n{process.stderr[-3000:]}"
        for target in targets:
            assert target.startswith((f"results/{cohort_name}/", f"reports/{cohort_name}/")), target
            content = (scratch / target).read_bytes()
            assert content, f"{command}: {target} is empty"
            assert built.setdefault(target, content) == content, f"{command} rebuilt {target} differently"
    assert built, "no README command names a target"
    assert not (scratch / "results" / "paper_sim").exists(), "a targeted command built the default cohort too"
