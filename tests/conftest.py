"""Shared fixtures: a small valid cohort built by hand, and the registered plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cohort import CohortTables, write_native
from analysis.constants import DIMENSIONS
from analysis.outcomes import derive_outcomes
from analysis.prereg import load_prereg
from analysis.simulate import simulate_cohort

REPO = Path(__file__).resolve().parent.parent
PILOT_DIR = REPO.parent / "shared" / "data" / "lend_an_ear_pilot"


def make_small_cohort(n_per_arm: int = 6, judges=("judge_a", "judge_b"), seed: int = 3) -> CohortTables:
    """A valid native cohort with known structure (not calibrated; for contract tests)."""
    rng = np.random.default_rng(seed)
    arms = ["control", "video", "coach", "combined"]
    n = n_per_arm * len(arms)
    participants = pd.DataFrame(
        {
            "participant_id": [f"p{i:03d}" for i in range(n)],
            "arm": np.repeat(arms, n_per_arm),
            "age": rng.integers(18, 70, n),
            "sex": rng.choice(["female", "male"], n),
            **{f"empathy_item_{k}": rng.integers(1, 6, n) for k in range(1, 9)},
        }
    )
    scenarios = ["job_loss", "promotion", "loss_dad"]
    conversations = pd.DataFrame(
        {
            "conversation_id": [f"{p}-{c}" for p in participants["participant_id"] for c in (1, 2, 3)],
            "participant_id": np.repeat(participants["participant_id"], 3).to_numpy(),
            "conversation_number": np.tile([1, 2, 3], n),
            "scenario": np.tile(scenarios, n),
            "trouble_type": np.tile(["workplace", "workplace", "personal"], n),
            "self_empathized": rng.integers(1, 6, 3 * n),
        }
    )
    messages = pd.DataFrame(
        {
            "conversation_id": np.repeat(conversations["conversation_id"], 2).to_numpy(),
            "turn": np.tile([1, 2], 3 * n),
            "role": np.tile(["seeker", "supporter"], 3 * n),
            "text": np.tile(['I lost my job, "suddenly".', "That sounds hard,\nI'm here."], 3 * n),
        }
    )
    keys = pd.MultiIndex.from_product(
        [conversations["conversation_id"], list(judges), list(DIMENSIONS)], names=["conversation_id", "judge", "dimension"]
    ).to_frame(index=False)
    keys["score"] = rng.integers(1, 6, len(keys)).astype(float)
    return CohortTables(participants=participants, conversations=conversations, messages=messages, scores=keys)


def simulated_outcomes(n_per_arm: int = 40, seed: int = 7) -> pd.DataFrame:
    """Conversation-level outcomes of a small calibrated simulated cohort (the pipeline's own steps)."""
    plan = load_prereg(REPO / "config" / "prereg.yaml")
    arms = plan["design"]["arms"]
    cohort = simulate_cohort({arm: n_per_arm for arm in arms}, seed=seed, messages_per_conversation=3)
    return derive_outcomes(
        cohort.participants, cohort.conversations, cohort.scores, cohort.conversations,
        plan["outcomes"]["dimensions"], plan["outcomes"]["composite"], plan["judge_aggregation"],
        plan["design"]["post_conversations"],
    )


@pytest.fixture(scope="session")
def plan() -> dict:
    return load_prereg(REPO / "config" / "prereg.yaml")


@pytest.fixture
def small_cohort() -> CohortTables:
    return make_small_cohort()


@pytest.fixture
def cohort_dir(tmp_path, small_cohort) -> Path:
    directory = tmp_path / "cohort"
    write_native(small_cohort, directory)
    return directory
