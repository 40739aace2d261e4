"""The set-up files agree: environment.yml pins exactly what requirements.lock pins."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert match, f"requirements.lock line is not an exact pin: {line!r}"
        pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def test_environment_yml_matches_lock():
    environment = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(item for item in environment["dependencies"] if isinstance(item, dict))["pip"]
    conda_pins = {}
    for entry in pip_section:
        if entry == "-e .":
            continue
        name, version = entry.split("==")
        conda_pins[name.lower().replace("_", "-")] = version
    assert conda_pins == lock_pins()
    assert "python=3.11" in environment["dependencies"]


def test_every_direct_dependency_is_pinned():
    pins = lock_pins()
    for line in (REPO / "requirements.in").read_text(encoding="utf-8").splitlines():
        name = line.split("#")[0].strip().lower().replace("_", "-")
        if name:
            assert name in pins, f"{name} is in requirements.in but not pinned in requirements.lock"
