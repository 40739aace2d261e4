"""Benchmark the registered Bayesian step on the default cohort (paper_sim), optionally against brms.

What is measured (wall-clock; nothing here is asserted):

* ``rule`` (default): Snakemake runs ``fit_bayes_ordinal`` and ``fit_bayes_composite`` on paper_sim in
  a temporary folder with the registered plan; reported are the rules' wall times (Snakemake
  ``benchmark:`` files: Python start-up, imports, compilation, sampling, posterior predictive draws,
  derived quantities, diagnostics, writing the .nc file), the compile and sampling seconds recorded
  in the InferenceData, the diagnostics of every registered quantity and the ESS per second of the
  slowest one.
* ``inprocess``: the same fit in this process (``analysis.models.bayes.fit_ordinal_model``), with optional
  sampler overrides, e.g. ``--sampler '{"engine": "pymc", "draws": 300, "tune": 300}'`` to time
  PyMC's own NUTS.
* ``--brms``: ``benchmarks/bench_brms_ordinal.R`` (R's brms, rstan) on the same conversation scores.
* ``--scale K`` (rule mode): the same rules on paper_sim with every arm and every first-scenario count
  multiplied by K (the simulator's calibration is unchanged), with each rule's peak memory (max RSS).

Usage::

    .venv/bin/python benchmarks/bench_bayes.py                       # the registered rules
    .venv/bin/python benchmarks/bench_bayes.py --scale 3             # the same at 3x the trial
    .venv/bin/python benchmarks/bench_bayes.py --mode inprocess --sampler '{"engine": "pymc"}'
    .venv/bin/python benchmarks/bench_bayes.py --brms --brms-chains 2 --brms-iter 600 --brms-warmup 300

Prints Markdown to paste into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis.cohorts.native import write_csv  # noqa: E402
from analysis.cohorts.outcomes import derive_outcomes  # noqa: E402
from analysis.models.bayes import Gates, Sampler, fit_ordinal_model  # noqa: E402
from analysis.prereg.plan import load_prereg  # noqa: E402
from analysis.simulate.cohort import simulate_cohort  # noqa: E402


def paper_sim_outcomes(plan: dict) -> pd.DataFrame:
    """The default cohort's conversation-level outcomes, built by the pipeline's own functions."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    simulation = config["cohorts"]["paper_sim"]["simulation"]
    cohort = simulate_cohort(
        arm_sizes=simulation["arm_sizes"], seed=simulation["seed"], judges=simulation["judges"],
        first_scenario_counts=simulation["first_scenario_counts"],
        messages_per_conversation=simulation["messages_per_conversation"],
    )
    return derive_outcomes(
        cohort.participants, cohort.conversations, cohort.scores, cohort.conversations, plan["outcomes"]["dimensions"],
        plan["outcomes"]["composite"], plan["judge_aggregation"], plan["design"]["post_conversations"],
    )


def summarise(diagnostics: pd.DataFrame, seconds: float, sampling: float) -> dict:
    """Worst gated element, and the slowest element of all reported ones (correlations included, the
    set brms is compared on) with its ESS per second of sampling and of the whole step."""
    gated = diagnostics[diagnostics["gated"]]
    worst = diagnostics.sort_values("ess_bulk").iloc[0]
    return {
        "gated_min_ess_bulk": float(gated["ess_bulk"].min()),
        "gated_min_ess_tail": float(gated["ess_tail"].min()),
        "gated_max_r_hat": float(gated["r_hat"].max()),
        "failing": int((~gated["passed"]).sum()),
        "divergences": int(diagnostics["divergences"].iloc[0]),
        "min_ess_bulk": float(worst["ess_bulk"]),
        "slowest": worst["parameter"],
        "max_r_hat": float(diagnostics["r_hat"].max()),
        "ess_per_second_sampling": float(worst["ess_bulk"]) / sampling,
        "ess_per_second_total": float(worst["ess_bulk"]) / seconds,
    }


