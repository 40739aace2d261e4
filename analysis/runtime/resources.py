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
    "BASE_MEMORY_MB", "MEMORY_MB_PER_EFFECT", "MEMORY_MB_PER_PARTICIPANT", "SAMPLING_SECONDS_PER_VALUE_ITERATION",
    "REFERENCE_VALUES", "SAMPLING_EXPONENT", "FIXED_SECONDS", "TRACE_BYTES_PER_VALUE_ITERATION", "IN_MEMORY_TRACE_BYTES",
    "IN_MEMORY_COPIES", "MEMORY_MARGIN", "TIME_MARGIN",
    "DISK_MARGIN", "count_participants", "trace_size_bytes", "bayes_memory_mb", "bayes_runtime_minutes",
    "bayes_trace_disk_mb",
    "SLURM_QUERY_TIMEOUT_S", "ResourceRequestError", "SlurmNode", "parse_sinfo_nodes", "parse_accounting_storage",
    "slurm_nodes", "slurm_status_command", "largest_node_cpus", "check_fits_a_node",
]

# The Bayesian fits' requests, fitted to the registered fits measured at 1x, 3x and 10x the trial on a
# 2-core machine (docs/performance.md, "Beyond 1x"; benchmarks/bench_bayes.py --scale K). A "value" is one
# participant effect (participants x effects per participant); an "iteration" is one of a chain's tuning or
# kept (draws x thin) iterations. The draws go to a trace on disk as they are made
# (analysis.models.bayes.sampled_trace), so memory grows with the participants, not with the iterations.
BASE_MEMORY_MB = 500  # interpreter, PyMC/PyTensor/nutpie
MEMORY_MB_PER_EFFECT = 90  # the compiled model grows with the effects per participant
MEMORY_MB_PER_PARTICIPANT = 0.07  # data, gradients, the posterior predictive draws, diagnostics
# Sampling seconds per value and iteration of one chain on one core at paper_sim's ordinal model (5,808 values);
# the cost per value grows as values ** SAMPLING_EXPONENT (longer trajectories on a larger posterior).
SAMPLING_SECONDS_PER_VALUE_ITERATION = 1.92e-6
REFERENCE_VALUES = 5808
SAMPLING_EXPONENT = 0.48
FIXED_SECONDS = 120  # start-up, compilation (cold cache), posterior predictive draws, diagnostics, writing
TRACE_BYTES_PER_VALUE_ITERATION = 24  # participant effects, gradient and unconstrained draw, float64
# A trace of at most this many bytes of draws (unconstrained values x chains x iterations, float64) is
# sampled into memory, where nutpie's conversion keeps about IN_MEMORY_COPIES copies alive (fitted to
# paper_sim's fits: 2,900 and 1,064 MB for the ordinal and composite models, 1,045 MB for the composite at
# 3x); a larger one goes to disk. paper_sim's ordinal fit (0.9 GB of draws) stays in memory, as fast as
# before; at 3x (2.7 GB) it would need 8.6 GB of memory.
IN_MEMORY_TRACE_BYTES = 2**30
IN_MEMORY_COPIES = 1.9
MEMORY_MARGIN = 1.25  # over the fitted line, which lies above every measurement
TIME_MARGIN = 1.5  # over the fitted time: another CPU, another cohort's posterior geometry
DISK_MARGIN = 1.25


def count_participants(outcomes_path: str | Path) -> int:
    """Distinct ``participant_id`` values in a conversation-level outcomes table."""
    with Path(outcomes_path).open(encoding="utf-8", newline="") as handle:
        return len({row["participant_id"] for row in csv.DictReader(handle)})


def _iterations_per_chain(sampler: Mapping) -> int:
    return int(sampler["tune"]) + int(sampler["draws"]) * int(sampler.get("thin", 1))


def trace_size_bytes(n_values: int, sampler) -> float:
    """Bytes of a fit's draws: ``n_values`` float64 values per iteration (tuning included) of every chain.

    Parameters
    ----------
    n_values : int
        Values sampled per iteration (the model's unconstrained dimension, or its participant effects).
    sampler
        The registered sampler, as a mapping (``bayesian_models.sampler``) or as an object with the same
        attributes (``chains``, ``tune``, ``draws``, ``thin``).

    Returns
    -------
    float
        ``8 x n_values x chains x (tune + draws x thin)``.
    """
    settings = sampler if isinstance(sampler, Mapping) else vars(sampler)
    return 8.0 * n_values * int(settings["chains"]) * _iterations_per_chain(settings)


