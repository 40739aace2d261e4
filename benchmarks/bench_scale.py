"""Measure every non-Bayesian rule of the DAG at several multiples of the trial's size.

For each scale factor a simulated cohort (``format: simulated``) is declared with paper_sim's seed,
judges and messages per conversation and every arm size and first-scenario count multiplied by the
factor; Snakemake then builds `rule all` for that cohort alone in a temporary folder with the
Bayesian fits and everything downstream of them left out (``--omit-from fit_bayes_ordinal
fit_bayes_composite``). Each rule's wall time, peak resident memory and CPU time are read from the
`benchmark:` file Snakemake writes for it (``logs/<rule>/<cohort>.benchmark.tsv``).

    .venv/bin/python benchmarks/bench_scale.py --scales 1 3 10                 # measure, append to the CSV
    .venv/bin/python benchmarks/bench_scale.py --report-only                   # table, slopes and plot from the CSV

Measurements accumulate in ``benchmarks/results/scale.csv`` (one row per rule, scale and run; a
rerun of a scale replaces that scale's rows). The report (a Markdown table of wall seconds and peak
RSS per rule and scale, the log-log slope of wall time against the number of participants between
10x and 100x (the target's span; else the two largest measured scales), and the whole run's wall time) replaces the text
between the scale markers of ``docs/performance.md``; the plot goes to ``docs/figures/scale.png``.
Nothing is asserted: wall times depend on the load of this shared machine, which is recorded.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "scale.csv"
DOC = REPO / "docs" / "performance.md"
FIGURE = REPO / "docs" / "figures" / "scale.png"
START_MARKER = "<!-- scale-table:start (benchmarks/bench_scale.py --report-only writes this) -->"
END_MARKER = "<!-- scale-table:end -->"
BAYESIAN_FITS = ("fit_bayes_ordinal", "fit_bayes_composite")
COLUMNS = [
    "scale", "participants", "conversations", "rule", "wall_s", "max_rss_mb", "cpu_s", "run_wall_s", "load_before",
    "load_after", "measured_at",
]


def scaled_simulation(scale: int) -> dict:
    """paper_sim's simulation block with every arm size and first-scenario count times ``scale``."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    simulation = dict(config["cohorts"]["paper_sim"]["simulation"])
    simulation["arm_sizes"] = {arm: scale * size for arm, size in simulation["arm_sizes"].items()}
    simulation["first_scenario_counts"] = {name: scale * count for name, count in simulation["first_scenario_counts"].items()}
    return simulation


