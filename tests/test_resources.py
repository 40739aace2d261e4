"""Cluster resource requests estimated from the cohort (analysis.runtime.resources)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.runtime.resources import (
    ResourceRequestError,
    SlurmNode,
    bayes_memory_mb,
    bayes_runtime_minutes,
    bayes_trace_disk_mb,
    check_fits_a_node,
    count_participants,
    largest_node_cpus,
    parse_accounting_storage,
    parse_sinfo_nodes,
    slurm_nodes,
    slurm_status_command,
)

REGISTERED_SAMPLER = {"chains": 4, "draws": 1000, "thin": 4, "tune": 1000}
# The registered fits measured on paper_sim scaled 1x, 3x and 10x (968, 2,904 and 9,680 participants) on this
# 2-core machine (docs/performance.md, "Beyond 1x"), with the path each takes now: a trace of at most
# IN_MEMORY_TRACE_BYTES of draws in memory (1x, and the composite at 3x), a larger one on disk.
# - in memory, 1x: `make reproduce` on a quiet machine at commit 4535868 (logs/fit_bayes_*/paper_sim.benchmark.tsv),
#   2026-11-29; the composite at 3x: `benchmarks/bench_bayes.py --scale 3` at commit 0b53b53, 2026-11-29;
# - on disk, 3x: `benchmarks/bench_bayes.py --scale 3` at commit fd3bad8, 2026-11-29; 10x: in-process (the fit
#   function's wall time, the process's peak RSS), the composite with the registered sampler, the ordinal model
#   with 4 chains x (300 tuning + 100 x 4 kept) iterations.
MEASURED = [
    # (participants, effects, sampler, max RSS MB, wall s)
    (968, 6, REGISTERED_SAMPLER, 2900, 125.3),
    (2904, 6, REGISTERED_SAMPLER, 1047, 617.8),
    (9680, 6, {**REGISTERED_SAMPLER, "tune": 300, "draws": 100}, 1615, 501.7),
    (968, 1, REGISTERED_SAMPLER, 1064, 13.1),
    (2904, 1, REGISTERED_SAMPLER, 1045, 27.5),
    (9680, 1, REGISTERED_SAMPLER, 998, 131.6),
]


def test_participants_are_counted_once_each(tmp_path):
    path = tmp_path / "conversation_scores.csv"
    pd.DataFrame({"conversation_id": ["a1", "a2", "b1", "c1", "c2", "c3"],
                  "participant_id": ["P1", "P1", "P2", "P3", "P3", "P3"]}).to_csv(path, index=False)
    assert count_participants(path) == 3


@pytest.mark.parametrize(("participants", "effects", "sampler", "max_rss_mb", "seconds"), MEASURED)
def test_requests_cover_the_measured_fits_without_doubling_them(participants, effects, sampler, max_rss_mb, seconds):
    memory = bayes_memory_mb(participants, effects, sampler)
    assert max_rss_mb < memory < 2 * max_rss_mb
    minutes = bayes_runtime_minutes(participants, effects, sampler, cores=2)
    assert seconds / 60 < minutes < 6 * seconds / 60 + 5


def test_requests_grow_with_participants_iterations_and_fewer_cores():
    on_disk = {**REGISTERED_SAMPLER, "tune": 10**6}  # a trace too large for memory at any cohort size
    per_cohort = bayes_memory_mb(968, 6, on_disk) - bayes_memory_mb(0, 6, on_disk)
    assert bayes_memory_mb(9680, 6, on_disk) - bayes_memory_mb(0, 6, on_disk) == pytest.approx(10 * per_cohort, abs=10)
    assert bayes_memory_mb(968, 6, REGISTERED_SAMPLER) > bayes_memory_mb(968, 6, on_disk)  # the copies of a trace in memory
    assert bayes_trace_disk_mb(968, 6, REGISTERED_SAMPLER) == 0 < bayes_trace_disk_mb(968, 6, on_disk)
    assert bayes_runtime_minutes(9680, 6, REGISTERED_SAMPLER, 4) > bayes_runtime_minutes(968, 6, REGISTERED_SAMPLER, 4)
    assert bayes_runtime_minutes(968, 6, REGISTERED_SAMPLER, 2) > bayes_runtime_minutes(968, 6, REGISTERED_SAMPLER, 4)
    assert bayes_runtime_minutes(968, 6, {**REGISTERED_SAMPLER, "thin": 1}, 4) < bayes_runtime_minutes(968, 6, REGISTERED_SAMPLER, 4)
    assert bayes_trace_disk_mb(29040, 6, REGISTERED_SAMPLER) > 9 * bayes_trace_disk_mb(2904, 6, REGISTERED_SAMPLER)


def test_the_disk_request_covers_a_measured_trace():
    """`du` of the trace folder of nutpie.sample(..., zarr_store=nutpie.zarr_store.LocalStore(folder)) for the
    registered ordinal model on paper_sim (968 participants x 6 effects), 2 chains x (100 tuning + 100 kept)
    iterations: 51,268 KiB, of which 3 x 8.3-8.8 MiB per group for the participant effects, gradients and
    unconstrained draws; here scaled to 20,100 iterations, a trace too large for memory."""
    assert bayes_trace_disk_mb(968, 6, {"chains": 2, "draws": 100, "thin": 1, "tune": 20000}) > 51268 / 1024 * 20100 / 200


# What a SLURM cluster offers (the profile workflow/profiles/slurm reads it; tests/test_cluster.py runs it)

SINFO_TWO_PARTITIONS = "n1|2|20000\nn2|64|512000\nn1|2|20000\n"  # `sinfo --Node` lists n1 once per partition


def test_sinfo_nodes_are_read_once_each():
    nodes = parse_sinfo_nodes(SINFO_TWO_PARTITIONS)
    assert nodes == [SlurmNode("n1", 2, 20000), SlurmNode("n2", 64, 512000)]
    assert largest_node_cpus(nodes) == 64 and largest_node_cpus([]) is None and largest_node_cpus(None) is None


def test_an_unreadable_sinfo_line_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"sinfo line 2: 'n2\|many\|512000'"):
        parse_sinfo_nodes("n1|2|20000\nn2|many|512000\n")


def test_the_accounting_storage_is_read_from_scontrol():
    config = "AccountingStorageHost   = (null)\nAccountingStorageType   = accounting_storage/none\nMinJobAge = 300 sec\n"
    assert parse_accounting_storage(config) == "accounting_storage/none"
    assert parse_accounting_storage(config.replace("none", "slurmdbd")) == "accounting_storage/slurmdbd"
    assert parse_accounting_storage("MinJobAge = 300 sec\n") is None


def test_a_request_must_fit_one_node_in_both_cpus_and_memory():
    nodes = parse_sinfo_nodes("small|2|20000\nwide|64|8000\n")
    check_fits_a_node("fit_bayes_ordinal", 2, 20000, nodes)
    check_fits_a_node("fit_bayes_ordinal", 64, 8000, nodes)
    # 4 CPUs exist (wide) and 20000 MB exist (small), but not on one node
    with pytest.raises(ResourceRequestError) as raised:
        check_fits_a_node("fit_bayes_ordinal", 4, 20000, nodes, wildcards="cohort=paper_sim")
    message = str(raised.value)
    assert message.startswith("rule fit_bayes_ordinal (cohort=paper_sim) asks for 4 CPUs and 20000 MB of memory")
    assert "largest: small: 2 CPUs, 20000 MB; wide: 64 CPUs, 8000 MB" in message
    assert "--set-resources 'fit_bayes_ordinal:mem_mb=<MB>'" in message


def test_without_slurm_the_cluster_is_unknown(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert slurm_nodes() is None and slurm_status_command() is None
