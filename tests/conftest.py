"""Shared fixtures: a small valid cohort built by hand, the registered plan, and the pilot release.

The pilot release is found the way the pipeline finds it (:func:`analysis.adapters.pilot_release.locate_release`):
the local copy at the default config's path, else the pinned download cached under ``data/downloads/``
(verified file by file), else the tests that need it skip with one line saying why. Where a local copy
exists, or under CI (``CI=true``), such a skip is turned into a failure (:func:`pytest_runtest_makereport`),
so a run with the data cannot silently leave the pilot's tests out.

`make test` spreads the suite over pytest-xdist workers a module at a time (:func:`pytest_xdist_make_scheduler`),
so that a module's fixtures are made once; the modules that share the end-to-end run ``release_run``
(:data:`tests.workflow_runs.RUN_GROUPS`) go to the same worker, and so do the modules that share
``simulated_run``, and those that sample with nutpie in their own process (:data:`IN_PROCESS_SAMPLING`).
The end-to-end modules are queued first, the shared runs' first of all (:func:`pytest_collection_modifyitems`),
so that the longest work starts at once and the short unit tests fill the gaps.
"""

from __future__ import annotations

import os

import threadpoolctl

# `make test` runs one pytest-xdist worker per core. A BLAS starting a thread per core in every worker
# oversubscribes the cores, and its waiting threads spin: a fourteenth of the suite's CPU time, measured
# (docs/performance.md). One BLAS thread per worker: the environment for the libraries loaded later and
# the processes the tests start, threadpoolctl for the ones the pytest plugins loaded already.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    BLAS_LIMIT = threadpoolctl.threadpool_limits(limits=1)

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.adapters.download import ReleaseChecksumError, ReleaseDownloadError
from analysis.adapters.pilot_release import (
    DEFAULT_BASE_URL,
    download_release,
    import_pilot_release,
    locate_release,
    manifest_inputs,
    read_manifest,
    verify_release,
)
from analysis.cohorts.native import CohortTables, write_native
from analysis.cohorts.outcomes import derive_outcomes
from analysis.constants import DIMENSIONS
from analysis.prereg.plan import load_prereg
from analysis.simulate.cohort import simulate_cohort
from tests import hypothesis_profiles  # noqa: F401  (registers and loads the Hypothesis profile: HYPOTHESIS_PROFILE)
from tests.workflow_runs import RELEASE_GROUP, RUN_GROUPS, build_release_run, build_simulated_run

REPO = Path(__file__).resolve().parent.parent
# The default config's local copy, resolved against the repository as Snakemake resolves it.
PILOT_DIR = (REPO / yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["cohorts"]["pilot"]["path"]).resolve()
# Where `make reproduce` caches the download for the default cohort `pilot` (workflow/rules/common.smk).
PILOT_DOWNLOADS = REPO / "data" / "downloads" / "pilot_release" / "pilot"
PILOT_UNAVAILABLE = "pilot release unavailable"


def running_in_ci() -> bool:
    """CI services set ``CI=true``."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class PilotRelease:
    """Where the tests read the pilot release from: ``root`` (upstream layout) or, when None, why not."""

    root: Path | None
    kind: str
    reason: str


@functools.cache
def resolve_pilot_release(local: Path = PILOT_DIR, downloads: Path = PILOT_DOWNLOADS, base_url: str = DEFAULT_BASE_URL) -> PilotRelease:
    """Find the pilot release (once per arguments): local copy, cached download (verified), new download, or none."""
    manifest = read_manifest()
    source = locate_release(str(local), downloads, base_url, manifest, cohort="pilot")
    if source.kind == "local":
        return PilotRelease(local, "local", "")
    try:
        if source.kind == "downloaded":
            verify_release(manifest_inputs(manifest, downloads), manifest)
            return PilotRelease(downloads, "downloaded", "")
        if source.kind == "download":
            download_release(base_url, downloads, manifest)
            return PilotRelease(downloads, "downloaded", "")
        # locate_release names the probe's failure in parentheses after the URL
        failure = source.message.split(f"cannot be downloaded from {base_url} (", 1)[-1].split("). Its outputs", 1)[0]
    except (ReleaseDownloadError, ReleaseChecksumError) as error:
        failure = str(error).splitlines()[0]
    return PilotRelease(None, "unavailable", f"{PILOT_UNAVAILABLE}: no copy at {local}, download failed: {failure}")


@pytest.fixture(scope="session")
def pilot_release_dir() -> Path:
    """The pilot release's folder (upstream layout), or a skip saying why there is none."""
    release = resolve_pilot_release()
    if release.root is None:
        pytest.skip(release.reason)
    return release.root


