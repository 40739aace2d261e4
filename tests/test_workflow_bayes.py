"""End to end: the Bayesian rules and the estimator comparison, read from the suite's shared run.

The shared run (tests/workflow_runs.py, the session fixture ``release_run``: a simulated release of 48
participants under a copy of the registered plan with few draws, 2 chains x 150 thinned from 300) fits
both registered models. These tests check structure, not sampling quality: an MCMC trajectory differs
between CPUs, so a gate that a tiny fit clears on one machine may be missed on the next. The shared run's
plan therefore sets a gate no fit can meet (bulk ESS of 10^9) with ``policy: warn`` (the fits are kept,
the broken gates logged), and the test of a failing gate reruns only the composite fit, in a copy of that
run, with the same impossible gate and ``policy: fail``. Sampling quality is checked in tests/test_bayes.py
with margins measured over many seeds.
"""

from __future__ import annotations

import shutil

import arviz as az
import pandas as pd
import pytest
import yaml

from analysis.models.bayes import CONTRAST_COLUMNS, DIAGNOSTIC_COLUMNS, EFFECT_COLUMNS, PPC_COLUMNS
from analysis.models.estimator_comparison import COMPARISON_COLUMNS
from analysis.prereg.specs import read_spec_record, spec_record
from analysis.runtime.resources import bayes_memory_mb, bayes_runtime_minutes, bayes_trace_disk_mb, count_participants
from tests.conftest import REPO
from tests.workflow_runs import IMPOSSIBLE_ESS, RELEASE_PARTICIPANTS, quick_plan, snakemake

pytestmark = pytest.mark.e2e


def test_bayes_outputs_have_their_columns_and_rows(release_dir):
    results = release_dir / "results/rel/bayes"
    effects = pd.read_csv(results / "effects.csv")
    assert list(effects.columns) == EFFECT_COLUMNS
    assert len(effects) == 6 * 4 * 3 + 4
    assert set(effects.query("model == 'ordinal'")["scale"]) == {"log_odds", "expected_score", "expected_score_typical"}
    assert effects.query("model == 'composite'")["term"].tolist() == ["post", "video:post", "coach:post", "combined:post"]
    assert list(pd.read_csv(results / "contrasts.csv").columns) == CONTRAST_COLUMNS
    diagnostics = pd.read_csv(results / "diagnostics.csv")
    assert list(diagnostics.columns) == DIAGNOSTIC_COLUMNS
    assert set(diagnostics["model"]) == {"ordinal", "composite"}
    gated = diagnostics.query("model == 'ordinal' and gated")["quantity"].unique().tolist()
    assert gated == ["post", "arm_post", "expected_score_post", "expected_score_did"]
    # every gated row misses the impossible bulk-ESS gate; ungated rows are reported and never fail
    assert not diagnostics.query("gated")["passed"].any() and diagnostics.query("not gated")["passed"].all()
    assert (diagnostics["ess_bulk"] < IMPOSSIBLE_ESS).all() and (diagnostics["ess_bulk"] > 0).all()
    assert (diagnostics["chains"] == 2).all() and (diagnostics["draws"] == 150).all() and (diagnostics["thin"] == 2).all()
    ppc = pd.read_csv(results / "ppc_proportions.csv")
    assert list(ppc.columns) == PPC_COLUMNS and len(ppc) == 6 * 4 * 3 * 5


def test_inference_data_files_hold_data_and_named_coordinates(release_dir):
    ordinal = az.from_netcdf(release_dir / "results/rel/bayes/ordinal.nc")
    assert {"posterior", "sample_stats", "observed_data", "constant_data", "posterior_predictive"} <= set(ordinal.groups())
    assert ordinal.posterior["arm_post"].dims == ("chain", "draw", "arm", "dimension")
    assert ordinal.observed_data["score"].shape == (RELEASE_PARTICIPANTS * 3, 6)
    assert list(ordinal.posterior.coords["cutpoint"].values) == ["1|2", "2|3", "3|4", "4|5"]
    outcomes = pd.read_csv(release_dir / "results/rel/outcomes/conversation_scores.csv")
    assert list(ordinal.observed_data.coords["conversation"].values) == outcomes["conversation_id"].tolist()
    assert (ordinal.observed_data["score"].sel(dimension="advice_giving").to_numpy() == outcomes["advice_giving"].to_numpy()).all()
    composite = az.from_netcdf(release_dir / "results/rel/bayes/composite.nc")
    assert composite.observed_data["overall_empathy"].to_numpy().tolist() == pytest.approx(outcomes["overall_empathy"].tolist())


def test_spec_records_describe_the_fits(release_dir):
    for name, analysis_id in (("ordinal", "bayes_ordinal"), ("composite", "bayes_composite")):
        record = read_spec_record(release_dir / f"results/rel/bayes/{name}.spec.json")
        assert spec_record(**record) == record
        assert (record["analysis_id"], record["family"], record["estimator"]) == (analysis_id, "bayes", "pymc_nutpie_nuts")
        assert record["details"]["sampler"]["draws"] == 150 and record["details"]["sampler"]["thin"] == 2
        assert record["diagnostics"]["passed"] is False and record["diagnostics"]["policy"] == "warn"
    comparison = read_spec_record(release_dir / "results/rel/models/spec.json")
    assert comparison["analysis_id"] == "estimator_comparison"


