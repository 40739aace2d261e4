"""The run guard (analysis.runtime.run_guard): a lock left by a killed run is removed, a live run's never.

No Snakemake run here: a Python process stands in for Snakemake (through a link named ``snakemake`` where the
process scan must see one). benchmarks/kill_and_rerun.py kills real runs and reruns them.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.runtime.run_guard import (
    GUARD_FILE,
    RunGuardError,
    clear_stale_lock,
    live_snakemake_runs,
    main,
    newest_log_host,
    snakemake_arguments,
    working_directory,
)
from tests.conftest import REPO

HOST = platform.node()
SLEEPER = "import time; print('up', flush=True); time.sleep(60)"


def leave_a_lock(folder: Path, host: str | None = HOST) -> None:
    """What a killed Snakemake run leaves: its lock files and its log, which names its host."""
    (folder / ".snakemake" / "locks").mkdir(parents=True)
    (folder / ".snakemake" / "locks" / "0.input.lock").write_text("data/x.csv\n")
    (folder / ".snakemake" / "log").mkdir()
    header = f"SNAKEMAKE\n=========\n  Date: 2026-01-02\n  Host: {host}\n" if host else "Building DAG of jobs...\n"
    (folder / ".snakemake" / "log" / "2026-01-02T101010.000000.snakemake.log").write_text(header)


@pytest.mark.parametrize(("cmdline", "arguments"), [
    (["/repo/.venv/bin/snakemake", "--cores", "2"], ["--cores", "2"]),
    (["/repo/.venv/bin/python3.11", "/repo/.venv/bin/snakemake", "-d", "x"], ["-d", "x"]),
    (["python", "-m", "snakemake", "--profile", "p"], ["--profile", "p"]),
    (["/usr/bin/python3", "/venv/lib/python3.11/site-packages/snakemake/__main__.py", "-c", "1"], ["-c", "1"]),
    (["python", "-m", "analysis.runtime.run_guard", ".venv/bin/snakemake", "--cores", "all"], None),  # the guard itself
    (["/bin/sh", "-c", "PYTHONPATH=x .venv/bin/snakemake --cores all"], None),
    (["vim", "snakemake"], None),
    ([], None),
])
def test_snakemake_command_lines_are_recognised(cmdline, arguments):
    assert snakemake_arguments(cmdline) == arguments


def test_the_working_directory_is_the_directory_option_or_the_cwd(tmp_path):
    assert working_directory(["--cores", "2"], tmp_path) == tmp_path.resolve()
    assert working_directory(["--directory", "run"], tmp_path) == (tmp_path / "run").resolve()
    assert working_directory(["-d", "/elsewhere"], tmp_path) == Path("/elsewhere")
    assert working_directory(["--directory=run", "all"], tmp_path) == (tmp_path / "run").resolve()


def test_a_lock_left_on_this_machine_with_no_run_alive_is_removed(tmp_path):
    assert clear_stale_lock(tmp_path, live_runs=[], log_host=HOST, this_host=HOST) is None  # no lock: nothing to say
    leave_a_lock(tmp_path)
    note = clear_stale_lock(tmp_path, live_runs=[], log_host=newest_log_host(tmp_path), this_host=HOST)
    assert note.startswith(f"A killed run left its lock in {tmp_path}/.snakemake/locks")
    assert not (tmp_path / ".snakemake" / "locks").exists()


def test_a_lock_a_live_run_may_hold_is_kept(tmp_path):
    leave_a_lock(tmp_path)
    with pytest.raises(RunGuardError, match=r"Another Snakemake run works in .*pid 42 \(ann\): snakemake -c 2.*wait for it"):
        clear_stale_lock(tmp_path, live_runs=["pid 42 (ann): snakemake -c 2"], log_host=HOST, this_host=HOST)
    with pytest.raises(RunGuardError, match="started on login2, which cannot be seen from login1: .*`make unlock`"):
        clear_stale_lock(tmp_path, live_runs=[], log_host="login2", this_host="login1")
    with pytest.raises(RunGuardError, match="started on an unknown machine"):
        clear_stale_lock(tmp_path, live_runs=[], log_host=None, this_host=HOST)
    assert (tmp_path / ".snakemake" / "locks" / "0.input.lock").is_file()


def test_the_newest_log_names_the_host(tmp_path):
    assert newest_log_host(tmp_path) is None
    leave_a_lock(tmp_path, host="node7")
    (tmp_path / ".snakemake" / "log" / "2025-12-31T000000.000000.snakemake.log").write_text("  Host: older\n")
    assert newest_log_host(tmp_path) == "node7"


def test_a_snakemake_process_working_in_the_folder_is_seen(tmp_path):
    """A process named ``snakemake`` (a link to Python) in one folder is seen there, and not in another."""
    program = tmp_path / "bin" / "snakemake"
    program.parent.mkdir()
    program.symlink_to(sys.executable)
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir(), elsewhere.mkdir()
    process = subprocess.Popen([str(program), "-c", SLEEPER], cwd=here, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "up\n"
        found = live_snakemake_runs(here)
        assert len(found) == 1 and found[0].startswith(f"pid {process.pid} (") and str(program) in found[0]
        assert live_snakemake_runs(elsewhere) == []
        assert live_snakemake_runs(here, exclude=[process.pid]) == []
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def guard(folder: Path, *program: str) -> subprocess.Popen:
    """``python -m analysis.runtime.run_guard PROGRAM...`` started in ``folder``."""
    return subprocess.Popen([sys.executable, "-m", "analysis.runtime.run_guard", *program], cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_second_run_in_the_folder_is_refused_while_the_first_lives(tmp_path, caplog):
    """The guard becomes the program it starts, which keeps the guard's flock: a second guarded run stops with one
    line. Once the first is killed (SIGKILL), the lock it left is removed and the next run starts."""
    first = guard(tmp_path, sys.executable, "-c", SLEEPER)
    try:
        assert first.stdout.readline() == "up\n"
        assert (tmp_path / ".snakemake" / GUARD_FILE).is_file()
        assert main([sys.executable, "-c", "raise SystemExit('must not start')", "--directory", str(tmp_path)]) == 1
        assert "Another run started with make works in" in caplog.text and "wait for it to end" in caplog.text
    finally:
        first.kill()
        first.wait()
        first.stdout.close()
        first.stderr.close()
    leave_a_lock(tmp_path)
    rerun = guard(tmp_path, sys.executable, "-c", "print('ran')")
    out, err = rerun.communicate(timeout=60)
    assert (rerun.returncode, out) == (0, "ran\n"), err
    assert err.startswith("A killed run left its lock in") and len(err.splitlines()) == 1
    assert not (tmp_path / ".snakemake" / "locks").exists()


def test_without_a_program_the_guard_says_how_to_call_it(tmp_path, caplog):
    assert main([]) == 2
    assert "usage: python -m analysis.runtime.run_guard SNAKEMAKE" in caplog.text
    assert main([str(tmp_path / "missing" / "snakemake"), "--directory", str(tmp_path)]) == 127
    assert f"cannot start {tmp_path}/missing/snakemake" in caplog.text
