"""The pre-registration audit catches every kind of deviation, and only deviations."""

from __future__ import annotations

import copy

import pytest
import yaml

from analysis.cohorts.exclusions import apply_exclusions
from analysis.cohorts.outcomes import derive_outcomes
from analysis.errors import ConfigError
from analysis.models.did import primary_analysis
from analysis.prereg.audit import (
    DEVIATION_KINDS,
    AuditError,
    compare_terms,
    factor_levels,
    failure_message,
    formula_terms,
    registered_analyses,
    render_markdown,
    run_audit,
    undeclared_deviations,
)
from analysis.prereg.lock import lock_status
from analysis.prereg.specs import spec_record
from analysis.simulate.cohort import simulate_cohort
from tests.conftest import REPO

FOUNDATION_SECTIONS = ("title", "registration", "design", "outcomes", "judge_aggregation", "exclusions", "hypotheses", "primary_analysis")
RECORD_PATH = "results/c/primary/spec.json"


@pytest.fixture(scope="module")
def base(plan):
    """A plan with only the foundation's sections, and what the primary rule records on a small cohort."""
    foundation = {key: copy.deepcopy(plan[key]) for key in FOUNDATION_SECTIONS}
    arms = foundation["design"]["arms"]
    cohort = simulate_cohort({arm: 12 for arm in arms}, seed=11, messages_per_conversation=3)
    excluded = apply_exclusions(cohort.participants, cohort.conversations, cohort.messages, cohort.scores, foundation["exclusions"],
                                foundation["outcomes"]["dimensions"], "all", 3, arms)
    outcomes = derive_outcomes(cohort.participants, cohort.conversations, cohort.scores, excluded.included,
                               foundation["outcomes"]["dimensions"], foundation["outcomes"]["composite"],
                               foundation["judge_aggregation"], foundation["design"]["post_conversations"])
    primary = foundation["primary_analysis"]
    results = primary_analysis(outcomes, primary["outcomes"], arms, foundation["design"]["reference_arm"], primary["alpha"],
                               primary["contrasts"]["method"], hypotheses=foundation["hypotheses"],
                               composite=foundation["outcomes"]["composite"]["name"])
    record = spec_record(analysis_id=primary["id"], family="primary", cohort="c", confirmatory=True,
                         exclusions=[rule["id"] for rule in foundation["exclusions"]],
                         judge_aggregation=dict(foundation["judge_aggregation"]), **results.execution)
    return {"plan": foundation, "record": record, "flow": excluded.flow, "coefficients": results.coefficients,
            "hypothesis_tests": results.hypotheses}


def audit(base, plan=None, records=None, hypothesis_tests=None, lock=None, declared=(), not_applicable=None):
    plan = plan or base["plan"]
    return run_audit(
        plan,
        {RECORD_PATH: base["record"]} if records is None else records,
        cohort="c",
        lock=lock or lock_status(plan, None),
        declared=declared,
        flow=base["flow"],
        hypothesis_tests=base["hypothesis_tests"] if hypothesis_tests is None else hypothesis_tests,
        not_applicable=not_applicable,
    )


def kinds(result):
    return sorted({deviation["kind"] for deviation in result["deviations"]})


def test_the_registered_primary_analysis_passes(base):
    result = audit(base)
    assert result["deviations"] == [] and result["summary"]["passed"]
    primary = result["analyses"][0]
    assert primary["status"] == "run"
    compared = {check["field"] for check in primary["records"][0]["checks"]}
    assert {"estimator", "outcomes", "terms", "reference_arm", "covariance", "multiplicity", "alpha", "exclusions",
            "judge_aggregation", "sample.n_participants"} <= compared
    assert all(check["matches"] for check in primary["records"][0]["checks"])


def test_hypotheses_report_the_registered_decisions(base):
    result = audit(base)
    rows = base["coefficients"].set_index(["outcome", "term"])
    decisions = base["hypothesis_tests"]
    h1 = next(h for h in result["hypotheses"] if h["id"] == "H1")
    assert h1["run_as_registered"] and h1["status"] == "tested" and len(h1["tests"]) == 6
    assert (h1["correction"], h1["sided"], h1["rule"]) == ("holm", "two-sided", "all")
    for test in h1["tests"]:
        row = rows.loc[(test["outcome"], "coach:post")]
        assert test["estimate"] == row["estimate"] and test["p_value"] == row["p_value"] and test["ci_low"] == row["ci_low"]
        assert test["p_adjusted"] >= test["p_value"]
        assert test["observed_direction"] == ("increase" if row["estimate"] > 0 else "decrease")
        assert test["direction_as_registered"] == (test["observed_direction"] == test["registered_direction"])
        assert test["significant"] == (test["p_adjusted"] < 0.05)
    verdicts = decisions[decisions["row"] == "verdict"].set_index("hypothesis")["verdict"]
    assert {h["id"]: h["verdict"] for h in result["hypotheses"]} == verdicts.to_dict()
    h4 = next(h for h in result["hypotheses"] if h["id"] == "H4")
    assert h4["rule"] == "composite_only" and [t["outcome"] for t in h4["tests"] if t["decides"]] == ["overall_empathy"]
    text = render_markdown(result)
    assert "holm correction within the outcome family" in text and "no (supporting)" in text


