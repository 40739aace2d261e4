"""Cluster resource requests estimated from the cohort (analysis.runtime.resources)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.runtime.resources import (
    BASE_MEMORY_MB,
    ResourceRequestError,
    SlurmNode,
    bayes_memory_mb,
    check_fits_a_node,
    count_participants,
    largest_node_cpus,
    parse_accounting_storage,
    parse_sinfo_nodes,
    slurm_nodes,
    slurm_status_command,
)

REGISTERED_SAMPLER = {"chains": 4, "draws": 1000, "thin": 4}


def test_participants_are_counted_once_each(tmp_path):
    path = tmp_path / "conversation_scores.csv"
    pd.DataFrame({"conversation_id": ["a1", "a2", "b1", "c1", "c2", "c3"],
                  "participant_id": ["P1", "P1", "P2", "P3", "P3", "P3"]}).to_csv(path, index=False)
    assert count_participants(path) == 3


def test_memory_covers_what_the_paper_sim_fits_used():
    """Max RSS of the registered fits on paper_sim (968 participants; logs/fit_bayes_*/paper_sim.benchmark.tsv,
    `make reproduce` on 2026-11-26): ordinal 2,688 MB, composite 1,106 MB."""
    ordinal = bayes_memory_mb(968, 6, REGISTERED_SAMPLER)
    composite = bayes_memory_mb(968, 1, REGISTERED_SAMPLER)
    assert 2688 < ordinal < 2 * 2688 and 1106 < composite < 2 * 1106


def test_memory_grows_with_participants_iterations_and_thinning():
    small = bayes_memory_mb(100, 6, REGISTERED_SAMPLER)
    assert bayes_memory_mb(1000, 6, REGISTERED_SAMPLER) - BASE_MEMORY_MB > 9 * (small - BASE_MEMORY_MB)
    assert bayes_memory_mb(968, 6, {**REGISTERED_SAMPLER, "thin": 1}) < bayes_memory_mb(968, 6, REGISTERED_SAMPLER)
    assert bayes_memory_mb(968, 6, {"chains": 4, "draws": 4000}) == bayes_memory_mb(968, 6, REGISTERED_SAMPLER)


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
