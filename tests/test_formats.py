"""The cohort format table (analysis/cohorts/formats.py): one row per format the run configuration
accepts, consistent with itself, and the only place the rule files learn where a format's files lie."""

from __future__ import annotations

import re

import pytest
import yaml

from analysis.cohorts.formats import FORMATS, CohortFormat
from tests.conftest import REPO

RULES = REPO / "workflow" / "rules"


def schema_formats() -> list[str]:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    return schema["properties"]["cohorts"]["additionalProperties"]["properties"]["format"]["enum"]


def test_table_has_one_row_per_format_of_the_config_schema():
    assert sorted(FORMATS) == sorted(schema_formats())
    assert all(isinstance(row, CohortFormat) and row.name == name for name, row in FORMATS.items())


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_row_is_consistent(name):
    row = FORMATS[name]
    assert row.kind in ("trial", "ratings")
    # a format refuses pseudonyms exactly when it says why
    assert (row.pseudonymised_by is None) == bool(row.not_pseudonymised_because)
    for pattern in (row.directory, row.import_record, row.import_issues):
        assert pattern is None or "{cohort}" in pattern
    # theme levels come from a themes file, so a format without optional files has none
    if row.optional_files == "none":
        assert row.theme_levels == "never"
    if row.kind == "ratings":
        assert row.optional_files == "none" and not row.compares_published


def test_native_directory():
    assert FORMATS["simulated"].native_directory("paper_sim") == "data/simulated/paper_sim"
    assert FORMATS["native"].native_directory("mine", "/data/mine") == "/data/mine"
    with pytest.raises(ValueError, match="path"):
        FORMATS["native"].native_directory("mine")


def test_rule_files_take_format_directories_from_the_table():
    """No rule file spells a format's directory or branches on a format's name: they look the table up."""
    literals = {row.directory.split("{")[0] for row in FORMATS.values() if row.directory}
    branches = re.compile(r"""\["format"\]\s*[!=]=\s*["']""")
    for path in sorted(RULES.glob("*.smk")):
        text = path.read_text(encoding="utf-8")
        assert not [literal for literal in literals if literal in text], path.name
        assert not branches.search(text) or path.name == "common.smk", path.name
