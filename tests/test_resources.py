"""Cluster resource requests estimated from the cohort (analysis.resources)."""

from __future__ import annotations

import pandas as pd

from analysis.resources import BASE_MEMORY_MB, bayes_memory_mb, count_participants

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
