"""Code inputs: every rule declares its script, the analysis modules the script imports (directly or
through other modules) and the reference files those modules read, so that an edit reruns it.

The declared inputs come from :class:`analysis.runtime.code_inputs.ImportGraph` (source, :mod:`ast`). They are
checked here against a second formulation (the standard library's :mod:`modulefinder`, which reads
bytecode), and against Snakemake's own DAG, built from the repository's Snakefile with every rule in it.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from modulefinder import ModuleFinder
from pathlib import Path

import pytest
import yaml

from analysis.runtime.code_inputs import ImportGraph, ImportResolutionError
from tests.conftest import REPO

PACKAGE = REPO / "analysis"
SCRIPTS = REPO / "workflow" / "scripts"
DATA_DIRS = (PACKAGE / "reference", REPO / "workflow" / "schemas")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def toy(tmp_path) -> Path:
    """A package `pkg` with a subpackage, relative imports, a cycle, a lazy import and data files."""
    write(tmp_path, {
        "pkg/__init__.py": '"""Toy package."""\n',
        "pkg/base.py": "import os\nimport numpy\n",
        "pkg/a.py": "from pkg.base import thing\nfrom . import b\n",
        "pkg/b.py": "from .a import something\n",  # a <-> b: a cycle
        "pkg/lazy.py": "def f():\n    from pkg.sub.deep import g\n    return g\n",
        "pkg/reads.py": '"""Reads nothing named in this docstring: table.csv."""\nPATH = DIR / "table.csv"\n',
        "pkg/mentions.py": '"""Mentions table.csv and other.yaml only in docstrings."""\ndef f():\n    """other.yaml"""\n',
        "pkg/sub/__init__.py": "from ..base import x\n",
        "pkg/sub/deep.py": "from .. import reads\nfrom pkg.sub import other\n",
        "pkg/sub/other.py": "SCHEMA = 'schemas/other.yaml'\n",
        "data/table.csv": "a\n1\n",
        "schemas/other.yaml": "{}\n",
        "schemas/unused.yaml": "{}\n",
        "scripts/s_a.py": "from snakemake.script import snakemake\nfrom pkg.a import run\n",
        "scripts/s_lazy.py": "import pkg.lazy as lazy\n",
        "scripts/s_mentions.py": "from pkg import mentions, base\n",
        "scripts/s_none.py": "import pandas\n",
        "scripts/s_missing.py": "import os\n\nfrom pkg.nowhere import f\n",
        "scripts/s_relative.py": "from .helper import f\n",
    })
    return tmp_path


def relative(paths: list[Path], root: Path) -> list[str]:
    return [str(path.relative_to(root)) for path in paths]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # from pkg.base (parents: pkg), `from . import b` in pkg.a is the submodule pkg.b, which imports pkg.a back
        ("s_a", ["scripts/s_a.py", "pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/base.py"]),
        # import inside a function; a subpackage's __init__ runs (and imports base); `from .. import reads`;
        # `from pkg.sub import other` names a submodule; the reads' path literal and other's schema literal
        ("s_lazy", ["scripts/s_lazy.py", "pkg/__init__.py", "pkg/base.py", "pkg/lazy.py", "pkg/reads.py",
                    "pkg/sub/__init__.py", "pkg/sub/deep.py", "pkg/sub/other.py", "data/table.csv", "schemas/other.yaml"]),
        # `from pkg import mentions, base`: both submodules; names in docstrings are not reads
        ("s_mentions", ["scripts/s_mentions.py", "pkg/__init__.py", "pkg/base.py", "pkg/mentions.py"]),
        ("s_none", ["scripts/s_none.py"]),
    ],
)
def test_closure_follows_every_import_form(toy, script, expected):
    graph = ImportGraph(toy / "pkg", data_dirs=[toy / "data", toy / "schemas"])
    assert relative(graph.closure(toy / "scripts" / f"{script}.py"), toy) == expected


def test_closure_of_a_module_starts_with_it(toy):
    graph = ImportGraph(toy / "pkg")
    assert relative(graph.closure(toy / "pkg" / "b.py"), toy) == ["pkg/b.py", "pkg/__init__.py", "pkg/a.py", "pkg/base.py"]


def test_unresolvable_imports_are_errors_naming_file_and_line(toy):
    graph = ImportGraph(toy / "pkg")
    with pytest.raises(ImportResolutionError, match=r"s_missing\.py, line 3: imports pkg\.nowhere, which is not a module"):
        graph.closure(toy / "scripts" / "s_missing.py")
    with pytest.raises(ImportResolutionError, match=r"s_relative\.py, line 1: relative import outside the package pkg"):
        graph.closure(toy / "scripts" / "s_relative.py")
    with pytest.raises(ImportResolutionError, match="no such script"):
        graph.closure(toy / "scripts" / "absent.py")
    with pytest.raises(ImportResolutionError, match="has no __init__.py"):
        ImportGraph(toy / "data")


def test_each_file_is_parsed_once(toy, monkeypatch):
    graph = ImportGraph(toy / "pkg")
    parsed = []
    original = graph._parse
    monkeypatch.setattr(graph, "_parse", lambda path, source: parsed.append(path) or original(path, source))
    graph.closure(toy / "scripts" / "s_a.py")
    graph.closure(toy / "scripts" / "s_lazy.py")
    # s_a: itself, pkg/__init__, a, b, base; s_lazy adds itself, lazy, sub/__init__, deep, reads, other
    assert len(parsed) == len(set(parsed)) == 11


def test_a_cache_file_serves_the_next_graph_while_the_texts_and_the_layout_stay(toy, monkeypatch):
    cache = toy / "cache" / "code_inputs.json"
    scripts = [toy / "scripts" / f"{name}.py" for name in ("s_a", "s_lazy", "s_mentions", "s_none")]

    def uncached():
        graph = ImportGraph(toy / "pkg", data_dirs=[toy / "data", toy / "schemas"])
        return [graph.closure(script) for script in scripts]

    def cached():
        """Closures of a graph with the cache file, and the files it had to parse."""
        graph = ImportGraph(toy / "pkg", data_dirs=[toy / "data", toy / "schemas"], cache_file=cache)
        parsed = []
        original = graph._parse
        monkeypatch.setattr(graph, "_parse", lambda path, source: parsed.append(str(path.relative_to(toy))) or original(path, source))
        closures = [graph.closure(script) for script in scripts]
        graph.save()
        return closures, parsed

    closures, parsed = cached()
    # s_a 5 files, s_lazy 6 more, s_mentions 2 more, s_none 1
    assert closures == uncached() and len(parsed) == len(set(parsed)) == 14 and cache.is_file()
    closures, parsed = cached()
    assert closures == uncached() and parsed == []
    # an edited module is parsed again, and what it imports now is followed
    (toy / "pkg" / "base.py").write_text("from pkg.sub import other\n", encoding="utf-8")
    closures, parsed = cached()
    assert parsed == ["pkg/base.py"] and closures == uncached() and toy / "pkg" / "sub" / "other.py" in closures[0]
    # a new module may change what `from pkg import name` reads: the cache is dropped whole
    (toy / "pkg" / "extra.py").write_text("", encoding="utf-8")
    closures, parsed = cached()
    assert closures == uncached() and len(parsed) == 14
    # a damaged cache is ignored (and replaced)
    cache.write_text("{not json", encoding="utf-8")
    closures, parsed = cached()
    assert closures == uncached() and len(parsed) == 14
    assert cached()[1] == []


# Second formulation: the standard library's modulefinder, which reads the compiled bytecode of a script
# (nested code objects included, so imports inside functions count) and follows every import it can find
# on its search path. With the repository alone on that path it follows the analysis package and stops at
# every other package.


@pytest.fixture(scope="module")
def finder_imports() -> dict[str, set[str]]:
    """Script name -> the analysis module files modulefinder reaches from it."""
    found = {}
    for script in sorted(SCRIPTS.glob("*.py")):
        finder = ModuleFinder(path=[str(REPO)])
        finder.run_script(str(script))
        found[script.stem] = {
            str(Path(module.__file__).resolve()) for name, module in finder.modules.items() if name.split(".")[0] == "analysis"
        }
    return found


def files_named(modules: set[str]) -> set[str]:
    """Second formulation of the data files a set of modules reads: every reference or schema file
    whose name occurs in the module's source text."""
    files = [path for folder in DATA_DIRS for path in folder.iterdir() if path.is_file()]
    return {str(file) for module in modules for file in files if file.name in Path(module).read_text(encoding="utf-8")}


