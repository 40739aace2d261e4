"""End to end: the secondary analyses' rules, on the suite's shared release run and small native cohorts.

The analyses read the stand-in release's outcomes, traits and perception choices (cohort ``rel`` of
``release_run``, tests/workflow_runs.py); the simulated format's own perception task is made and checked by
the simulated run (tests/test_workflow.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv, write_native
from analysis.cohorts.optional import load_perception
from analysis.cohorts.outcomes import read_outcomes
from analysis.prereg.plan import load_prereg
from analysis.prereg.specs import spec_record
from analysis.secondary.improvement import improvement_analysis
from analysis.secondary.perception import perception_analysis
from analysis.secondary.silent_empathy import silent_empathy_analysis
from tests.conftest import REPO, make_small_cohort
from tests.plan_keywords import improvement_keywords, perception_keywords, silent_empathy_keywords
from tests.workflow_runs import RELEASE_PARTICIPANTS, SECONDARY_SPECS, SECONDARY_TABLES, dry_run_jobs, run_on_cohorts

pytestmark = pytest.mark.e2e

RULES = ["analyse_silent_empathy", "analyse_perception", "analyse_perception_elo", "analyse_improvement",
         "render_silent_empathy_tables", "render_perception_tables", "render_perception_elo_table", "render_improvement_tables"]
IMPORTED = "data/imported/paper_release/rel"


def test_outputs_logs_and_labels(release_run):
    workdir, release, _ = release_run
    for name in SECONDARY_TABLES:
        for extension in ("csv", "tex", "md"):
            text = (workdir / f"reports/rel/tables/{name}.{extension}").read_text(encoding="utf-8")
            assert "SYNTHETIC DATA" in text, (name, extension)
    for rule in RULES:
        assert (workdir / "logs" / rule / "rel.log").is_file(), rule
    choices = pd.read_csv(workdir / "results/rel/perception/choices.csv")
    assert len(choices) == release.files["experiment_2"]["participant_choice"].isin(["left", "right"]).sum() > 0


def test_spec_records_are_valid_and_carry_the_registered_ids(release_dir):
    plan = load_prereg(REPO / "config" / "prereg.yaml")["secondary_analyses"]
    expected = [plan["silent_empathy"]["id"], plan["improvement"]["id"], plan["perception"]["id"], plan["perception"]["elo"]["id"]]
    for spec, analysis_id in zip(SECONDARY_SPECS, expected, strict=True):
        record = json.loads((release_dir / "results/rel" / spec).read_text(encoding="utf-8"))
        assert spec_record(**record) == record
        assert record["analysis_id"] == analysis_id and record["confirmatory"] is False
    improvement = json.loads((release_dir / "results/rel/improvement/spec.json").read_text(encoding="utf-8"))
    assert improvement["sample"]["n_participants"] == RELEASE_PARTICIPANTS
    assert improvement["covariance"]["type"] == "HC3"


def test_pipeline_numbers_equal_direct_fits(release_dir):
    choices = pd.read_csv(release_dir / "results/rel/perception/choices.csv", dtype={"rater_id": str})
    used = choices[choices["gap"] != 0].assign(y=lambda frame: frame["chose_higher"].astype(float))
    reference = smf.logit("y ~ abs_gap + C(scenario)", used).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(used["rater_id"], sort=True)[0]}
    )
    logit = pd.read_csv(release_dir / "results/rel/perception/logit.csv").set_index("term")
    assert logit.loc["abs_gap", "estimate"] == pytest.approx(reference.params["abs_gap"], abs=1e-8)
    assert logit.loc["abs_gap", "std_error"] == pytest.approx(reference.bse["abs_gap"], abs=1e-8)
    outcomes = pd.read_csv(release_dir / "results/rel/outcomes/conversation_scores.csv", dtype={"participant_id": str})
    wide = outcomes.pivot_table(index=["participant_id", "arm"], columns="conversation_number", values="overall_empathy").reset_index()
    wide["improvement"] = wide[[2, 3]].mean(axis=1) - wide[1]
    wide["improvement_sd"] = wide["improvement"] / wide.loc[wide["arm"] == "control", "improvement"].std(ddof=1)
    reference = smf.ols("improvement_sd ~ C(arm, Treatment('control'))", wide).fit(cov_type="HC3")
    coefficients = pd.read_csv(release_dir / "results/rel/improvement/coefficients.csv").set_index(["model", "term"])
    assert coefficients.loc[("arm", "coach"), "estimate"] == pytest.approx(reference.params["C(arm, Treatment('control'))[T.coach]"], abs=1e-10)
    assert coefficients.loc[("arm", "coach"), "std_error"] == pytest.approx(reference.bse["C(arm, Treatment('control'))[T.coach]"], abs=1e-10)
    traits = pd.read_csv(release_dir / "results/rel/silent_empathy/trait_correlations.csv").set_index("trait")
    participants = pd.read_csv(release_dir / "results/rel/validated/participants.csv", dtype={"participant_id": str}).set_index("participant_id")
    mean = outcomes.groupby("participant_id")["overall_empathy"].mean()
    jordan = participants[[f"empathy_item_{k}" for k in range(1, 8)]].sum(axis=1).loc[mean.index]
    assert traits.loc["jordan", "r"] == pytest.approx(np.corrcoef(jordan, mean)[0, 1], abs=1e-12)
    # beside the naive conversation-level numbers: the participant-clustered ones
    correlations = pd.read_csv(release_dir / "results/rel/silent_empathy/self_judged_correlations.csv")
    assert (correlations["bootstrap_resamples"] == 2000).all() and correlations["n_clusters"].between(2, RELEASE_PARTICIPANTS).all()
    assert (correlations["cluster_ci_low"] <= correlations["cluster_ci_high"]).all()
    gap = pd.read_csv(release_dir / "results/rel/silent_empathy/high_rating_gap.csv")
    assert (gap["clustered_test"] == "obuchowski").all() and gap["clustered_p_value"].between(0, 1).all()


def test_same_inputs_give_byte_identical_csvs(release_dir, tmp_path):
    """Recompute the analyses in process from the run's inputs: every CSV equals the pipeline's byte for byte."""
    plan = load_prereg(release_dir / "prereg.yaml")
    secondary = plan["secondary_analyses"]
    participants = read_validated(release_dir / "results/rel/validated/participants.csv", "participants")
    conversations = read_validated(release_dir / "results/rel/validated/conversations.csv", "conversations")
    outcomes = read_outcomes(release_dir / "results/rel/outcomes/conversation_scores.csv")
    outputs = {
        "results/rel/perception/logit.csv": perception_analysis(
            load_perception(release_dir / IMPORTED / "perception.csv", conversations), outcomes,
            **perception_keywords(secondary["perception"]),
        ).logit,
        "results/rel/silent_empathy/high_rating_gap.csv": silent_empathy_analysis(
            participants, conversations, outcomes,
            **silent_empathy_keywords(secondary["silent_empathy"], plan["outcomes"]["composite"]),
        ).high_rating_gap,
        "results/rel/improvement/coefficients.csv": improvement_analysis(
            outcomes, participants, **improvement_keywords(secondary["improvement"]), arms=plan["design"]["arms"],
            reference_arm=plan["design"]["reference_arm"], post_conversations=plan["design"]["post_conversations"],
            dimensions=plan["outcomes"]["dimensions"],
        ).coefficients,
    }
    for relative, frame in outputs.items():
        write_csv(frame, tmp_path / "again.csv")
        assert (tmp_path / "again.csv").read_bytes() == (release_dir / relative).read_bytes(), relative


def test_native_cohorts_run_the_perception_analysis_only_with_the_file(tmp_path):
    cohort = make_small_cohort(n_per_arm=4)
    write_native(cohort, tmp_path / "plain")
    write_native(cohort, tmp_path / "rated")
    ids = cohort.conversations
    pairs = pd.DataFrame({"rater_id": ["r1", "r1"], "pair_id": ["a", "b"], "scenario": ["job_loss", "promotion"],
                          "conversation_left_id": [ids["conversation_id"][0], ids["conversation_id"][1]],
                          "conversation_right_id": [ids["conversation_id"][3], ids["conversation_id"][4]], "choice": ["left", "right"]})
    pairs.to_csv(tmp_path / "rated" / "perception.csv", index=False)
    cohorts = {name: {"format": "native", "path": str(tmp_path / name)} for name in ("plain", "rated")}
    process = run_on_cohorts(tmp_path, cohorts, "--dry-run")
    assert process.returncode == 0, process.stderr[-3000:]
    jobs = dry_run_jobs(process.stdout + process.stderr)
    assert {"analyse_silent_empathy", "analyse_improvement"} <= jobs["plain"]
    assert not {"analyse_perception", "simulate_perception"} & jobs["plain"]
    assert "analyse_perception" in jobs["rated"] and "analyse_perception_elo" not in jobs["rated"]
