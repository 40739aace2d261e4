"""What a perception rule writes: its tables, its spec record and, in its log, the sample and any departure from
the registered logit.

Both perception rules (analyse_perception and analyse_perception_elo) end the same way: every table of the
results goes to the rule's output of the same name and the execution record to its spec record (family
``perception``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.cohorts.native import write_csv
from analysis.prereg.specs import write_rule_spec_record

if TYPE_CHECKING:
    from analysis.secondary.perception import EloResults, PerceptionResults

__all__ = ["write_perception_results"]


def write_perception_results(
    results: PerceptionResults | EloResults,
    *,
    outputs: Mapping[str, str | Path],
    params,
    cohort: str,
    log: logging.Logger,
) -> None:
    """Write a perception analysis's tables and spec record; log its sample and the notes of its logit fit.

    Parameters
    ----------
    results : PerceptionResults or EloResults
        The analysis's results; each table field (all but ``execution``) is written as CSV.
    outputs : mapping
        Where each table goes, by field name, and ``spec``: where the spec record goes
        (``snakemake.output``).
    params
        The rule's params, as :func:`analysis.prereg.specs.write_rule_spec_record` reads them.
    cohort : str
        The cohort wildcard.
    log : logging.Logger
        The rule's log.
    """
    for field in dataclasses.fields(results):
        if field.name != "execution":
            write_csv(getattr(results, field.name), outputs[field.name])
    write_rule_spec_record(params, cohort, "perception", results.execution, outputs["spec"])
    log.info("sample: %s", results.execution["sample"])
    # a fit that departs from the registered model (scenario term dropped) must be visible in the log
    for note in results.logit_fit["note"]:
        if note:
            log.warning("%s", note)