def test_estimator_comparison_lines_up_the_four_estimators(release_dir):
    table = pd.read_csv(release_dir / "results/rel/models/estimator_comparison.csv")
    assert list(table.columns) == COMPARISON_COLUMNS
    assert set(table["estimator"]) == {"ols_cluster", "lmm_reml", "bayes_ordinal", "bayes_linear"}
    primary = pd.read_csv(release_dir / "results/rel/primary/effects_sd.csv").set_index(["outcome", "arm"])
    ols = table.query("estimator == 'ols_cluster'").set_index(["outcome", "arm"])
    pd.testing.assert_series_equal(ols["estimate_sd"], primary.loc[ols.index, "estimate_sd"], check_names=False)
    assert len(table.query("outcome == 'overall_empathy'")) == 4 * 3


def test_reports_are_labelled_synthetic(release_dir):
    for name in ("bayes_effects", "bayes_diagnostics"):
        assert (release_dir / f"reports/rel/tables/{name}.md").read_text(encoding="utf-8").startswith("SYNTHETIC DATA")
    assert (release_dir / "logs/fit_bayes_ordinal/rel.benchmark.tsv").is_file()


def test_the_slurm_profile_schedules_the_fits_with_resources_scaled_to_the_cohort(release_dir):
    """A dry run through workflow/profiles/slurm (the SLURM executor plugin is installed): each fit asks
    for its chains as CPUs, and memory, run time and temporary disk estimated from the cohort's participants."""
    plan = yaml.safe_load((release_dir / "prereg.yaml").read_text(encoding="utf-8"))
    sampler = plan["bayesian_models"]["sampler"]
    process = snakemake(
        release_dir, "results/rel/bayes/ordinal.nc", "results/rel/bayes/composite.nc", "--profile", str(REPO / "workflow" / "profiles" / "slurm"),
        "--dry-run", "--forcerun", "fit_bayes_ordinal", "fit_bayes_composite",
    )
    assert process.returncode == 0, process.stderr[-4000:]
    participants = count_participants(release_dir / "results/rel/outcomes/conversation_scores.csv")
    assert participants == RELEASE_PARTICIPANTS
    jobs = {block.split(":", 1)[0]: block for block in process.stdout.split("rule ")[1:]}
    for rule, effects in (("fit_bayes_ordinal", 6), ("fit_bayes_composite", 1)):
        resources = next(line for line in jobs[rule].splitlines() if line.strip().startswith("resources:"))
        assert f"mem_mb={bayes_memory_mb(participants, effects, sampler)}," in resources
        assert f"runtime={bayes_runtime_minutes(participants, effects, sampler, sampler['chains'])}" in resources
        assert f"disk_mb={bayes_trace_disk_mb(participants, effects, sampler)}" in resources
        assert f"threads: {sampler['chains']}" in jobs[rule]


def test_a_broken_gate_fails_the_rule_naming_the_parameters(release_dir, tmp_path):
    """In a copy of the shared run (timestamps kept), only the composite fit reruns: its gate policy changed."""
    workdir = tmp_path / "copy"
    shutil.copytree(release_dir, workdir, symlinks=True)
    plan = quick_plan(workdir, name="prereg_failing.yaml", policy="fail")
    process = snakemake(workdir, "results/rel/bayes/composite.nc", prereg=plan, inputs=release_dir)
    assert process.returncode == 1
    assert "bayes_composite broke its registered diagnostic gates" in process.stderr
    assert "bulk ESS below 1000000000: intercept (" in process.stderr and "arm_post[video]" in process.stderr
    # the message alone, once, without a traceback; the rule's log ends with it
    output = process.stdout + process.stderr
    assert output.count("bayes_composite broke its registered diagnostic gates") == 1 and "Traceback" not in output
    log = (workdir / "logs/fit_bayes_composite/rel.log").read_text(encoding="utf-8")
    assert "bayes_composite broke its registered diagnostic gates" in log and "Traceback" not in log
    assert "import_paper_release" not in process.stdout + process.stderr
    assert not (workdir / "results/rel/bayes/composite.nc").exists()
    kept = pd.read_csv(workdir / "logs/fit_bayes_composite/rel.diagnostics.csv")
    assert not kept["passed"].any()


def test_warn_policy_keeps_the_fit_and_logs_the_problems(release_dir):
    record = read_spec_record(release_dir / "results/rel/bayes/composite.spec.json")
    assert record["diagnostics"]["passed"] is False and record["diagnostics"]["policy"] == "warn"
    assert (release_dir / "results/rel/bayes/composite.nc").is_file()
    log = (release_dir / "logs/fit_bayes_composite/rel.log").read_text(encoding="utf-8")
    assert "broke its registered diagnostic gates" in log and f"bulk ESS below {IMPOSSIBLE_ESS}" in log