def bayes_memory_mb(n_participants: int, n_effects_per_participant: int, sampler: Mapping) -> int:
    """Memory (MB) to request for a Bayesian fit: a line in the participants, with a margin, plus the
    copies of the draws when the trace is small enough to be sampled into memory.

    Parameters
    ----------
    n_participants : int
        Participants in the cohort.
    n_effects_per_participant : int
        Participant effects the model samples (6 for the ordinal model, 1 for the composite).
    sampler : Mapping
        The registered ``bayesian_models.sampler``.

    Returns
    -------
    int
        ``MEMORY_MARGIN x (BASE_MEMORY_MB + MEMORY_MB_PER_EFFECT x effects + MEMORY_MB_PER_PARTICIPANT x
        participants + in-memory draws)``, rounded up; the draws count ``IN_MEMORY_COPIES`` times their
        :func:`trace_size_bytes` when that is at most ``IN_MEMORY_TRACE_BYTES``, else nothing.
    """
    estimate = BASE_MEMORY_MB + MEMORY_MB_PER_EFFECT * n_effects_per_participant + MEMORY_MB_PER_PARTICIPANT * n_participants
    trace = trace_size_bytes(n_participants * n_effects_per_participant, sampler)
    if trace <= IN_MEMORY_TRACE_BYTES:
        estimate += IN_MEMORY_COPIES * trace / 2**20
    return int(math.ceil(MEMORY_MARGIN * estimate))


def bayes_runtime_minutes(n_participants: int, n_effects_per_participant: int, sampler: Mapping, cores: int) -> int:
    """Wall time (minutes) to request for a Bayesian fit.

    Parameters
    ----------
    n_participants, n_effects_per_participant : int
        As for :func:`bayes_memory_mb`.
    sampler : Mapping
        The registered ``bayesian_models.sampler`` (``chains``, ``draws``, ``thin``, ``tune``).
    cores : int
        CPUs the job gets (the chains share them).

    Returns
    -------
    int
        ``TIME_MARGIN x (FIXED_SECONDS + sampling)`` in minutes, rounded up. Sampling costs
        ``SAMPLING_SECONDS_PER_VALUE_ITERATION x (values / REFERENCE_VALUES) ** SAMPLING_EXPONENT`` per value
        and iteration of a chain; the chains take turns on ``cores``.
    """
    chains = int(sampler["chains"])
    rounds = math.ceil(chains / max(1, min(cores, chains)))
    values = n_participants * n_effects_per_participant
    per_value = SAMPLING_SECONDS_PER_VALUE_ITERATION * (values / REFERENCE_VALUES) ** SAMPLING_EXPONENT
    sampling = per_value * values * _iterations_per_chain(sampler) * rounds
    return int(math.ceil(TIME_MARGIN * (FIXED_SECONDS + sampling) / 60))


def bayes_trace_disk_mb(n_participants: int, n_effects_per_participant: int, sampler: Mapping) -> int:
    """Disk (MB) the fit's trace takes in the job's temporary folder while it runs.

    Parameters
    ----------
    n_participants, n_effects_per_participant : int
        As for :func:`bayes_memory_mb`.
    sampler : Mapping
        The registered ``bayesian_models.sampler``.

    Returns
    -------
    int
        ``DISK_MARGIN x TRACE_BYTES_PER_VALUE_ITERATION`` per value and iteration of every chain; 0 for a
        trace sampled into memory (see :func:`bayes_memory_mb`).
    """
    values = n_participants * n_effects_per_participant
    if trace_size_bytes(values, sampler) <= IN_MEMORY_TRACE_BYTES:
        return 0
    trace = TRACE_BYTES_PER_VALUE_ITERATION * values * int(sampler["chains"]) * _iterations_per_chain(sampler)
    return int(math.ceil(DISK_MARGIN * trace / 2**20))


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