def test_static_graph_equals_modulefinder(finder_imports):
    graph = ImportGraph(PACKAGE, data_dirs=DATA_DIRS)
    for script, found in finder_imports.items():
        closure = graph.closure(SCRIPTS / f"{script}.py")
        modules = {str(path) for path in closure if path.suffix == ".py"} - {str(SCRIPTS / f"{script}.py")}
        assert found, f"{script}: modulefinder found no analysis module (every script calls one)"
        assert modules == found, f"{script}: graph only {sorted(modules - found)}, modulefinder only {sorted(found - modules)}"
        data = {str(path) for path in closure if path.suffix != ".py"}
        assert data == files_named(found), f"{script}: data files {sorted(data ^ files_named(found))}"


# The DAG check: Snakemake builds the repository's DAG (forced, in a temporary folder) for a config
# holding a cohort of every format, and every job's inputs must hold its rule's script, the analysis
# modules the script loads and the data files they name.


TARGETS = {
    "reports/sim/report.html", "reports/native/report.html", "reports/pilot/report.html",
    "results/release/release/published_vs_reproduced.csv",
}


def dag_jobs(workdir: Path) -> list[tuple[str, str, set[str], str]]:
    """(rule, script path, input paths, benchmark file) of every job of a forced DAG that holds every rule,
    from Snakemake's API (the DAG of a dry run); the rule's script is resolved against its .smk file.

    The targets are the reports of a simulated, a native and a pilot cohort (a report needs all of its
    cohort's outputs; the native cohort's themes have a parent level, which adds the level-2 change rule)
    and the published-versus-reproduced table of a paper_release cohort; not `rule all`, whose inputs wait
    for the paper_release import checkpoint in a dry run."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
        StorageSettings,
    )

    native = workdir / "native"
    native.mkdir()
    for name in ("participants", "conversations", "messages", "scores"):
        (native / f"{name}.csv").touch()  # a dry run reads no input
    (native / "themes.csv").write_text("conversation_id,turn,theme,category,theme_level2\n")
    key = workdir.parent / f"{workdir.name}.key"  # outside the run's folder and the repository
    key.write_text("0f" * 32)
    overlay = workdir / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "prereg": str(REPO / "config" / "prereg.yaml"),
        "cohorts": {
            "sim": {"format": "simulated", "simulation": {"seed": 1, "arm_sizes": {arm: 5 for arm in ("control", "video", "coach", "combined")}}},
            "release": {"format": "paper_release"},
            # pseudonymised: its themes.csv goes through pseudonymise_cohort_file
            "native": {"format": "native", "path": str(native), "pseudonymise_ids": {"key_file": str(key)}},
            # no local copy, and a download URL that refuses at once: the pilot comes from download_pilot_release
            "pilot": {"format": "pilot_release", "path": str(workdir / "absent"), "download_url": "http://127.0.0.1:9/"},
        },
    }))
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1), config_settings=ConfigSettings(configfiles=[overlay]),
            storage_settings=StorageSettings(), workdir=workdir, snakefile=REPO / "Snakefile",
        )
        dag_api = workflow_api.dag(DAGSettings(targets=TARGETS, forceall=True))
        with contextlib.redirect_stdout(io.StringIO()):
            dag_api.summary(detailed=True)  # builds the DAG
        # the built DAG's jobs are not part of the public API; the pinned Snakemake (requirements.lock) has them here
        workflow = workflow_api._workflow
        jobs = [
            (
                job.rule.name,
                str((Path(job.rule.basedir) / job.rule.script).resolve()),
                {str(Path(workdir, file).resolve()) for file in job.input},
                str(job.benchmark or ""),
            )
            for job in workflow.dag.jobs
            if job.rule.script
        ]
        scripted_rules = {rule.name for rule in workflow.rules if rule.script}
    assert {job[0] for job in jobs} == scripted_rules, f"not in the DAG: {sorted(scripted_rules - {job[0] for job in jobs})}"
    return jobs


def missing_code_inputs(jobs, finder_imports) -> list[str]:
    """One line per job input that is missing: a rule's script, a module it loads, a data file those name."""
    problems = []
    for rule, script, inputs, _ in jobs:
        loaded = finder_imports[Path(script).stem]
        for needed in sorted({script} | loaded | files_named(loaded)):
            if needed not in inputs:
                problems.append(f"{rule}: {Path(needed).relative_to(REPO)} is not an input")
    return sorted(set(problems))


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    return dag_jobs(tmp_path_factory.mktemp("dag"))