def test_a_csv_round_trip_of_the_decisions_gives_the_same_audit(base, tmp_path):
    import pandas as pd

    path = tmp_path / "hypothesis_tests.csv"
    base["hypothesis_tests"].to_csv(path, index=False)
    read = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert audit(base, hypothesis_tests=read)["hypotheses"] == audit(base)["hypotheses"]


def test_the_plan_amendments_are_listed_with_their_reasons(base):
    amendment = {"date": "2026-11-29", "sections": ["hypotheses"], "reason": "registered how each hypothesis is decided"}
    result = audit(base, plan=_plan_with(base["plan"], amendments=[amendment]))
    assert result["plan"]["amendments"] == [amendment] and result["summary"]["passed"]
    assert "| 2026-11-29 | hypotheses | registered how each hypothesis is decided |" in render_markdown(result)


def _with(record, **changes):
    changed = copy.deepcopy(record)
    changed.update(changes)
    return changed


def _plan_with(plan, **sections):
    changed = copy.deepcopy(plan)
    changed.update(sections)
    return changed


# One case per kind of deviation: how to provoke it from a clean run.
CASES = {
    "analysis_not_run": lambda b: {"plan": _plan_with(b["plan"], extra={"id": "extra_analysis", "confirmatory": False})},
    "outcomes_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], outcomes=b["record"]["outcomes"][:-1])}},
    "terms_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], terms=[*b["record"]["terms"], "age"])}},
    "exclusions_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], exclusions=["unscored_conversation"])}},
    "estimator_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], estimator="wls")}},
    "covariance_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], covariance={**b["record"]["covariance"], "type": "HC1"})}},
    "multiplicity_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], multiplicity={"family": "within_outcome", "method": "none"})}},
    "alpha_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], alpha=0.1)}},
    "judge_aggregation_changed": lambda b: {"records": {RECORD_PATH: _with(b["record"], judge_aggregation={"method": "median", "judges": "all"})}},
    "sample_mismatch": lambda b: {"records": {RECORD_PATH: _with(b["record"], sample={**b["record"]["sample"],
                                                                                      "n_participants": b["record"]["sample"]["n_participants"] - 1})}},
    "seed_changed": lambda b: {"plan": _plan_with(b["plan"], primary_analysis={**b["plan"]["primary_analysis"], "seed": 1}),
                               "records": {RECORD_PATH: _with(b["record"], seed=2)}},
    "sampler_changed": lambda b: {"plan": _plan_with(b["plan"], primary_analysis={**b["plan"]["primary_analysis"], "sampler": {"draws": 1000, "thin": 4}}),
                                  "records": {RECORD_PATH: _with(b["record"], details={"sampler": {"draws": 1000, "thin": 1}})}},
    "hypothesis_not_tested": lambda b: {"hypothesis_tests": b["hypothesis_tests"][~((b["hypothesis_tests"]["hypothesis"] == "H1")
                                                                                   & (b["hypothesis_tests"]["outcome"] == "self_oriented"))]},
    "unregistered_confirmatory": lambda b: {"records": {RECORD_PATH: b["record"],
                                                        "results/c/post_hoc/spec.json": _with(b["record"], analysis_id="post_hoc", family="post_hoc")}},
    "plan_amended": lambda b: {"lock": {"status": "amended", "sha256": "a" * 64, "locked_sha256": "b" * 64, "locked_on": "2026-01-01"}},
}


def test_every_kind_of_deviation_has_a_test():
    assert set(CASES) == set(DEVIATION_KINDS)


