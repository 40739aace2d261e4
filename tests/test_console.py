"""What a run shows: the step console (logger plugin ``steps``), the heartbeat of long steps, the
Makefile's output flags, the jobs' environment (compile caches, PyTensor's BLAS) and the sampler's
progress. No Snakemake run here: the records are built by hand as Snakemake emits them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from snakemake_interface_logger_plugins.common import LogEvent

from analysis.errors import CohortValidationError, ValidationIssue
from analysis.runtime.console import LogHandler, StepConsole
from analysis.runtime.jobenv import job_environment, pytensor_blas_ldflags, scipy_openblas
from analysis.runtime.runlog import STEP_CONSOLE_ENV, Heartbeat, current_heartbeat, format_duration, logged_step, step_label
from tests.conftest import REPO


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(message=None, level=logging.INFO, **extra) -> logging.LogRecord:
    entry = logging.LogRecord("snakemake", level, __file__, 1, message, None, None)
    entry.__dict__.update(extra)
    return entry


def job_info(jobid: int, rule: str, cohort: str) -> logging.LogRecord:
    return record(f" Rule: {rule}, Jobid: {jobid}", event=LogEvent.JOB_INFO, jobid=jobid, rule_name=rule,
                  wildcards={"cohort": cohort}, input=["a.csv", "analysis/models/did.py"], output=["b.csv"])


def finished(jobid: int, done: int, total: int) -> list[logging.LogRecord]:
    return [record(f"Finished jobid: {jobid}", event=LogEvent.JOB_FINISHED, job_id=jobid),
            record(None, event=LogEvent.PROGRESS, done=done, total=total)]


# ---------------------------------------------------------------------------------------------
# The console
# ---------------------------------------------------------------------------------------------


def test_console_prints_one_line_per_step_with_the_progress_count():
    lines, clock = [], FakeClock()
    console = StepConsole(lines.append, clock=clock)
    console.handle(record("Building DAG of jobs..."))
    console.handle(record("Job stats:\njob count\n...", event=LogEvent.RUN_INFO, stats={"simulate_cohort": 1, "fit_primary_did": 1, "total": 2}))
    console.handle(job_info(3, "simulate_cohort", "paper_sim"))
    console.handle(record("Select jobs to execute..."))
    clock.now += 4
    for entry in finished(3, 1, 2):
        console.handle(entry)
    console.handle(job_info(1, "fit_primary_did", "paper_sim"))
    clock.now += 75
    for entry in finished(1, 2, 2):
        console.handle(entry)
    console.handle(record("Complete log(s): /x/.snakemake/log/run.log"))
    console.close()
    assert lines == [
        "Running 2 steps (VERBOSE=1 prints each step's inputs and outputs)",
        "[1/2] simulate_cohort (paper_sim)  4 s",
        "[2/2] fit_primary_did (paper_sim)  1 min 15 s",
        "Done: 2 of 2 steps in 1 min 19 s. Each step's log: logs/<step>/<cohort>.log",
        "Snakemake's own log: /x/.snakemake/log/run.log",
    ]


def test_console_passes_warnings_and_unknown_messages_through():
    lines = []
    console = StepConsole(lines.append)
    console.handle(record("cohort 'pilot': no local copy and no network; skipped", level=logging.WARNING))
    console.handle(record("Nothing to be done (all requested files are present and up to date)."))
    console.handle(record("Using shell: /usr/bin/bash"))
    assert lines == ["cohort 'pilot': no local copy and no network; skipped",
                     "Nothing to be done (all requested files are present and up to date)."]


def test_console_prints_failures_last_with_the_tail_of_their_log(tmp_path):
    log = tmp_path / "logs/fit_mixed_models/paper_sim.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {number}\n" for number in range(1, 31)) + "ERROR fit_mixed_models failed: singular fit\n")
    lines = []
    console = StepConsole(lines.append, show_failed_logs=3)
    console.handle(record("stats", event=LogEvent.RUN_INFO, stats={"total": 3}))
    console.handle(job_info(7, "fit_mixed_models", "paper_sim"))
    console.handle(job_info(8, "render_report", "pilot"))
    console.handle(record("Error in rule fit_mixed_models, jobid: 7", level=logging.ERROR, event=LogEvent.JOB_ERROR, jobid=7,
                          rule_name="fit_mixed_models", rule_msg=None, log=[str(log)], aux={}))
    for entry in finished(8, 1, 3):
        console.handle(entry)
    console.handle(record("Exiting because a job execution failed. Look below for error messages", level=logging.ERROR))
    console.close()
    console.close()
    assert lines[1] == "FAILED fit_mixed_models (paper_sim) (details at the end)"
    assert lines[2] == "[1/3] render_report (pilot)  0 s"
    summary = lines[lines.index("") + 1:]
    assert summary[0].startswith("1 step(s) FAILED after ") and summary[0].endswith("(1 of 3 steps done):")
    assert summary[1:] == [
        "FAILED fit_mixed_models (paper_sim)",
        f"  log: {log}",
        "    | line 29",
        "    | line 30",
        "    | ERROR fit_mixed_models failed: singular fit",
    ]


def failed_run(console: StepConsole, log, jobid: int = 4, rule: str = "validate_cohort", cohort: str = "bad") -> None:
    """The records Snakemake 9 emits, in order, when a `script:` job fails and the run stops."""
    console.handle(record("stats", event=LogEvent.RUN_INFO, stats={"total": 3}))
    console.handle(job_info(jobid, rule, cohort))
    command = (f"RuleException:\nCalledProcessError in file \"/repo/workflow/rules/ingest.smk\", line 44:\nCommand 'set -euo "
               f"pipefail;  /repo/.venv/bin/python /w/.snakemake/scripts/tmpab12.{rule}.py' returned non-zero exit status 1.")
    console.handle(record(command, level=logging.ERROR, event=LogEvent.ERROR, exception="RuleException"))
    console.handle(record(f"Error in rule {rule}, jobid: {jobid}", level=logging.ERROR, event=LogEvent.JOB_ERROR, jobid=jobid,
                          rule_name=rule, rule_msg=None, log=[str(log)], aux={}))
    console.handle(record("Shutting down, this might take some time."))
    console.handle(record("Exiting because a job execution failed. Look above for error messages", level=logging.ERROR))
    console.handle(record("Complete log(s): /w/.snakemake/log/run.log"))
    console.handle(record("WorkflowError:\nAt least one job did not complete successfully.", level=logging.ERROR,
                          event=LogEvent.ERROR, exception="WorkflowError"))
    console.close()


def test_an_expected_failure_is_shown_once_at_the_end_without_a_traceback(tmp_path, monkeypatch, capsys):
    # the job as it runs under the step console: the message goes to its log only
    monkeypatch.setenv(STEP_CONSOLE_ENV, "1")
    log = tmp_path / "logs/validate_cohort/bad.log"
    error = CohortValidationError([ValidationIssue("scores.csv", 6, "score", 7.0, "a number in [1, 5]"),
                                   ValidationIssue("messages.csv", None, None, None, "UTF-8 text")])
    with pytest.raises(SystemExit) as stopped:
        with logged_step(log, "validate_cohort") as logger:
            logger.info("reading the cohort")
            raise error
    assert stopped.value.code == 1
    assert capsys.readouterr().err == ""
    lines = []
    failed_run(StepConsole(lines.append), log)
    output = "\n".join(lines)
    assert output.count("scores.csv, row 6, column 'score': value 7.0; expected a number in [1, 5]") == 1
    for noise in ("Traceback", "RuleException", "CalledProcessError", "exit status", "Look above", "At least one job"):
        assert noise not in output, noise
    assert lines[:3] == ["Running 3 steps (VERBOSE=1 prints each step's inputs and outputs)",
                         "FAILED validate_cohort (bad) (details at the end)", "Shutting down, this might take some time."]
    assert lines[lines.index("") + 2:] == [
        "FAILED validate_cohort (bad)",
        *(f"  {line}" for line in str(error).splitlines()),
        f"  log: {log}",
        "Snakemake's own log: /w/.snakemake/log/run.log",
    ]


def test_a_bug_shows_its_exit_status_and_the_traceback_from_its_log(tmp_path):
    log = tmp_path / "logs/fit_primary_did/tiny.log"
    with pytest.raises(KeyError):
        with logged_step(log, "fit_primary_did"):
            {}["arm"]
    lines = []
    failed_run(StepConsole(lines.append), log, rule="fit_primary_did", cohort="tiny")
    summary = lines[lines.index("") + 2:]
    assert summary[:3] == ["FAILED fit_primary_did (tiny)", "  exit status 1", f"  log: {log}"]
    assert "    | Traceback (most recent call last):" in summary and summary[-2] == "    | KeyError: 'arm'"
    assert "RuleException" not in "\n".join(lines)


def test_errors_snakemake_reports_outside_a_job_are_printed(tmp_path):
    lines = []
    console = StepConsole(lines.append)
    missing = ("MissingInputException in rule validate_cohort in file \"/repo/workflow/rules/ingest.smk\", line 23:\n"
               "Missing input files for rule validate_cohort:\n    affected files:\n        input/messages.csv")
    console.handle(record(missing, level=logging.ERROR, event=LogEvent.ERROR, exception="MissingInputException"))
    console.close()
    assert lines == [missing]


def test_the_logger_plugin_tells_the_jobs_that_it_prints_their_failures(monkeypatch):
    monkeypatch.setenv(STEP_CONSOLE_ENV, "")  # restored (removed) after the test
    LogHandler(common_settings=None, settings=None)
    assert os.environ[STEP_CONSOLE_ENV] == "1"


def test_console_says_when_a_failed_step_wrote_no_log(tmp_path):
    lines = []
    console = StepConsole(lines.append)
    console.handle(record("Error in rule x", level=logging.ERROR, event=LogEvent.JOB_ERROR, jobid=1, rule_name="simulate_cohort",
                          rule_msg="out of memory", log=[str(tmp_path / "missing.log")], aux={}))
    console.close()
    assert lines[-3:] == ["  out of memory", f"  log: {tmp_path / 'missing.log'}", "    (the log was not written)"]


def test_the_logger_plugin_is_found_where_the_makefile_points():
    code = ("from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry; "
            "from analysis.runtime.console import LogHandler; "
            "assert LoggerPluginRegistry().get_plugin('steps').log_handler is LogHandler")
    environment = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "plugins")}
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=REPO, timeout=120)
    assert process.returncode == 0, process.stderr


@pytest.mark.parametrize(("verbose", "expected", "absent"), [("", "--logger=steps", "--printshellcmds"),
                                                             ("1", "--printshellcmds", "--logger")])
def test_make_reproduce_is_quiet_unless_verbose(verbose, expected, absent):
    # `--logger=steps` with `=`: the option takes one or more values and would swallow targets after it.
    process = subprocess.run(["make", "-n", "-W", ".venv/.installed", "reproduce", f"VERBOSE={verbose}"],
                             capture_output=True, text=True, cwd=REPO, timeout=60)
    assert process.returncode == 0, process.stderr
    command = [line for line in process.stdout.splitlines() if "bin/snakemake" in line]
    assert len(command) == 1, process.stdout
    assert expected in command[0] and absent not in command[0]
    assert "workflow/plugins" in command[0]


# ---------------------------------------------------------------------------------------------
# The heartbeat
# ---------------------------------------------------------------------------------------------


def test_format_duration():
    assert [format_duration(value) for value in (0.4, 42, 65, 3725)] == ["0 s", "42 s", "1 min 05 s", "1 h 02 min"]


def test_heartbeat_line_estimates_the_time_left_from_the_stage_rate():
    clock = FakeClock()
    beat = Heartbeat("fit_bayes_ordinal (paper_sim)", clock=clock)
    clock.now += 20
    assert beat.line() == "... fit_bayes_ordinal (paper_sim): running, 20 s so far, time left not measurable in this stage"
    beat.stage("sampling (4 chains on 2 core(s))")
    clock.now += 30
    beat.update(4000, 20000, "iterations", detail="0 divergences")
    assert beat.line() == ("... fit_bayes_ordinal (paper_sim): sampling (4 chains on 2 core(s)), 4000/20000 iterations (20%), "
                           "0 divergences, 50 s so far, about 2 min 00 s left")
    beat.update(4000, 20000, "iterations", remaining_seconds=30)
    assert beat.line().endswith("about 30 s left")
    beat.stage("diagnostics")
    assert beat.line().endswith("diagnostics, 50 s so far, time left not measurable in this stage")


def test_step_label_names_the_wildcards_from_the_log_path():
    assert step_label("logs/fit_bayes_ordinal/paper_sim.log", "fit_bayes_ordinal") == "fit_bayes_ordinal (paper_sim)"
    assert step_label("logs/fit_bayes_ordinal.log", "fit_bayes_ordinal") == "fit_bayes_ordinal"


def test_a_long_step_beats_on_stderr_and_in_its_log(tmp_path, capsys):
    log = tmp_path / "logs/mine_phrases/paper_sim.log"
    with logged_step(log, "mine_phrases", heartbeat_seconds=0.05) as logger:
        current_heartbeat().stage("counting n-grams")
        time.sleep(0.3)
        logger.info("mined")
    assert current_heartbeat().label == "(not a step)"
    beats = [line for line in capsys.readouterr().err.splitlines() if line.startswith("... mine_phrases (paper_sim): counting n-grams")]
    assert len(beats) >= 2
    assert log.read_text().count("mine_phrases (paper_sim): counting n-grams") == len(beats)


def test_a_short_step_prints_nothing(tmp_path, capsys):
    with logged_step(tmp_path / "a.log", "apply_exclusions") as logger:
        logger.info("done")
    assert capsys.readouterr().err == ""


def test_a_failing_step_stops_its_heartbeat_and_logs_why(tmp_path):
    with pytest.raises(ValueError, match="bad input"):
        with logged_step(tmp_path / "b.log", "validate_cohort", heartbeat_seconds=0.05):
            raise ValueError("bad input")
    assert current_heartbeat().label == "(not a step)"
    log = (tmp_path / "b.log").read_text()
    assert "validate_cohort failed on an unexpected error" in log and log.rstrip().endswith("ValueError: bad input")


# ---------------------------------------------------------------------------------------------
# The jobs' environment
# ---------------------------------------------------------------------------------------------


def test_job_environment_caches_under_the_repository_and_keeps_user_settings(tmp_path):
    environment = job_environment(tmp_path, {})
    assert f"base_compiledir={tmp_path / '.cache' / 'pytensor'}" in environment["PYTENSOR_FLAGS"]
    assert environment["NUMBA_CACHE_DIR"] == str(tmp_path / ".cache" / "numba")
    mine = job_environment(tmp_path, {"PYTENSOR_FLAGS": "compiledir=/elsewhere,blas__ldflags=-lmkl_rt", "NUMBA_CACHE_DIR": "/n"})
    assert mine == {"PYTENSOR_FLAGS": "compiledir=/elsewhere,blas__ldflags=-lmkl_rt", "NUMBA_CACHE_DIR": "/n"}


def test_pytensor_links_the_openblas_of_the_scipy_wheel():
    library = scipy_openblas()
    assert library is not None, "the pinned scipy wheel ships libscipy_openblas (scipy.libs/)"
    assert "-Ddgemm_=scipy_dgemm_" in pytensor_blas_ldflags(library)
    # A fresh process with the jobs' environment, their compile cache included (the modules are compiled
    # there on a first run, loaded from it afterwards, as in the jobs): no BLAS warning, and the BLAS ops
    # (Gemm, Gemv, Ger) are built against scipy's OpenBLAS and compute what numpy computes.
    code = """
