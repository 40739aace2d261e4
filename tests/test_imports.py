"""Heavy packages are imported only where they are used.

Every rule runs its script in a fresh Python process, so a statistics rule that imported matplotlib or
PyMC at start-up would pay for it on every run (and so would the tests running those rules). Plotting
functions import matplotlib themselves; only :mod:`analysis.models.bayes` may load the PyMC stack.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys

import analysis
from tests.conftest import REPO

HEAVY = ("matplotlib", "seaborn", "pingouin", "pymc", "pytensor", "arviz", "nutpie")
# analysis.models.bayes builds and fits the PyMC models (and ArviZ imports matplotlib): it is the one module left out.
SAMPLING_MODULE = "analysis.models.bayes"

PROBE = """
import importlib, json, sys
heavy, found = {heavy!r}, {{}}
for name in {modules!r}:
    before = {{h for h in heavy if h in sys.modules}}
    importlib.import_module(name)
    found[name] = sorted({{h for h in heavy if h in sys.modules}} - before)
print(json.dumps(found))
"""


def test_analysis_modules_import_no_plotting_or_sampling_stack_at_import_time():
    modules = sorted(info.name for info in pkgutil.walk_packages(analysis.__path__, "analysis.") if info.name != SAMPLING_MODULE)
    assert {"analysis.render.figures", "analysis.render.bayes", "analysis.models.did", "analysis.secondary.agreement"} <= set(modules)
    process = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, modules=modules)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert process.returncode == 0, process.stderr[-3000:]
    found = json.loads(process.stdout)
    offenders = {name: loaded for name, loaded in found.items() if loaded}
    assert offenders == {}, f"modules importing heavy packages at import time (move the import into the function using it): {offenders}"


# --- static scan of the package's sources (function bodies included) ---------------------------------

PACKAGE_DIR = REPO / "analysis"
PLOTTING = {"matplotlib", "seaborn"}
RENDER_PACKAGE = "analysis.render"


def _module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _package_sources():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield _module_name(path), path.name == "__init__.py", ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_only_the_render_package_imports_matplotlib_or_seaborn():
    """pingouin imports matplotlib itself when loaded; that is allowed where pingouin is used."""
    offenders = []
    for module, is_package, tree in _package_sources():
        if module == RENDER_PACKAGE or module.startswith(RENDER_PACKAGE + "."):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [_absolute(module, node, is_package)]
            else:
                continue
            offenders += [f"{module}:{node.lineno} {name}" for name in names if name.split(".")[0] in PLOTTING]
    assert offenders == [], f"plotting imports outside {RENDER_PACKAGE} (move the drawing code there): {offenders}"


def test_no_module_uses_a_private_name_of_another_analysis_module():
    offenders = []
    for module, is_package, tree in _package_sources():
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "analysis":
                        if alias.asname:
                            aliases[alias.asname] = alias.name
                        else:
                            aliases.setdefault("analysis", "analysis")
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, node, is_package)
                if source.split(".")[0] != "analysis":
                    continue
                for alias in node.names:
                    if _is_private(alias.name) and source != module:
                        offenders.append(f"{module}:{node.lineno} from {source} import {alias.name}")
                    elif _is_module(f"{source}.{alias.name}"):
                        aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
                continue
            chain, value = [], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                target = ".".join([aliases[value.id], *reversed(chain)])
                if target != module:
                    offenders.append(f"{module}:{node.lineno} {target}.{node.attr}")
    assert offenders == [], f"private names used across modules (make them public or keep them in their module): {offenders}"


def test_only_the_report_builds_on_the_render_package():
    """Layering: statistics, cohorts and planning never import rendering; the report (top level) may."""
    allowed = {RENDER_PACKAGE, "analysis.report"}
    offenders = []
    for module, is_package, tree in _package_sources():
        if module in allowed or module.startswith(RENDER_PACKAGE + "."):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, node, is_package)
                names = [source, *(f"{source}.{alias.name}" for alias in node.names)]
            else:
                continue
            if any(name == RENDER_PACKAGE or name.startswith(RENDER_PACKAGE + ".") for name in names):
                offenders.append(f"{module}:{node.lineno}")
    assert offenders == [], f"modules importing {RENDER_PACKAGE} (only the report may): {offenders}"