def test_every_kind_of_deviation_can_be_declared_in_the_config():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    kinds_enum = schema["properties"]["deviations"]["items"]["properties"]["kind"]["enum"]
    assert sorted(kinds_enum) == sorted(DEVIATION_KINDS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_of_deviation_is_caught(base, kind):
    result = audit(base, **CASES[kind](base))
    assert kinds(result) == [kind]
    deviation = result["deviations"][0]
    assert deviation["severity"] == DEVIATION_KINDS[kind][0]
    assert not deviation["declared"] and not result["summary"]["passed"]
    assert deviation["message"]
    assert kind in failure_message(result)
    assert "**NO**" in render_markdown(result)


def test_reference_arm_and_dropped_terms_are_model_changes(base):
    result = audit(base, records={RECORD_PATH: _with(base["record"], reference_arm="video")})
    assert kinds(result) == ["terms_changed"]
    dropped = [term for term in base["record"]["terms"] if term != "coach:post"]
    result = audit(base, records={RECORD_PATH: _with(base["record"], terms=dropped)})
    assert kinds(result) == ["terms_changed"]
    assert "registered terms without a fitted coefficient: ['coach:post']" in result["deviations"][0]["message"]


def test_a_registered_exploratory_analysis_presented_as_confirmatory_is_caught(base):
    plan = _plan_with(base["plan"], extra={"id": "extra", "confirmatory": False})
    records = {RECORD_PATH: base["record"], "results/c/extra/spec.json": _with(base["record"], analysis_id="extra", confirmatory=True)}
    result = audit(base, plan=plan, records=records)
    assert kinds(result) == ["unregistered_confirmatory"]
    assert result["deviations"][0]["analysis_id"] == "extra"


def test_unregistered_exploratory_analyses_are_listed_not_failed(base):
    records = {RECORD_PATH: base["record"], "results/c/x/spec.json": _with(base["record"], analysis_id="x", confirmatory=False)}
    result = audit(base, records=records)
    assert result["summary"]["passed"]
    assert result["unregistered_analyses"] == [{"analysis_id": "x", "path": "results/c/x/spec.json", "family": "primary", "confirmatory": False}]


def test_an_analysis_for_another_kind_of_cohort_is_not_applicable(base):
    plan = _plan_with(base["plan"], agreement={"id": "agreement", "confirmatory": False})
    result = audit(base, plan=plan, not_applicable={"agreement": "runs for ratings cohorts only"})
    assert result["summary"]["passed"]
    entry = next(a for a in result["analyses"] if a["analysis_id"] == "agreement")
    assert entry["status"] == "not applicable" and entry["reason"] == "runs for ratings cohorts only"


def test_declared_deviations_are_shown_as_declared(base):
    declared = [{"id": "late-alpha", "kind": "alpha_changed", "analysis_id": "primary_did", "reason": "the journal asked for 0.1"},
                {"id": "stale", "kind": "seed_changed", "analysis_id": None, "reason": "no longer applies here"}]
    result = audit(base, records={RECORD_PATH: _with(base["record"], alpha=0.1)}, declared=declared)
    assert result["summary"]["passed"] and result["summary"]["n_declared"] == 1
    deviation = result["deviations"][0]
    assert deviation["declared"] and deviation["declaration_id"] == "late-alpha" and deviation["reason"] == "the journal asked for 0.1"
    assert [d["id"] for d in result["unmatched_declarations"]] == ["stale"]
    assert undeclared_deviations(result) == []
    hypotheses = {h["id"]: h for h in result["hypotheses"]}
    assert not hypotheses["H1"]["run_as_registered"]  # the primary analysis deviated, if declaredly
    text = render_markdown(result)
    assert "yes (late-alpha)" in text and "the journal asked for 0.1" in text and "stale" in text


def test_a_declaration_for_another_analysis_does_not_cover(base):
    declared = [{"id": "other", "kind": "alpha_changed", "analysis_id": "mixed_lmm", "reason": "concerns another analysis"}]
    result = audit(base, records={RECORD_PATH: _with(base["record"], alpha=0.1)}, declared=declared)
    assert not result["summary"]["passed"]


def test_a_registered_subset_may_be_smaller_but_never_larger(base):
    sample = {**base["record"]["sample"], "subset": "control arm"}
    smaller = _with(base["record"], sample={**sample, "n_participants": 5})
    assert audit(base, records={RECORD_PATH: smaller})["summary"]["passed"]
    larger = _with(base["record"], sample={**sample, "n_participants": base["record"]["sample"]["n_participants"] + 1})
    assert kinds(audit(base, records={RECORD_PATH: larger})) == ["sample_mismatch"]
    by_conversation = _with(base["record"], sample={"n_obs": base["record"]["sample"]["n_obs"] - 3, "unit": "conversation"})
    assert kinds(audit(base, records={RECORD_PATH: by_conversation})) == ["sample_mismatch"]


def test_an_analysis_registering_its_own_judges_is_not_held_to_the_plan_level_aggregation(base):
    plan = _plan_with(base["plan"], sensitivity={"id": "sens", "confirmatory": False, "judges": "all"})
    records = {RECORD_PATH: base["record"],
               "results/c/primary/sens.spec.json": _with(base["record"], analysis_id="sens", confirmatory=False,
                                                         judge_aggregation={"method": "single", "judges": ["gpt-4o"]})}
    assert audit(base, plan=plan, records=records)["summary"]["passed"]


def test_bayesian_fits_are_held_to_the_sampler_and_seed_of_their_enclosing_section(base):
    """``bayesian_models.sampler`` is registered beside the models it serves, not inside them."""
    sampler = {"engine": "nutpie", "chains": 4, "draws": 1000, "thin": 4, "tune": 1000, "seed": 7}
    plan = _plan_with(base["plan"], bayesian_models={"sampler": sampler, "ordinal": {"id": "bayes_ordinal", "confirmatory": False}})
    executed = {key: value for key, value in sampler.items() if key != "seed"}
    bayes = _with(base["record"], analysis_id="bayes_ordinal", family="bayes", confirmatory=False, estimator="pymc_nutpie_nuts",
                  terms=[], seed=7, details={"sampler": {**executed, "backend": "numba"}})
    bayes_path = "results/c/bayes/ordinal.spec.json"

    def audited(record):
        return audit(base, plan=plan, records={RECORD_PATH: base["record"], bayes_path: record})

    result = audited(bayes)
    assert result["summary"]["passed"]
    entry = next(a for a in result["analyses"] if a["analysis_id"] == "bayes_ordinal")
    checks = {check["field"]: check for check in entry["records"][0]["checks"]}
    assert checks["sampler"]["planned"] == executed and checks["seed"]["matches"]
    unthinned = audited(_with(bayes, details={"sampler": {**executed, "thin": 1}}))
    assert kinds(unthinned) == ["sampler_changed"] and "['thin']" in unthinned["deviations"][0]["message"]
    assert kinds(audited(_with(bayes, seed=8))) == ["seed_changed"]


def test_registered_analyses_are_found_at_any_depth_and_must_be_unique(plan):
    found = registered_analyses({"design": {}, "a": {"id": "a", "confirmatory": True, "b": {"id": "b"}}, "c": [{"id": "c1"}, {"x": 1}]})
    assert [(f.analysis_id, f.section, f.confirmatory) for f in found] == [("a", "a", True), ("b", "a.b", False), ("c1", "c[0]", False)]
    with pytest.raises(ConfigError, match="more than once"):
        registered_analyses({"a": {"id": "same"}, "b": {"id": "same"}})
    assert "primary_did" in [f.analysis_id for f in registered_analyses(plan)]


def test_formula_terms_and_fitted_names(plan):
    assert formula_terms({"formula": "score ~ arm * post + scenario + (1 | participant_id)"}) == ["arm", "post", "arm:post", "scenario"]
    assert formula_terms({"terms": ["arm", "post", "arm:post"]}) == ["arm", "post", "arm:post"]
    assert formula_terms({"outcome": "x"}) is None
    levels = factor_levels(plan)
    fitted = ["Intercept", "C(arm, Treatment('control'))[T.coach]", "video", "post", "coach:post", "scenario[T.job_loss]", "loss_dad"]
    assert compare_terms(["arm", "post", "arm:post", "scenario"], fitted, levels) == ([], [])
    assert compare_terms(["arm", "post", "arm:post"], ["intercept", "coach", "post"], levels) == (["arm:post"], [])
    required = {"arm": ["video", "coach", "combined"]}
    full = ["intercept", "video", "coach", "combined", "post", "video:post", "coach:post", "combined:post"]
    assert compare_terms(["arm", "post", "arm:post"], full, levels, required) == ([], [])
    assert compare_terms(["arm", "post", "arm:post"], [t for t in full if t != "video"], levels, required) == (["video"], [])
    assert compare_terms(["arm", "post"], ["coach", "post", "age"], levels) == ([], ["age"])


def test_failure_message_names_every_undeclared_deviation(base):
    result = audit(base, records={RECORD_PATH: _with(base["record"], alpha=0.1, estimator="wls")})
    message = failure_message(result)
    assert "2 undeclared deviation(s)" in message and "alpha_changed" in message and "estimator_changed" in message
    assert issubclass(AuditError, Exception)