def scaled_paper_sim(scale: int) -> dict:
    """The default config's paper_sim cohort with every arm size and first-scenario count times ``scale``."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    cohort = config["cohorts"]["paper_sim"]
    simulation = cohort["simulation"]
    for key in ("arm_sizes", "first_scenario_counts"):
        simulation[key] = {name: count * scale for name, count in simulation[key].items()}
    return {"paper_sim": cohort}


def run_rules(workdir: Path, scale: int = 1) -> list[dict]:
    overlay = workdir / "overlay.yaml"
    settings = {"prereg": str(REPO / "config" / "prereg.yaml")}
    if scale != 1:
        settings["cohorts"] = scaled_paper_sim(scale)
    overlay.write_text(yaml.safe_dump(settings), encoding="utf-8")
    options = [
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(REPO / "config" / "config.yaml"), str(overlay), "--cores", "2", "--quiet",
    ]
    command = [sys.executable, "-m", "snakemake"]
    subprocess.run([*command, "results/paper_sim/outcomes/conversation_scores.csv", *options], check=True, capture_output=True)
    rows = []
    for rule, name in (("fit_bayes_ordinal", "ordinal"), ("fit_bayes_composite", "composite")):
        start = time.perf_counter()
        process = subprocess.run([*command, f"results/paper_sim/bayes/{name}.nc", *options], capture_output=True, text=True)
        outer = time.perf_counter() - start
        if process.returncode != 0:
            print(process.stderr[-3000:], file=sys.stderr)
        diagnostics = pd.read_csv(workdir / f"logs/{rule}/paper_sim.diagnostics.csv")
        benchmark_file = workdir / f"logs/{rule}/paper_sim.benchmark.tsv"  # written only when the rule succeeds
        benchmark = pd.read_csv(benchmark_file, sep="\t").iloc[0] if benchmark_file.is_file() else None
        rule_seconds = float(benchmark["s"]) if benchmark is not None else float("nan")
        max_rss_mb = float(benchmark["max_rss"]) if benchmark is not None else float("nan")
        log = (workdir / f"logs/{rule}/paper_sim.log").read_text(encoding="utf-8")
        timing = [line for line in log.splitlines() if "compiled in" in line][-1]
        compile_seconds = float(timing.split("compiled in ")[1].split(" s")[0])
        sampling_seconds = float(timing.split("sampled in ")[1].split(" s")[0])
        rows.append(
            {"step": rule, "scale": scale, "passed": process.returncode == 0, "rule_seconds": rule_seconds, "max_rss_mb": max_rss_mb,
             "snakemake_seconds": outer,
             "compile_seconds": compile_seconds, "sampling_seconds": sampling_seconds,
             **summarise(diagnostics, outer, sampling_seconds)}
        )
    return rows


# The keywords of fit_ordinal_model that the rule fit_bayes_ordinal takes as they stand in bayesian_models.ordinal.
ORDINAL_SETTINGS = ("priors", "gated", "discretisation", "participant_parameterisation", "posterior_predictive_draws")


def run_inprocess(plan: dict, outcomes: pd.DataFrame, overrides: dict) -> list[dict]:
    bayes = plan["bayesian_models"]
    ordinal = bayes["ordinal"]
    start = time.perf_counter()
    fit = fit_ordinal_model(
        outcomes,
        dimensions=plan["outcomes"]["dimensions"],
        arms=plan["design"]["arms"],
        reference_arm=plan["design"]["reference_arm"],
        **{name: ordinal[name] for name in ORDINAL_SETTINGS},
        sampler=Sampler.from_plan({**bayes["sampler"], **overrides}),
        gates=Gates.from_plan({**bayes["diagnostics"], "policy": "warn"}),
        cores=2,
    )
    seconds = time.perf_counter() - start
    attrs = fit.idata.posterior.attrs
    return [{"step": f"fit_ordinal_model ({json.dumps(overrides) if overrides else 'registered'})", "passed": not fit.problems,
             "rule_seconds": seconds, "compile_seconds": attrs["compile_seconds"], "sampling_seconds": attrs["sampling_seconds"],
             **summarise(fit.diagnostics, seconds, attrs["sampling_seconds"])}]


def boost_shim(workdir: Path) -> dict:
    """Environment for Rscript: Debian's r-cran-bh is virtual (Boost lives in /usr/include) and lacks the
    include/ folder rstan asks BH for; a copy of it with include/ -> /usr/include, first on R_LIBS, fixes that."""
    installed = subprocess.run(["Rscript", "-e", "cat(system.file(package = 'BH'))"], capture_output=True, text=True).stdout.strip()
    if not installed or (Path(installed) / "include").is_dir():
        return dict(os.environ)
    library = workdir / "rlib"
    shutil.copytree(installed, library / "BH")
    (library / "BH" / "include").symlink_to("/usr/include")
    return {**os.environ, "R_LIBS": str(library)}


def run_brms(outcomes_csv: Path, chains: int, iterations: int, warmup: int, seed: int, workdir: Path) -> dict:
    out = workdir / "brms_summary.csv"
    environment = boost_shim(workdir)
    start = time.perf_counter()
    process = subprocess.run(
        ["Rscript", str(REPO / "benchmarks" / "bench_brms_ordinal.R"), str(outcomes_csv), str(chains), str(iterations), str(warmup),
         str(seed), str(out)],
        capture_output=True, text=True, env=environment,
    )
    if process.returncode != 0:
        raise RuntimeError(f"brms failed:\n{process.stderr[-3000:]}")
    seconds = time.perf_counter() - start
    print(process.stdout)
    summary = pd.read_csv(out)
    worst = summary.sort_values("ess_bulk").iloc[0]
    sampling = float(re.search(r"sampling at least ([0-9.]+) s", process.stdout).group(1))
    return {
        "step": f"brms ({chains} chains, iter {iterations}, warmup {warmup})", "passed": None, "rule_seconds": seconds,
        "compile_seconds": seconds - sampling, "sampling_seconds": sampling, "min_ess_bulk": float(worst["ess_bulk"]),
        "slowest": worst["variable"], "max_r_hat": float(summary["rhat"].max()), "ess_per_second_sampling": float(worst["ess_bulk"]) / sampling,
        "ess_per_second_total": float(worst["ess_bulk"]) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["rule", "inprocess", "none"], default="rule", help="how to run the registered step")
    parser.add_argument("--sampler", default="{}", help="JSON overrides of bayesian_models.sampler (inprocess mode)")
    parser.add_argument("--brms", action="store_true", help="also fit the model with brms (Rscript)")
    parser.add_argument("--brms-chains", type=int, default=2)
    parser.add_argument("--brms-iter", type=int, default=600)
    parser.add_argument("--brms-warmup", type=int, default=300)
    parser.add_argument("--scale", type=int, default=1, help="rule mode: paper_sim's arms times this factor")
    arguments = parser.parse_args()

    plan = load_prereg(REPO / "config" / "prereg.yaml")
    rows = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        if arguments.mode == "rule":
            rows += run_rules(workdir, arguments.scale)
            for name in ("ordinal", "composite"):
                kept = pd.read_csv(workdir / f"logs/fit_bayes_{name}/paper_sim.diagnostics.csv")
                print(f"{name}: the five elements with the lowest bulk ESS\n")
                print(kept.nsmallest(5, "ess_bulk")[["parameter", "gated", "r_hat", "ess_bulk", "ess_tail"]].to_markdown(index=False), "\n")
        elif arguments.mode == "inprocess":
            rows += run_inprocess(plan, paper_sim_outcomes(plan), json.loads(arguments.sampler))
        if arguments.brms:
            outcomes_csv = workdir / "conversation_scores.csv"
            write_csv(paper_sim_outcomes(plan), outcomes_csv)
            rows.append(run_brms(outcomes_csv, arguments.brms_chains, arguments.brms_iter, arguments.brms_warmup,
                                 plan["bayesian_models"]["sampler"]["seed"], workdir))
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
