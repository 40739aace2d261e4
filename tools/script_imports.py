"""Start-up cost of each rule script: the time its module-level imports take, and which heavy packages they load.

Snakemake runs a ``script:`` in a fresh Python process, so every rule pays for its script's imports. This
tool reads the top-level ``import`` statements of each ``workflow/scripts/*.py`` (the ``snakemake`` object
is injected at run time and is left out), runs them in a fresh interpreter under ``python -X importtime``
``--repeat`` times, and prints one row per script: the lowest wall time of the imports (summed over the
top-level imports, as ``-X importtime`` reports them), the lowest CPU time (user + sys) of that interpreter
(less sensitive to other jobs on the machine), and the heavy packages that ended up in ``sys.modules``.
An empty interpreter's times are subtracted.

Usage::

    .venv/bin/python tools/script_imports.py [--repeat 3] [--scripts workflow/scripts] [--csv out.csv] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import ast
import csv
import re
import resource
import subprocess
import sys
from pathlib import Path

__all__ = ["HEAVY", "script_imports", "measure"]

# Packages whose import costs more than about 0.2 s each on a 2-core machine.
HEAVY = ("matplotlib", "pymc", "pytensor", "arviz", "sklearn", "choix", "pingouin", "statsmodels", "scipy", "nutpie", "jinja2")
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def script_imports(path: Path) -> str:
    """The module-level import statements of ``path`` as source text (``snakemake`` imports left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if module and module.split(".")[0] == "snakemake":
                continue
            lines.append(ast.unparse(node))
    return "\n".join(lines)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(code: str, repeat: int) -> tuple[float, float, list[str]]:
    """Lowest import wall time and lowest interpreter CPU time (s) of ``code`` over ``repeat`` fresh interpreters,
    and the heavy packages loaded."""
    probe = code + "\nimport sys\nprint(','.join(sorted(p for p in " + repr(HEAVY) + " if p in sys.modules)))"
    best, best_cpu, heavy = float("inf"), float("inf"), []
    for _ in range(repeat):
        before = _children_cpu()
        process = subprocess.run([sys.executable, "-X", "importtime", "-c", probe], capture_output=True, text=True, check=True)
        best_cpu = min(best_cpu, _children_cpu() - before)
        total = 0
        for line in process.stderr.splitlines():
            match = _LINE.match(line)
            # depth-0 rows are the imports the statement itself triggered; their cumulative times add up to the total
            if match and match.group(3) == " ":
                total += int(match.group(2))
        best = min(best, total / 1e6)
        heavy = [name for name in process.stdout.strip().split(",") if name]
    return best, best_cpu, heavy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", default="workflow/scripts", type=Path)
    parser.add_argument("--repeat", default=3, type=int)
    parser.add_argument("--csv", type=Path, help="also write the rows here")
    parser.add_argument("--only", nargs="+", help="measure these scripts only (names without .py)")
    arguments = parser.parse_args(argv)
    rows = []
    baseline, baseline_cpu, _ = measure("", arguments.repeat)
    print(f"{'script':34s} {'wall':>7s} {'cpu':>7s}  heavy packages loaded")
    for path in sorted(arguments.scripts.glob("*.py")):
        if arguments.only and path.stem not in arguments.only:
            continue
        seconds, cpu, heavy = measure(script_imports(path), arguments.repeat)
        row = {"script": path.stem, "import_seconds": round(seconds - baseline, 3), "cpu_seconds": round(cpu - baseline_cpu, 3),
               "heavy": " ".join(heavy)}
        rows.append(row)
        print(f"{path.stem:34s} {row['import_seconds']:6.2f}s {row['cpu_seconds']:6.2f}s  {row['heavy']}", flush=True)
    print(f"{'TOTAL (one run of each script)':34s} {sum(r['import_seconds'] for r in rows):6.2f}s {sum(r['cpu_seconds'] for r in rows):6.2f}s")
    if arguments.csv:
        with arguments.csv.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=["script", "import_seconds", "cpu_seconds", "heavy"])
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