import warnings
warnings.simplefilter("error")
import numpy as np, pytensor, pytensor.tensor as pt
a, b, v, w = pt.matrix("a"), pt.matrix("b"), pt.vector("v"), pt.vector("w")
f = pytensor.function([a, b, v, w], [a @ b + 2 * a, a @ v, a + pt.outer(v, w)])
ops = {type(node.op).__name__ for node in f.maker.fgraph.toposort()}
assert {"CGemv", "CGer"} <= ops and ops & {"Gemm", "Dot22", "Dot22Scalar"}, ops
rng = np.random.default_rng(1)
x, y, p, q = rng.random((30, 30)), rng.random((30, 30)), rng.random(30), rng.random(30)
for got, expected in zip(f(x, y, p, q), [x @ y + 2 * x, x @ p, x + np.outer(p, q)]):
    np.testing.assert_allclose(got, expected, rtol=1e-12)
"""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTENSOR_FLAGS", "NUMBA_CACHE_DIR")}
    environment.update(job_environment(REPO, environment))
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    assert "BLAS" not in process.stderr


# ---------------------------------------------------------------------------------------------
# The sampler's progress
# ---------------------------------------------------------------------------------------------


def test_sampler_progress_reaches_the_heartbeat_and_leaves_the_draws_unchanged():
    import nutpie
    import pymc as pm

    from analysis.models.bayes import Sampler, sample_model

    with pm.Model() as model:
        pm.Normal("mu", 0.0, 1.0, shape=2)
    sampler = Sampler(engine="nutpie", backend="numba", chains=2, draws=300, thin=1, tune=200, target_accept=0.8, seed=11,
                      mass_matrix="diagonal")
    updates = []

    class Recording(Heartbeat):
        def update(self, done, total, unit="", remaining_seconds=None, detail=""):
            updates.append((done, total, detail))
            super().update(done, total, unit, remaining_seconds, detail)

    progress = Recording("test", interval=float("inf"))
    idata = sample_model(model, sampler=sampler, var_names=["mu"], cores=1, progress=progress)
    assert updates and updates[-1] == (1000, 1000, "0 divergences")  # 2 chains x (200 tuning + 300 draws)
    reference = nutpie.sample(nutpie.compile_pymc_model(model, backend="numba", var_names=["mu"]), draws=300, tune=200, chains=2,
                              cores=1, seed=11, target_accept=0.8, progress_bar=False, save_warmup=False)
    np.testing.assert_array_equal(idata.posterior["mu"].to_numpy(), reference.posterior["mu"].to_numpy())
