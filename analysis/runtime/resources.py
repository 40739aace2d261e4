"""Resources a rule asks a cluster scheduler for (Snakemake ``resources:``), estimated from the
cohort so that a larger cohort does not run out of memory on a cluster node, and what a SLURM
cluster offers (its nodes, whether it keeps accounting), so that the SLURM profile
(``workflow/profiles/slurm``) can cap and check those requests before a job is submitted.

Kept free of heavy imports: the Snakefile and the profile import it when they are read.
"""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import PipelineError

__all__ = [
    "BASE_MEMORY_MB", "DRAW_MEMORY_FACTOR", "BYTES_PER_VALUE", "count_participants", "bayes_memory_mb",
    "SLURM_QUERY_TIMEOUT_S", "ResourceRequestError", "SlurmNode", "parse_sinfo_nodes", "parse_accounting_storage",
    "slurm_nodes", "slurm_status_command", "largest_node_cpus", "check_fits_a_node",
]

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


SLURM_QUERY_TIMEOUT_S = 20


class ResourceRequestError(PipelineError):
    """A job asks for more CPUs or memory than any node of the cluster has."""


@dataclass(frozen=True)
class SlurmNode:
    """One node of a SLURM cluster as ``sinfo`` reports it (``%N``, ``%c``, ``%m``)."""

    name: str
    cpus: int
    memory_mb: int


def parse_sinfo_nodes(text: str) -> list[SlurmNode]:
    """Nodes from ``sinfo --noheader --Node --format '%N|%c|%m'`` (one line per node and partition).

    A node listed under several partitions is kept once.
    """
    nodes: dict[str, SlurmNode] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit() or not fields[2].strip().isdigit():
            raise ValueError(f"sinfo line {number}: {line!r}; expected 'name|cpus|memory_mb'")
        name = fields[0].strip()
        nodes[name] = SlurmNode(name, int(fields[1]), int(fields[2]))
    return list(nodes.values())


def parse_accounting_storage(scontrol_config: str) -> str | None:
    """``AccountingStorageType`` from ``scontrol show config``, or None when it is not listed."""
    for line in scontrol_config.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "AccountingStorageType":
            return value.strip()
    return None


def _query(command: Sequence[str]) -> str | None:
    """Standard output of a SLURM client command, or None where SLURM is not installed or does not answer."""
    if shutil.which(command[0]) is None:
        return None
    try:
        process = subprocess.run(command, capture_output=True, text=True, timeout=SLURM_QUERY_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return process.stdout if process.returncode == 0 else None


def slurm_nodes() -> list[SlurmNode] | None:
    """The nodes of the SLURM cluster this machine submits to, or None without a cluster that answers."""
    output = _query(["sinfo", "--noheader", "--Node", "--format", "%N|%c|%m"])
    if output is None:
        return None
    nodes = parse_sinfo_nodes(output)
    return nodes or None


def slurm_status_command() -> str | None:
    """The job status command that works on this cluster: ``sacct`` where the cluster keeps
    accounting, ``squeue`` where it does not (``AccountingStorageType=accounting_storage/none``:
    ``sacct`` then answers only "Slurm accounting storage is disabled"), None without a cluster.

    ``squeue`` sees a finished job for ``MinJobAge`` seconds (300 by default), longer than the
    executor plugin's longest pause between status checks (180 s).
    """
    config = _query(["scontrol", "show", "config"])
    if config is None:
        return None
    storage = parse_accounting_storage(config)
    if storage is None:
        return None
    return "squeue" if storage == "accounting_storage/none" else "sacct"


def largest_node_cpus(nodes: Sequence[SlurmNode] | None) -> int | None:
    """The most CPUs any node has (the cap on a rule's threads), or None without nodes."""
    return max(node.cpus for node in nodes) if nodes else None


def check_fits_a_node(rule: str, cpus: int, memory_mb: int, nodes: Sequence[SlurmNode], wildcards: str = "") -> None:
    """Raise :class:`ResourceRequestError` unless one node has both ``cpus`` CPUs and ``memory_mb`` MB.

    SLURM keeps a job that no node can hold pending for ever (reason ``PartitionConfig``) when it
    asks for too many CPUs, so the request is checked before the job is submitted.

    Parameters
    ----------
    rule : str
        The rule that asks, named in the message with how to change its request.
    cpus, memory_mb : int
        The request.
    nodes : sequence of SlurmNode
        The cluster's nodes (:func:`slurm_nodes`).
    wildcards : str
        The job's wildcards, for the message (e.g. ``"cohort=paper_sim"``).
    """
    if any(node.cpus >= cpus and node.memory_mb >= memory_mb for node in nodes):
        return
    largest = sorted(nodes, key=lambda node: (node.memory_mb, node.cpus), reverse=True)[:3]
    offered = "; ".join(f"{node.name}: {node.cpus} CPUs, {node.memory_mb} MB" for node in largest)
    job = f"rule {rule} ({wildcards})" if wildcards else f"rule {rule}"
    raise ResourceRequestError(
        f"{job} asks for {cpus} CPUs and {memory_mb} MB of memory, more than any node of this SLURM cluster has "
        f"(largest: {offered}). Send it to a partition with larger nodes, e.g. "
        f"--set-resources '{rule}:slurm_partition=\"bigmem\"', or set its request yourself, e.g. "
        f"--set-resources '{rule}:mem_mb=<MB>'."
    )