def run_scale(scale: int, cores: int, keep: Path | None, omit: tuple[str, ...] = ()) -> pd.DataFrame:
    """Build the non-Bayesian DAG for one scaled cohort; one row per rule from its benchmark file."""
    cohort = f"scale{scale}x"
    simulation = scaled_simulation(scale)
    with tempfile.TemporaryDirectory(prefix=f"bench_scale_{scale}x_") as directory:
        workdir = keep / cohort if keep else Path(directory)
        workdir.mkdir(parents=True, exist_ok=True)
        overlay = workdir / "overlay.yaml"
        overlay.write_text(
            yaml.safe_dump(
                {"prereg": str(REPO / "config" / "prereg.yaml"), "cohorts": {cohort: {"format": "simulated", "simulation": simulation}}}
            ),
            encoding="utf-8",
        )
        command = [
            sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(overlay), "--cores", str(cores), "--omit-from", *BAYESIAN_FITS, *omit, "--quiet", "rules",
        ]
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        process = subprocess.run(command, capture_output=True, text=True)
        run_wall = time.perf_counter() - start
        load_after = os.getloadavg()[0]
        if process.returncode != 0:
            raise RuntimeError(f"snakemake failed at {scale}x (workdir {workdir}):\n{process.stderr[-4000:]}")
        rows = []
        for path in sorted((workdir / "logs").glob(f"*/{cohort}.benchmark.tsv")):
            measured = pd.read_csv(path, sep="\t")
            rows.append(
                {
                    "rule": path.parent.name, "wall_s": float(measured["s"].iloc[0]),
                    "max_rss_mb": float(pd.to_numeric(measured["max_rss"], errors="coerce").iloc[0]),
                    "cpu_s": float(pd.to_numeric(measured["cpu_time"], errors="coerce").iloc[0]),
                }
            )
        if not rows:
            raise RuntimeError(f"no benchmark files under {workdir / 'logs'}: do the rules declare `benchmark:`?")
    table = pd.DataFrame(rows)
    table.insert(0, "scale", scale)
    table.insert(1, "participants", sum(simulation["arm_sizes"].values()))
    table.insert(2, "conversations", 3 * sum(simulation["arm_sizes"].values()))
    table["run_wall_s"] = run_wall
    table["load_before"], table["load_after"] = load_before, load_after
    table["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return table[COLUMNS]


def slope_span(measurements: pd.DataFrame) -> tuple[int, int] | None:
    """The two scales a slope spans: 10x and 100x (the target's span) when both are measured, else the two largest."""
    measured = sorted(measurements["scale"].unique())
    if {10, 100} <= set(measured):
        return 10, 100
    return (measured[-2], measured[-1]) if len(measured) >= 2 else None


def slopes(measurements: pd.DataFrame, value: str = "wall_s") -> pd.Series:
    """Per rule, the log-log slope of ``value`` against participants across :func:`slope_span`."""
    span = slope_span(measurements)
    if span is None:
        return pd.Series(dtype=float)
    low, high = span
    wide = measurements.pivot_table(index="rule", columns="scale", values=value)
    participants = measurements.groupby("scale")["participants"].first()
    return np.log(wide[high] / wide[low]) / np.log(participants[high] / participants[low])


def report(measurements: pd.DataFrame) -> str:
    """The Markdown table of the scale section."""
    scales = sorted(measurements["scale"].unique())
    wall = measurements.pivot_table(index="rule", columns="scale", values="wall_s")
    rss = measurements.pivot_table(index="rule", columns="scale", values="max_rss_mb")
    cpu = measurements.pivot_table(index="rule", columns="scale", values="cpu_s")
    slope, cpu_slope = slopes(measurements), slopes(measurements, "cpu_s")
    span = "{}x->{}x".format(*slope_span(measurements)) if len(scales) >= 2 else "(needs two scales)"
    order = wall[scales[-1]].sort_values(ascending=False).index
    header = ["rule", *[f"{scale}x: wall s (CPU s) / MB" for scale in scales], f"slope wall / CPU {span}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rule in order:
        cells = [
            "-" if pd.isna(wall.loc[rule, scale])
            else f"{wall.loc[rule, scale]:.1f} ({cpu.loc[rule, scale]:.1f}) / {rss.loc[rule, scale]:.0f}"
            for scale in scales
        ]
        shown = [f"{value:.2f}" if np.isfinite(value) else "-" for value in (slope.get(rule, np.nan), cpu_slope.get(rule, np.nan))]
        lines.append(f"| `{rule}` | " + " | ".join(cells) + f" | {shown[0]} / {shown[1]} |")
    runs = measurements.groupby("scale").agg(
        participants=("participants", "first"), run_wall_s=("run_wall_s", "first"), rules=("rule", "size"),
        sum_wall_s=("wall_s", "sum"), sum_cpu_s=("cpu_s", "sum"), max_rss_mb=("max_rss_mb", "max"), load_before=("load_before", "first"),
        load_after=("load_after", "first"), measured_at=("measured_at", "first"),
    )
    lines += ["", "| scale | participants | jobs | whole run wall s | sum of rule wall s (CPU s) | largest peak RSS MB | load before / after | measured (UTC) |",
              "|---|---|---|---|---|---|---|---|"]
    for scale, row in runs.iterrows():
        lines.append(
            f"| {scale}x | {row.participants:,} | {row.rules} | {row.run_wall_s:.0f} | {row.sum_wall_s:.0f} ({row.sum_cpu_s:.0f}) | {row.max_rss_mb:.0f} | "
            f"{row.load_before:.1f} / {row.load_after:.1f} | {row.measured_at} |"
        )
    return "\n".join(lines)


def plot(measurements: pd.DataFrame, path: Path, top: int = 8) -> None:
    """Wall time against participants (log-log) for the slowest rules at the largest scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wall = measurements.pivot_table(index="rule", columns="participants", values="wall_s")
    largest = wall.columns.max()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for rule in wall[largest].sort_values(ascending=False).index[:top]:
        axis.plot(wall.columns, wall.loc[rule], marker="o", label=rule)
    reference = wall.columns.to_numpy(dtype=float)
    axis.plot(reference, wall[largest].max() * reference / largest, "k:", label="slope 1")
    axis.set(xscale="log", yscale="log", xlabel="participants", ylabel="rule wall time (s)",
             title="Non-Bayesian rules by cohort size (simulated cohorts)")
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(figure)


def write_docs(text: str) -> None:
    """Replace the text between the scale markers of docs/performance.md."""
    document = DOC.read_text(encoding="utf-8")
    if START_MARKER not in document or END_MARKER not in document:
        raise RuntimeError(f"{DOC} lacks the scale markers {START_MARKER!r} ... {END_MARKER!r}")
    before, rest = document.split(START_MARKER, 1)
    _, after = rest.split(END_MARKER, 1)
    DOC.write_text(before + START_MARKER + "\n" + text + "\n" + END_MARKER + after, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="*", default=[1, 3, 10, 30, 100], help="multiples of the trial to run")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    parser.add_argument("--keep", type=Path, default=None, help="keep each run's folder under this directory")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the table, slopes and plot from the CSV")
    parser.add_argument("--omit", nargs="*", default=[], help="further rules to leave out (with everything downstream)")
    arguments = parser.parse_args()

    if not arguments.report_only:
        for scale in arguments.scales:
            table = run_scale(scale, arguments.cores, arguments.keep, tuple(arguments.omit))
            previous = pd.read_csv(RESULTS) if RESULTS.exists() else pd.DataFrame(columns=COLUMNS)
            combined = pd.concat([previous[previous["scale"] != scale], table], ignore_index=True)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            combined.sort_values(["scale", "rule"]).to_csv(RESULTS, index=False)
            print(f"{scale}x: {table['run_wall_s'].iloc[0]:.0f} s, {len(table)} rules ({platform.node()})", flush=True)
    measurements = pd.read_csv(RESULTS)
    text = report(measurements)
    print(text)
    plot(measurements, FIGURE)
    write_docs(text)


if __name__ == "__main__":
    main()
