"""Heavy packages are imported only where they are used.

Every rule runs its script in a fresh Python process, so a statistics rule that imported matplotlib or
PyMC at start-up would pay for it on every run (and so would the tests running those rules). Plotting
functions import matplotlib themselves; only :mod:`analysis.models.bayes` may load the PyMC stack.
"""

from __future__ import annotations

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
