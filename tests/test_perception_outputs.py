"""What a perception rule writes: every table under its field's name, the spec record, the fit's notes in the log."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pandas as pd

from analysis.prereg.specs import read_spec_record
from analysis.secondary.perception import EloResults
from analysis.secondary.perception_outputs import write_perception_results

EXECUTION = {"estimator": "logit", "outcomes": ["overall_empathy"], "terms": ["abs_gap"], "sample": {"n_choices": 3}}
PARAMS = SimpleNamespace(analysis_id="perception_elo", confirmatory=False, exclusions=["short"], judge_aggregation={"method": "mean"})


def test_every_table_goes_to_its_output_and_a_dropped_term_is_logged(tmp_path, caplog):
    results = EloResults(
        logit=pd.DataFrame({"term": ["abs_gap"], "estimate": [0.5]}),
        logit_fit=pd.DataFrame({"n": [3, 3], "note": ["", "scenario term dropped: one scenario"]}),
        rank_correlations=pd.DataFrame({"rho": [0.4]}),
        left_out=pd.DataFrame({"record_id": ["p1"]}),
        execution=EXECUTION,
    )
    outputs = {name: tmp_path / f"{name}.csv" for name in ("logit", "logit_fit", "rank_correlations", "left_out")}
    outputs["spec"] = tmp_path / "spec.json"
    with caplog.at_level(logging.INFO):
        write_perception_results(results, outputs=outputs, params=PARAMS, cohort="c", log=logging.getLogger("test"))
    assert pd.read_csv(outputs["logit"])["estimate"].tolist() == [0.5]
    assert pd.read_csv(outputs["left_out"])["record_id"].tolist() == ["p1"]
    record = read_spec_record(outputs["spec"])
    assert (record["analysis_id"], record["family"], record["cohort"]) == ("perception_elo", "perception", "c")
    assert record["exclusions"] == ["short"] and record["sample"] == {"n_choices": 3}
    warnings = [entry.getMessage() for entry in caplog.records if entry.levelno == logging.WARNING]
    assert warnings == ["scenario term dropped: one scenario"]
    assert "sample: {'n_choices': 3}" in caplog.text
