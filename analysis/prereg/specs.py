"""Spec records: what an analysis rule actually executed, for the pre-registration audit.

Every analysis rule writes one JSON record (schema: ``workflow/schemas/spec_record.schema.yaml``)
beside its outputs. The audit compares these records with the registered plan, so the record must
describe the models as fitted (terms, covariance, sample), not repeat the plan.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from analysis.errors import PipelineError
from analysis.prereg.plan import read_yaml
from analysis.runtime import atomic

__all__ = ["SCHEMA_PATH", "spec_record", "write_spec_record", "read_spec_record", "write_rule_spec_record"]

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "spec_record.schema.yaml"


@functools.cache
def _schema() -> dict:
    return read_yaml(SCHEMA_PATH)


def spec_record(**fields: Any) -> dict:
    """Build and validate a spec record.

    Parameters
    ----------
    **fields
        The record's fields (see the schema); optional fields default to None
        or empty.

    Returns
    -------
    dict
        The validated record.

    Raises
    ------
    PipelineError
        When the record breaks its schema (a programming error in a rule).
    """
    record = {
        "reference_arm": None, "covariance": None, "alpha": None, "multiplicity": None, "exclusions": [],
        "judge_aggregation": None, "seed": None, "diagnostics": None, "details": {},
    }
    record.update(fields)
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(record), key=str)
    if errors:
        raise PipelineError("spec record breaks its schema: " + "; ".join(error.message for error in errors))
    return record


def write_spec_record(record: dict, path: str | Path) -> None:
    """Write a spec record as sorted, indented JSON (deterministic bytes), atomically."""
    atomic.write_json(path, record)


def read_spec_record(path: str | Path) -> dict:
    """Read a spec record written by :func:`write_spec_record`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _executed_or_param(execution: dict, params, name: str):
    """``execution[name]`` (removed from ``execution``) when present, else the rule's param ``name``."""
    if name in execution:
        return execution.pop(name)
    try:
        return getattr(params, name)
    except AttributeError:
        raise PipelineError(
            f"analysis '{params.analysis_id}': the rule declares no `{name}` param and its execution record gives none; "
            f"declare it in the rule's params (an empty value when the analysis has none)"
        ) from None


def write_rule_spec_record(params, cohort: str, family: str, execution: dict, path: str | Path) -> dict:
    """Build, validate and write the spec record of a registered analysis rule.

    Parameters
    ----------
    params
        The rule's params (``snakemake.params``) holding ``analysis_id``,
        ``confirmatory``, ``exclusions`` (rule IDs) and ``judge_aggregation``.
        Every rule declares the last two, unless its execution record provides
        them; a rule reading ratings, not the trial, declares
        ``exclusions=[]`` and ``judge_aggregation=None``.
    cohort : str
        The cohort wildcard.
    family : str
        Output family of the rule.
    execution : dict
        What the analysis actually ran (estimator, terms, sample, ...). Its
        ``exclusions`` and ``judge_aggregation``, when present, replace the
        params' ones: an analysis that departs from the registered pipeline
        (one judge at a time) records what it ran.
    path : str or Path
        Where to write the record.

    Returns
    -------
    dict
        The record written.

    Raises
    ------
    PipelineError
        When neither the execution record nor the params give ``exclusions``
        or ``judge_aggregation`` (a rule that forgot to declare them).
    """
    execution = dict(execution)
    exclusions = _executed_or_param(execution, params, "exclusions")
    judge_aggregation = _executed_or_param(execution, params, "judge_aggregation")
    record = spec_record(
        analysis_id=params.analysis_id,
        family=family,
        cohort=cohort,
        confirmatory=params.confirmatory,
        exclusions=list(exclusions),
        judge_aggregation=None if judge_aggregation is None else dict(judge_aggregation),
        **execution,
    )
    write_spec_record(record, path)
    return record