@pytest.mark.e2e
def test_every_rule_declares_the_code_it_runs(jobs, finder_imports):
    assert len({job[0] for job in jobs}) >= 47
    assert missing_code_inputs(jobs, finder_imports) == []


@pytest.mark.e2e
def test_a_missing_module_is_caught(jobs, finder_imports):
    """The check above can fail: drop one module (and the script) from one job's inputs."""
    rule, script, inputs, benchmark = next(job for job in jobs if job[0] == "fit_primary_did")
    outcomes = str(PACKAGE / "cohorts" / "outcomes.py")
    broken = [(rule, script, inputs - {outcomes, script}, benchmark)]
    assert missing_code_inputs(broken, finder_imports) == [
        "fit_primary_did: analysis/cohorts/outcomes.py is not an input",
        "fit_primary_did: workflow/scripts/fit_primary_did.py is not an input",
    ]


@pytest.mark.e2e
def test_every_rule_records_a_benchmark(jobs):
    """Every step writes its wall time and peak memory beside its log: `logs/<rule>/<wildcards>.benchmark.tsv`."""
    wrong = [(rule, benchmark) for rule, _, _, benchmark in jobs
             if not (benchmark.startswith(f"logs/{rule}/") and benchmark.endswith(".benchmark.tsv"))]
    assert wrong == []
