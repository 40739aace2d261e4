"""Locking the registered plan: canonical fingerprint, lock file, amendment detection, command line."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil

import pytest
import yaml

from analysis.errors import ConfigError
from analysis.prereg.lock import canonical_plan, lock_status, main, plan_digest, read_lock, write_lock
from analysis.prereg.plan import read_yaml
from tests.conftest import REPO


def test_fingerprint_ignores_layout_but_not_content():
    first = yaml.safe_load("b: 1\na: [x, y]  # comment\nc: {d: 'text'}\n")
    relaid = yaml.safe_load("# a comment\nc:\n  d: text\na:\n  - x\n  - y\nb: 1\n")
    assert plan_digest(first) == plan_digest(relaid)
    assert plan_digest(first) != plan_digest({**first, "b": 2})
    assert plan_digest(first) != plan_digest({**first, "a": ["y", "x"]})


def test_canonical_form_is_sorted_compact_json_with_iso_dates():
    plan = yaml.safe_load("z: 2026-01-26\na: café\n")
    text = canonical_plan(plan)
    assert text == '{"a":"café","z":"2026-01-26"}'
    # independent reference: hashlib over the same bytes
    assert plan_digest(plan) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert json.loads(text) == {"a": "café", "z": "2026-01-26"}


def test_lock_round_trip_and_amendment(tmp_path):
    prereg = tmp_path / "prereg.yaml"
    shutil.copy(REPO / "config" / "prereg.yaml", prereg)
    record = write_lock(prereg, tmp_path / "prereg.lock", dt.date(2026, 1, 26))
    lock = read_lock(tmp_path / "prereg.lock")
    assert lock["sha256"] == record["sha256"] and lock["locked_on"] == "2026-01-26"
    assert lock["tool"] == "analysis.prereg.lock" and lock["tool_version"]
    assert lock_status(read_yaml(prereg), lock)["status"] == "matches"
    # a comment does not amend the plan; a changed value does
    prereg.write_text(prereg.read_text(encoding="utf-8") + "\n# a note\n", encoding="utf-8")
    assert lock_status(read_yaml(prereg), lock)["status"] == "matches"
    prereg.write_text(prereg.read_text(encoding="utf-8").replace("alpha: 0.05", "alpha: 0.01", 1), encoding="utf-8")
    status = lock_status(read_yaml(prereg), lock)
    assert status["status"] == "amended" and status["locked_sha256"] == record["sha256"] != status["sha256"]
    assert lock_status(read_yaml(prereg), None)["status"] == "unlocked"


def test_invalid_plan_is_never_locked(tmp_path):
    prereg = tmp_path / "prereg.yaml"
    prereg.write_text("title: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid"):
        write_lock(prereg, tmp_path / "prereg.lock")
    assert not (tmp_path / "prereg.lock").exists()


def test_not_a_lock_is_an_error(tmp_path):
    (tmp_path / "prereg.lock").write_text("hello: world\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a plan lock"):
        read_lock(tmp_path / "prereg.lock")


def test_command_line_locks_and_checks(tmp_path):
    prereg = tmp_path / "prereg.yaml"
    shutil.copy(REPO / "config" / "prereg.yaml", prereg)
    assert main(["--prereg", str(prereg), "--check"]) == 1  # no lock yet
    assert main(["--prereg", str(prereg), "--date", "2026-01-26"]) == 0
    assert (tmp_path / "prereg.lock").is_file()
    assert main(["--prereg", str(prereg), "--check"]) == 0
    prereg.write_text(prereg.read_text(encoding="utf-8").replace("alpha: 0.05", "alpha: 0.01", 1), encoding="utf-8")
    assert main(["--prereg", str(prereg), "--check"]) == 1
    assert main(["--prereg", str(tmp_path / "missing.yaml")]) == 2