@pytest.fixture(scope="session")
def pilot_import(pilot_release_dir):
    """The pilot release imported once per session (read-only: tests must not modify its tables)."""
    manifest = read_manifest()
    return import_pilot_release(manifest_inputs(manifest, pilot_release_dir), manifest=manifest)


@pytest.fixture(scope="session")
def release_run(tmp_path_factory):
    """The suite's shared end-to-end run of a simulated release (tests/workflow_runs.py)."""
    return build_release_run(tmp_path_factory.mktemp("paper_release"))


@pytest.fixture(scope="session")
def release_dir(release_run):
    """The folder of the shared release run; its cohort `rel` has every family's outputs."""
    return release_run[0]


@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory):
    """The suite's shared end-to-end run of a simulated and a native cohort (tests/workflow_runs.py).

    The native cohort is judged partially: judge_b left one dimension of p003-2 unscored, so judge_a's
    complete set alone keeps that conversation."""
    cohort = make_small_cohort(n_per_arm=8)
    scores = cohort.scores
    partial = (scores["conversation_id"] == "p003-2") & (scores["judge"] == "judge_b") & (scores["dimension"] == "self_oriented")
    native = CohortTables(cohort.participants, cohort.conversations, cohort.messages, scores[~partial])
    return build_simulated_run(tmp_path_factory.mktemp("simulated"), native)


# The test modules that sample with nutpie in their own process. numba compiles its generic code for the
# sampler's callbacks once per process, so they share a worker (the progress test of tests/test_console.py
# took 4.4 s on a worker of its own, 2.2 s after tests/test_bayes.py).
IN_PROCESS_SAMPLING = dict.fromkeys(("tests/test_bayes.py", "tests/test_console.py"), "in_process_sampling")
# The modules of a group run on one worker: those that read one session-scoped run (RUN_GROUPS) must, or each
# worker would make the run again. (pytest-xdist's own `xdist_group` marks do not group under pytest 9.)
WORKER_GROUPS = {**RUN_GROUPS, **IN_PROCESS_SAMPLING}


def pytest_xdist_make_scheduler(config, log):
    """Schedule whole modules, with the modules of each group of :data:`WORKER_GROUPS` as one unit."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return WORKER_GROUPS.get(module, module)

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Queue the release run's modules first, then the simulated run's, then the other end-to-end modules,
    then the rest (the longest work starts at once; short unit tests fill the gaps)."""

    def rank(item) -> int:
        group = RUN_GROUPS.get(item.nodeid.split("::", 1)[0])
        if group is not None:
            return 0 if group == RELEASE_GROUP else 1
        return 2 if item.get_closest_marker("e2e") else 3

    items.sort(key=rank)  # stable: modules keep their order within a rank


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A pilot test skipped for want of the release fails instead where the release must be found:
    under CI, or when the local copy exists."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and PILOT_UNAVAILABLE in str(report.longrepr[2]):
        if running_in_ci() or PILOT_DIR.is_dir():
            report.outcome = "failed"
            report.longrepr = f"skipped although the pilot release must be available here (CI or {PILOT_DIR} exists): {report.longrepr[2]}"


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
