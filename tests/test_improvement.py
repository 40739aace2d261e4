"""Standardized improvement against direct statsmodels formula fits and a hand-written HC3 sandwich."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from matplotlib.figure import Figure
from scipy import stats

from analysis.cohorts.outcomes import derive_outcomes
from analysis.errors import AnalysisError, ConfigError
from analysis.render.improvement import improvement_tables, plot_improvement
from analysis.secondary.improvement import (
    ARM_SUMMARY_COLUMNS,
    COEFFICIENT_COLUMNS,
    HETEROGENEITY_COLUMNS,
    LEFT_OUT_COLUMNS,
    improvement_analysis,
    participant_improvement,
)
from tests.conftest import make_small_cohort
from tests.plan_keywords import improvement_keywords

ARMS = ["control", "video", "coach", "combined"]
ARM = "C(arm, Treatment('control'))"


@pytest.fixture(scope="module")
def data(plan):
    """Outcomes of 100 participants; p001 lost its post conversations, p002 its baseline; two
    participants report sex 'other', one has no sex and one no age."""
    cohort = make_small_cohort(n_per_arm=25, judges=("only",), seed=17)
    participants = cohort.participants.copy()
    participants["sex"] = participants["sex"].astype(object)
    participants.loc[[5, 40], "sex"] = "other"
    participants.loc[9, "sex"] = None
    participants["age"] = participants["age"].astype("Int64")
    participants.loc[12, "age"] = pd.NA
    conversations = cohort.conversations.copy()
    # every third participant starts with the personal scenario, so baseline trouble types vary
    flip = conversations["participant_id"].str[1:].astype(int) % 3 == 0
    first, third = flip & (conversations["conversation_number"] == 1), flip & (conversations["conversation_number"] == 3)
    for column in ("scenario", "trouble_type"):
        values = conversations[column].to_numpy().copy()
        values[first.to_numpy()], values[third.to_numpy()] = values[third.to_numpy()], values[first.to_numpy()]
        conversations[column] = values
    outcomes = derive_outcomes(
        participants, conversations, cohort.scores, conversations, plan["outcomes"]["dimensions"],
        plan["outcomes"]["composite"], {"method": "mean", "judges": "all"}, plan["design"]["post_conversations"],
    )
    drop = ((outcomes["participant_id"] == "p001") & (outcomes["post"] == 1)) | (
        (outcomes["participant_id"] == "p002") & (outcomes["post"] == 0)
    )
    return outcomes[~drop].reset_index(drop=True), participants


@pytest.fixture(scope="module")
def settings(plan):
    return dict(plan["secondary_analyses"]["improvement"])


@pytest.fixture(scope="module")
def results(data, settings, plan):
    outcomes, participants = data
    return _run(outcomes, participants, settings, plan)


@pytest.fixture(scope="module")
def direct(data):
    """The reference participant table computed with plain pandas."""
    outcomes, participants = data
    wide = outcomes.pivot_table(index="participant_id", columns="conversation_number", values="overall_empathy")
    frame = pd.DataFrame({"baseline": wide[1], "post_mean": wide[[2, 3]].mean(axis=1)}).dropna()
    frame["improvement"] = frame["post_mean"] - frame["baseline"]
    frame = frame.join(participants.set_index("participant_id")[["arm", "sex", "age"]])
    control_sd = frame.loc[frame["arm"] == "control", "improvement"].std(ddof=1)
    frame["improvement_sd"] = frame["improvement"] / control_sd
    frame["baseline_z"] = (frame["baseline"] - frame["baseline"].mean()) / frame["baseline"].std(ddof=1)
    frame["age"] = frame["age"].astype(float)
    return frame.reset_index(), control_sd


def test_columns(results):
    assert list(results.coefficients.columns) == COEFFICIENT_COLUMNS
    assert list(results.arm_summary.columns) == ARM_SUMMARY_COLUMNS
    assert list(results.heterogeneity.columns) == HETEROGENEITY_COLUMNS
    assert list(results.left_out.columns) == LEFT_OUT_COLUMNS


def test_improvement_and_standardisers_equal_pandas(results, direct):
    frame, control_sd = direct
    ours = results.participants.set_index("participant_id")
    assert sorted(ours.index) == sorted(frame["participant_id"])
    reference = frame.set_index("participant_id").loc[ours.index]
    np.testing.assert_allclose(ours["improvement"], reference["improvement"], atol=1e-12)
    np.testing.assert_allclose(ours["improvement_sd"], reference["improvement_sd"], atol=1e-12)
    sds = results.standardisers.set_index("standardiser")
    assert sds.loc["control_change_sd", "sd"] == pytest.approx(control_sd, abs=1e-12)
    assert sds.loc["all_change_sd", "sd"] == pytest.approx(frame["improvement"].std(ddof=1), abs=1e-12)
    assert bool(sds.loc["control_change_sd", "registered"]) and not bool(sds.loc["all_change_sd", "registered"])


def test_participants_without_baseline_or_post_are_listed(results):
    listed = results.left_out[results.left_out["analysis"] == "improvement"].set_index("participant_id")["reason"]
    assert listed.to_dict() == {"p002": "no baseline conversation analysed", "p001": "no post-training conversation analysed"}


@pytest.mark.parametrize(("model", "formula"), [("arm", f"improvement_sd ~ {ARM}"), ("arm_baseline", f"improvement_sd ~ {ARM} + baseline_z")])
def test_arm_models_equal_statsmodels_formula_hc3(results, direct, model, formula):
    frame, _ = direct
    reference = smf.ols(formula, frame).fit(cov_type="HC3")
    ours = results.coefficients[results.coefficients["model"] == model].set_index("term")
    names = {"intercept": "Intercept", **{arm: f"{ARM}[T.{arm}]" for arm in ARMS[1:]}, "baseline": "baseline_z"}
    for term, name in names.items():
        if term not in ours.index:
            continue
        assert ours.loc[term, "estimate"] == pytest.approx(reference.params[name], abs=1e-10)
        assert ours.loc[term, "std_error"] == pytest.approx(reference.bse[name], abs=1e-10)
        assert ours.loc[term, "p_value"] == pytest.approx(reference.pvalues[name], abs=1e-10)
        assert ours.loc[term, "ci_low"] == pytest.approx(reference.conf_int().loc[name, 0], abs=1e-10)
    assert ours["r2"].iloc[0] == pytest.approx(reference.rsquared, abs=1e-12)


def test_hc3_equals_hand_written_sandwich(results, direct):
    frame, _ = direct
    x = np.column_stack([np.ones(len(frame))] + [(frame["arm"] == arm).to_numpy(float) for arm in ARMS[1:]])
    y = frame["improvement_sd"].to_numpy()
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    residual = y - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, bread, x)
    meat = x.T @ (x * (residual**2 / (1 - leverage) ** 2)[:, None])
    se = np.sqrt(np.diag(bread @ meat @ bread))
    ours = results.coefficients[results.coefficients["model"] == "arm"]
    np.testing.assert_allclose(ours["estimate"], beta, atol=1e-10)
    np.testing.assert_allclose(ours["std_error"], se, atol=1e-10)


def test_sex_moderation_and_wald_test(results, direct):
    frame, _ = direct
    part = frame[frame["sex"].isin(["female", "male"])]
    reference = smf.ols(f"improvement_sd ~ {ARM} * C(sex, Treatment('female'))", part).fit(cov_type="HC3")
    ours = results.coefficients[results.coefficients["model"] == "arm_x_sex"].set_index("term")
    assert ours.loc["coach:sex[male]", "estimate"] == pytest.approx(
        reference.params[f"{ARM}[T.coach]:C(sex, Treatment('female'))[T.male]"], abs=1e-10
    )
    assert ours.loc["sex[male]", "std_error"] == pytest.approx(reference.bse["C(sex, Treatment('female'))[T.male]"], abs=1e-10)
    assert ours["n_obs"].iloc[0] == len(part)
    interactions = [name for name in reference.params.index if ":" in name]
    wald = reference.wald_test(", ".join(f"{name} = 0" for name in interactions), scalar=True, use_f=False)
    row = results.wald.set_index("model").loc["arm_x_sex"]
    assert row["statistic"] == pytest.approx(float(wald.statistic), rel=1e-9)
    assert row["df"] == 3 and row["p_value"] == pytest.approx(float(wald.pvalue), rel=1e-9)
    listed = results.left_out[results.left_out["analysis"] == "arm_x_sex"]
    assert len(listed) == 3
    assert listed["reason"].str.contains("is missing").sum() == 1
    assert listed["reason"].str.contains("'other' is not a registered level").sum() == 2


def test_age_moderation_is_centred_per_unit(results, direct, settings):
    frame, _ = direct
    part = frame.dropna(subset=["age"]).copy()
    part["age_c"] = (part["age"] - part["age"].mean()) / settings["age_unit"]
    reference = smf.ols(f"improvement_sd ~ {ARM} * age_c", part).fit(cov_type="HC3")
    ours = results.coefficients[results.coefficients["model"] == "arm_x_age"].set_index("term")
    assert ours.loc["age", "estimate"] == pytest.approx(reference.params["age_c"], abs=1e-10)
    assert ours.loc["combined:age", "std_error"] == pytest.approx(reference.bse[f"{ARM}[T.combined]:age_c"], abs=1e-10)
    assert ours.loc["video", "estimate"] == pytest.approx(reference.params[f"{ARM}[T.video]"], abs=1e-10)
    assert (results.left_out["analysis"] == "arm_x_age").sum() == 1


def test_baseline_heterogeneity_by_trouble_type_and_sex(results, data, direct):
    outcomes, _ = data
    frame, _ = direct
    baseline = outcomes[(outcomes["conversation_number"] == 1) & outcomes["participant_id"].isin(frame["participant_id"])]
    table = results.heterogeneity.set_index(["outcome", "factor", "term"])
    for outcome in ("overall_empathy", "advice_giving"):
        reference = smf.ols(f"{outcome} ~ C(trouble_type, Treatment('workplace'))", baseline).fit(cov_type="HC3")
        name = "C(trouble_type, Treatment('workplace'))[T.personal]"
        row = table.loc[(outcome, "trouble_type", "trouble_type[personal]")]
        assert row["estimate"] == pytest.approx(reference.params[name], abs=1e-10)
        assert row["std_error"] == pytest.approx(reference.bse[name], abs=1e-10)
    merged = baseline.merge(frame[["participant_id", "sex"]], on="participant_id")
    merged = merged[merged["sex"].isin(["female", "male"])]
    reference = smf.ols("overall_empathy ~ C(sex, Treatment('female'))", merged).fit(cov_type="HC3")
    assert table.loc[("overall_empathy", "sex", "sex[male]"), "estimate"] == pytest.approx(
        reference.params["C(sex, Treatment('female'))[T.male]"], abs=1e-10
    )
    means = results.group_means.set_index(["outcome", "factor", "level"])
    assert means.loc[("overall_empathy", "trouble_type", "personal"), "mean"] == pytest.approx(
        baseline.loc[baseline["trouble_type"] == "personal", "overall_empathy"].mean()
    )


def test_a_single_baseline_trouble_type_is_listed_not_fitted(data, settings, plan):
    outcomes, participants = data
    workplace = outcomes.assign(trouble_type="workplace")
    result = _run(workplace, participants, settings, plan)
    assert "trouble_type" not in set(result.heterogeneity["factor"])
    listed = result.left_out[result.left_out["analysis"] == "baseline_trouble_type"]
    assert len(listed) == len(result.participants) and listed["reason"].str.contains("only one trouble type").all()


def test_arm_summary_t_intervals(results, direct):
    frame, _ = direct
    coach = frame.loc[frame["arm"] == "coach", "improvement_sd"]
    row = results.arm_summary.set_index("arm").loc["coach"]
    half = stats.t.ppf(0.975, len(coach) - 1) * coach.std(ddof=1) / np.sqrt(len(coach))
    assert row["n"] == len(coach) and row["mean"] == pytest.approx(coach.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((coach.mean() - half, coach.mean() + half))


def test_all_change_standardiser_rescales_the_effects(data, settings, plan, results):
    outcomes, participants = data
    other = _run(outcomes, participants, {**settings, "standardiser": "all_change_sd"}, plan)
    sds = results.standardisers.set_index("standardiser")["sd"]
    ratio = sds["control_change_sd"] / sds["all_change_sd"]
    first = results.coefficients[results.coefficients["model"] == "arm"]["estimate"].to_numpy()
    second = other.coefficients[other.coefficients["model"] == "arm"]["estimate"].to_numpy()
    np.testing.assert_allclose(second, first * ratio, atol=1e-12)


def test_several_baseline_conversations_are_refused(data):
    outcomes, participants = data
    with pytest.raises(AnalysisError, match="several baseline conversations"):
        participant_improvement(outcomes, participants, "overall_empathy", [3])


def test_an_arm_without_participants_is_refused(data, settings, plan):
    outcomes, participants = data
    with pytest.raises(AnalysisError, match="no participants for term"):
        _run(outcomes[outcomes["arm"] != "video"], participants, settings, plan)


def test_tables_and_figure(results, settings):
    rendered = improvement_tables(results.coefficients, results.wald, results.heterogeneity, results.standardisers,
                                  baseline_covariate=settings["baseline_covariate"], age_unit=settings["age_unit"],
                                  cohort="demo", synthetic=True)
    assert set(rendered) == {"improvement_effects", "baseline_heterogeneity"}
    text = rendered["improvement_effects"]["md"]
    assert text.startswith("SYNTHETIC DATA") and "Without baseline" in text and "Wald test" in text
    figure = plot_improvement(results.arm_summary, results.coefficients, ARMS, "control", settings["standardiser"], synthetic=False)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert len(figure.axes[0].patches) == len(ARMS)


def _run(outcomes, participants, settings, plan):
    return improvement_analysis(
        outcomes, participants, **improvement_keywords(settings), arms=ARMS, reference_arm="control",
        post_conversations=plan["design"]["post_conversations"], dimensions=plan["outcomes"]["dimensions"],
    )


@pytest.mark.parametrize(("key", "value"), [("covariance", "HC1"), ("baseline_covariate", "logged")])
def test_an_unimplemented_option_is_refused(data, settings, plan, key, value):
    """The covariance is echoed into the spec record, so it accepts only the one that runs."""
    outcomes, participants = data
    with pytest.raises(ConfigError, match=f"improvement.{key} '{value}'"):
        _run(outcomes, participants, {**settings, key: value}, plan)


@pytest.mark.parametrize("covariate", ["standardised", "raw"])
def test_a_constant_baseline_is_refused_naming_the_outcome(data, settings, plan, covariate):
    """A baseline SD of 0 would make the standardised baseline 0/0 (and the raw one collinear with the intercept)."""
    outcomes, participants = data
    flat = outcomes.copy()
    flat.loc[flat["conversation_number"] == 1, "overall_empathy"] = 3.0
    with pytest.raises(AnalysisError, match=r"'overall_empathy': not estimable, every participant has the same baseline"):
        _run(flat, participants, {**settings, "baseline_covariate": covariate}, plan)


def test_a_zero_registered_standardiser_is_refused_naming_outcome_and_standardiser(data, settings, plan):
    """Every control participant improves by 0.1: control_change_sd is 0 but for rounding (about 1e-16), and
    dividing by it would give effects of about 1e15 SD."""
    outcomes, participants = data
    shifted = outcomes.copy()
    control = shifted["arm"] == "control"
    baseline = shifted[control & (shifted["conversation_number"] == 1)].set_index("participant_id")["overall_empathy"]
    post = control & (shifted["conversation_number"] != 1) & shifted["participant_id"].isin(baseline.index)
    shifted.loc[post, "overall_empathy"] = shifted.loc[post, "participant_id"].map(baseline).to_numpy() + 0.1
    with pytest.raises(AnalysisError, match=r"'overall_empathy': not estimable, the registered standardiser control_change_sd"):
        _run(shifted, participants, settings, plan)
    # the other standardiser still has spread, and the participants are all there
    result = _run(shifted, participants, {**settings, "standardiser": "all_change_sd"}, plan)
    assert np.isfinite(result.participants["improvement_sd"]).all()


def test_a_constant_baseline_dimension_gets_a_not_estimable_row(data, settings, plan, results):
    outcomes, participants = data
    flat = outcomes.copy()
    flat.loc[flat["conversation_number"] == 1, "advice_giving"] = 2.0
    result = _run(flat, participants, settings, plan)
    assert (results.heterogeneity["note"] == "").all()
    rows = result.heterogeneity[result.heterogeneity["outcome"] == "advice_giving"]
    assert len(rows) == 1 and rows["term"].iloc[0] == "" and rows["estimate"].isna().all() and rows["p_value"].isna().all()
    assert rows["note"].iloc[0].startswith("not estimable: every baseline conversation has the same advice_giving (2)")
    others = result.heterogeneity[result.heterogeneity["outcome"] != "advice_giving"]
    assert (others["note"] == "").all() and np.isfinite(others["std_error"]).all()
    pd.testing.assert_frame_equal(result.coefficients, results.coefficients)
    rendered = improvement_tables(result.coefficients, result.wald, result.heterogeneity, result.standardisers,
                                  baseline_covariate=settings["baseline_covariate"], age_unit=settings["age_unit"],
                                  cohort="demo", synthetic=False)["baseline_heterogeneity"]["md"]
    assert "not estimable" in rendered and "nan" not in rendered.lower()
