"""Resources a rule asks a cluster scheduler for (Snakemake ``resources:``), estimated from the
cohort so that a larger cohort does not run out of memory on a cluster node.

Kept free of heavy imports: the Snakefile imports it when it builds the DAG.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path

BASE_MEMORY_MB = 1500  # interpreter, PyMC/PyTensor/nutpie, the compiled model and the data
DRAW_MEMORY_FACTOR = 2.5  # copies of the draws alive at once (sampler storage, InferenceData, thinning)
BYTES_PER_VALUE = 8


def count_participants(outcomes_path: str | Path) -> int:
    """Distinct ``participant_id`` values in a conversation-level outcomes table."""
    with Path(outcomes_path).open(encoding="utf-8", newline="") as handle:
        return len({row["participant_id"] for row in csv.DictReader(handle)})


def bayes_memory_mb(n_participants: int, n_effects_per_participant: int, sampler: Mapping) -> int:
    """Memory (MB) to request for a Bayesian fit.

    The participant effects dominate: every chain holds ``draws x thin`` iterations of
    ``n_participants x n_effects_per_participant`` values (float64) until thinning, and they are
    copied while the InferenceData is built. Measured on paper_sim (968 participants x 6 effects,
    4 chains x 4000 iterations): max RSS 2,688 MB for the ordinal fit, 1,106 MB for the composite
    (logs/fit_bayes_*/paper_sim.benchmark.tsv); this estimate gives 3,273 and 1,796.
    """
    iterations = sampler["chains"] * sampler["draws"] * sampler.get("thin", 1)
    draws_mb = n_participants * n_effects_per_participant * iterations * BYTES_PER_VALUE / 2**20
    return int(math.ceil(BASE_MEMORY_MB + DRAW_MEMORY_FACTOR * draws_mb))
