"""The perception analysis against direct statsmodels, choix and scipy computations on fixed data."""

from __future__ import annotations

import choix
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from matplotlib.figure import Figure
from scipy import stats
from scipy.special import expit
from statsmodels.stats.proportion import proportion_confint

from analysis.cohorts.outcomes import derive_outcomes
from analysis.errors import AnalysisError, ConfigError
from analysis.render.perception import elo_table_keywords, perception_tables, plot_gap_bins
from analysis.secondary.perception import (
    CHOICE_COLUMNS,
    GAP_BIN_COLUMNS,
    LOGIT_COLUMNS,
    bradley_terry,
    choice_table,
    elo_analysis,
    fit_cluster_logit,
    gap_bins,
    perception_analysis,
)
from tests.conftest import make_small_cohort
from tests.plan_keywords import elo_keywords, perception_keywords


@pytest.fixture(scope="module")
def cohort(plan):
    tables = make_small_cohort(n_per_arm=15, judges=("only",), seed=8)
    outcomes = derive_outcomes(
        tables.participants, tables.conversations, tables.scores, tables.conversations, plan["outcomes"]["dimensions"],
        plan["outcomes"]["composite"], {"method": "mean", "judges": "all"}, plan["design"]["post_conversations"],
    )
    return tables.conversations, outcomes


@pytest.fixture(scope="module")
def perception(cohort):
    """80 raters with 6 pairs each (rater R80 with a single pair), choosing by a logistic rule in the gap,
    plus a pair with a composite tie and a pair showing a conversation that is not analysed."""
    conversations, outcomes = cohort
    rng = np.random.default_rng(3)
    composite = outcomes.set_index("conversation_id")["overall_empathy"]
    by_scenario = {name: group["conversation_id"].to_numpy() for name, group in outcomes.groupby("scenario")}
    rows = []
    for rater in range(1, 81):
        for pair in range(1, 2 if rater == 80 else 7):
            scenario = rng.choice(sorted(by_scenario))
            left, right = rng.choice(by_scenario[scenario], 2, replace=False)
            chose_left = rng.random() < expit(0.3 * (composite[left] - composite[right]))
            rows.append((f"R{rater:02d}", f"P{pair}", scenario, left, right, "left" if chose_left else "right"))
    frame = pd.DataFrame(rows, columns=["rater_id", "pair_id", "scenario", "conversation_left_id", "conversation_right_id", "choice"])
    ties = outcomes.groupby(["scenario", "overall_empathy"])["conversation_id"].apply(list)
    tie = next(ids for ids in ties if len(ids) >= 2)
    scenario = outcomes.set_index("conversation_id").loc[tie[0], "scenario"]
    extra = pd.DataFrame(
        [("R01", "P9", scenario, tie[0], tie[1], "left"), ("R02", "P9", "job_loss", "p000-1", "p004-1", "right")],
        columns=frame.columns,
    )
    return pd.concat([frame, extra], ignore_index=True)


@pytest.fixture(scope="module")
def analysed(cohort):
    """The analysed conversations without p004-1 (as if excluded upstream)."""
    _, outcomes = cohort
    return outcomes[outcomes["conversation_id"] != "p004-1"].reset_index(drop=True)


@pytest.fixture(scope="module")
def settings(plan):
    return dict(plan["secondary_analyses"]["perception"])


@pytest.fixture(scope="module")
def results(perception, analysed, settings):
    return perception_analysis(perception, analysed, **perception_keywords(settings))


# ------------------------------------------------------------------------------------- analysis


def test_choice_table_gap_and_higher_side(results, perception, analysed):
    choices = results.choices
    assert list(choices.columns) == CHOICE_COLUMNS
    shows_excluded = (perception[["conversation_left_id", "conversation_right_id"]] == "p004-1").any(axis=1)
    assert len(choices) == len(perception) - shows_excluded.sum()
    composite = analysed.set_index("conversation_id")["overall_empathy"]
    gap = choices["conversation_left_id"].map(composite) - choices["conversation_right_id"].map(composite)
    np.testing.assert_allclose(choices["gap"], gap)
    decided = choices[choices["gap"] != 0]
    expected = np.where(decided["gap"] > 0, decided["choice"] == "left", decided["choice"] == "right").astype(int)
    np.testing.assert_array_equal(decided["chose_higher"].to_numpy(dtype=int), expected)
    assert choices.loc[choices["gap"] == 0, "chose_higher"].isna().all()
    assert (choices.loc[choices["gap"] == 0, "higher_side"] == "tie").all()


def test_unanalysed_conversations_and_ties_are_listed_and_counted(results):
    left = results.left_out.set_index("record_id")
    assert "p004-1 is not among the analysed conversations" in left.loc["R02/P9", "reason"]
    unanalysed = results.left_out[results.left_out["analysis"] == "perception"]
    assert len(unanalysed) + len(results.choices) == results.execution["sample"]["n_choices"]
    ties = results.left_out[results.left_out["analysis"] == "logit_higher_outcome"]
    n_ties = int((results.choices["gap"] == 0).sum())
    assert n_ties >= 1 and len(ties) == n_ties and "R01/P9" in set(ties["record_id"])
    assert results.logit_fit["n_left_out"].iloc[0] == n_ties
    assert results.logit_fit["n_used"].iloc[0] == len(results.choices) - n_ties


def test_logit_equals_direct_statsmodels_formula_fit(results):
    used = results.choices[results.choices["gap"] != 0].copy()
    used["y"] = used["chose_higher"].astype(float)
    reference = smf.logit("y ~ abs_gap + C(scenario)", used).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(used["rater_id"], sort=True)[0]}
    )
    ours = results.logit.set_index("term")
    assert list(results.logit.columns) == LOGIT_COLUMNS
    for term, name in {"intercept": "Intercept", "abs_gap": "abs_gap", "scenario[loss_dad]": "C(scenario)[T.loss_dad]",
                       "scenario[promotion]": "C(scenario)[T.promotion]"}.items():
        assert ours.loc[term, "estimate"] == pytest.approx(reference.params[name], abs=1e-8)
        assert ours.loc[term, "std_error"] == pytest.approx(reference.bse[name], abs=1e-8)
        assert ours.loc[term, "p_value"] == pytest.approx(reference.pvalues[name], abs=1e-8)
    assert ours.loc["abs_gap", "odds_ratio"] == pytest.approx(np.exp(reference.params["abs_gap"]))
    # the single-pair rater R80 is its own cluster
    assert ours["n_clusters"].iloc[0] == used["rater_id"].nunique() == 80
    assert results.logit_fit["n_raters"].iloc[0] == 80


def test_gap_bins_against_wilson_intervals(results, settings):
    bins = results.gap_bins
    assert list(bins.columns) == GAP_BIN_COLUMNS
    decided = results.choices[results.choices["gap"] != 0]
    assert bins["n"].sum() == len(decided)
    edges = settings["gap_bins"]
    low, high = edges[1], edges[2]
    inside = decided[(decided["abs_gap"] > low) & (decided["abs_gap"] <= high)]
    row = bins.iloc[1]
    k = int(inside["chose_higher"].sum())
    assert (row["n"], row["n_chose_higher"]) == (len(inside), k)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(proportion_confint(k, len(inside), 0.05, "wilson"))


def test_gap_beyond_the_last_edge_falls_in_the_last_bin():
    choices = pd.DataFrame({"higher_side": ["left", "right", "left"], "abs_gap": [1.0, 30.0, 0.5], "chose_higher": [1, 0, 1]})
    bins = gap_bins(choices, [0, 2, 24], "wilson", 0.05)
    assert bins["n"].tolist() == [2, 1]
    with pytest.raises(AnalysisError, match="increasing"):
        gap_bins(choices, [0, 4, 2], "wilson", 0.05)


def test_bradley_terry_equals_choix_and_the_maximum_likelihood_fit():
    rng = np.random.default_rng(1)
    items = [f"c{i}" for i in range(6)]
    truth = np.linspace(-1, 1, 6)
    pairs = [tuple(rng.choice(6, 2, replace=False)) for _ in range(400)]
    rows = [(items[a], items[b], "left" if rng.random() < expit(truth[a] - truth[b]) else "right") for a, b in pairs]
    choices = pd.DataFrame(rows, columns=["conversation_left_id", "conversation_right_id", "choice"])
    table = bradley_terry(choices, pd.DataFrame({"conversation_id": items, "scenario": "s", "outcome": truth}), "ilsr_pairwise", 1e-9)
    winners = [items.index(left if choice == "left" else right) for left, right, choice in rows]
    losers = [items.index(right if choice == "left" else left) for left, right, choice in rows]
    direct = choix.ilsr_pairwise(6, list(zip(winners, losers, strict=True)), alpha=1e-9)
    np.testing.assert_allclose(table["strength"], direct, atol=1e-10)
    # reference: the Bradley-Terry MLE as a logit on +1/-1 item indicators (first item fixed at 0)
    design = np.zeros((len(rows), 6))
    design[np.arange(len(rows)), [items.index(r[0]) for r in rows]] = 1.0
    design[np.arange(len(rows)), [items.index(r[1]) for r in rows]] = -1.0
    mle = sm.Logit((choices["choice"] == "left").to_numpy(float), design[:, 1:]).fit(disp=0).params
    np.testing.assert_allclose(table["strength"] - table["strength"].iloc[0], np.concatenate([[0.0], mle]), atol=1e-4)
    assert table["n_comparisons"].sum() == 2 * len(rows)
    assert table["n_wins"].sum() == len(rows)
    with pytest.raises(AnalysisError, match="bradley_terry.method"):
        bradley_terry(choices, pd.DataFrame({"conversation_id": items, "scenario": "s", "outcome": truth}), "mm", 0.01)


def test_rank_correlation_equals_scipy(results):
    scored = results.strengths.dropna(subset=["outcome"])
    reference = stats.spearmanr(scored["strength"], scored["outcome"])
    row = results.rank_correlations.iloc[0]
    assert (row["n"], row["rho"], row["p_value"]) == (len(scored), pytest.approx(reference.statistic), pytest.approx(reference.pvalue))
    assert results.strengths["outcome"].isna().sum() == 1  # p004-1 is shown but not analysed


def test_logit_failures_are_clear():
    design = pd.DataFrame({"intercept": np.ones(4), "abs_gap": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(AnalysisError, match="does not vary"):
        fit_cluster_logit(np.ones(4), design, pd.Series(["a", "a", "b", "b"]))
    with pytest.raises(AnalysisError, match="could not be fitted"):
        fit_cluster_logit(np.array([0.0, 0.0, 1.0, 1.0]), design, pd.Series(["a", "b", "c", "d"]))


# ------------------------------------------------------------------------------------- Elo


@pytest.fixture(scope="module")
def elo(results, analysed):
    shown = results.strengths["conversation_id"]
    rng = np.random.default_rng(9)
    composite = analysed.set_index("conversation_id")["overall_empathy"].reindex(shown)
    rating = 1500 + 40 * composite.fillna(0).to_numpy() + rng.normal(0, 60, len(shown))
    frame = pd.DataFrame({"conversation_id": shown.to_numpy(), "elo_rating": np.round(rating, 1)})
    frame = frame[frame["conversation_id"] != shown.iloc[0]].reset_index(drop=True)  # one shown conversation has no rating
    first = results.choices.iloc[3]
    tie_value = frame.loc[frame["conversation_id"] == first["conversation_left_id"], "elo_rating"]
    frame.loc[frame["conversation_id"] == first["conversation_right_id"], "elo_rating"] = float(tie_value.iloc[0])
    extra = pd.DataFrame({"conversation_id": ["never-shown"], "elo_rating": [1234.0]})
    return pd.concat([frame, extra], ignore_index=True)


def test_elo_agreement_and_rank_correlation(results, elo, settings):
    out = elo_analysis(results.choices, results.strengths, elo, **elo_keywords(settings))
    rating = elo.set_index("conversation_id")["elo_rating"]
    data = results.choices.assign(elo_left=results.choices["conversation_left_id"].map(rating),
                                  elo_right=results.choices["conversation_right_id"].map(rating))
    used = data.dropna(subset=["elo_left", "elo_right"])
    used = used[used["elo_left"] != used["elo_right"]].copy()
    used["agree"] = (used["choice"] == np.where(used["elo_left"] > used["elo_right"], "left", "right")).astype(float)
    reference = smf.logit("agree ~ abs_gap + C(scenario)", used).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(used["rater_id"], sort=True)[0]}
    )
    ours = out.logit.set_index("term")
    assert ours.loc["abs_gap", "estimate"] == pytest.approx(reference.params["abs_gap"], abs=1e-8)
    assert ours.loc["abs_gap", "std_error"] == pytest.approx(reference.bse["abs_gap"], abs=1e-8)
    assert out.logit_fit["n_used"].iloc[0] == len(used)
    assert out.logit_fit["n_left_out"].iloc[0] == len(results.choices) - len(used)
    reasons = out.left_out.groupby("analysis")["reason"].apply(list)
    assert any("equal Elo ratings" in reason for reason in reasons["logit_elo_agreement"])
    assert any("has no Elo rating" in reason for reason in reasons["logit_elo_agreement"])
    assert "has an Elo rating but was not shown in the perception task" in reasons["rank_bradley_terry_elo"]
    rated = results.strengths.assign(elo=results.strengths["conversation_id"].map(rating)).dropna(subset=["elo"])
    row = out.rank_correlations.set_index(["x", "y"]).loc[("bradley_terry", "elo")]
    assert row["n"] == len(rated) and row["rho"] == pytest.approx(stats.spearmanr(rated["strength"], rated["elo"]).statistic)


def test_elo_gap_covariate_is_per_hundred_points(results, elo, settings):
    out = elo_analysis(results.choices, results.strengths, elo, **{**elo_keywords(settings), "agreement_gap": "elo"})
    assert out.execution["details"]["covariate"] == "|Elo gap| / 100"
    assert out.logit.set_index("term").loc["abs_gap", "estimate"] > 0


@pytest.mark.parametrize(
    ("keyword", "value", "key"),
    [("zero_gap", "midpoint", "perception.zero_gap"), ("rank_correlation", "kendall", "perception.rank_correlation"),
     ("logit_covariance", "HC1", "perception.logit.covariance"), ("logit_cluster_by", "pair_id", "perception.logit.cluster_by")],
)
def test_an_unimplemented_fixed_option_is_refused(perception, analysed, settings, keyword, value, key):
    """Options echoed into the spec record accept only what runs, so the record cannot misreport the fit."""
    with pytest.raises(ConfigError, match=f"{key} '{value}'"):
        perception_analysis(perception, analysed, **{**perception_keywords(settings), keyword: value})


@pytest.mark.parametrize(
    ("keyword", "value", "key"),
    [("rank_correlation", "kendall", "perception.elo.rank_correlation"), ("agreement_gap", "both", "perception.elo.agreement_gap")],
)
def test_an_unimplemented_elo_option_is_refused(results, elo, settings, keyword, value, key):
    with pytest.raises(ConfigError, match=f"{key} '{value}'"):
        elo_analysis(results.choices, results.strengths, elo, **{**elo_keywords(settings), keyword: value})


def test_tables_and_figure(results, elo, settings):
    rendered = perception_tables(results.logit, results.logit_fit, results.rank_correlations, "demo", synthetic=True)
    assert rendered["perception"]["md"].startswith("SYNTHETIC DATA")
    assert "Absolute composite gap" in rendered["perception"]["md"]
    out = elo_analysis(results.choices, results.strengths, elo, **elo_keywords(settings))
    rendered = perception_tables(out.logit, out.logit_fit, out.rank_correlations, synthetic=False,
                                 **elo_table_keywords("composite", "demo"))
    assert "SYNTHETIC" not in rendered["perception_elo"]["md"] and "vs elo" in rendered["perception_elo"]["md"]
    figure = plot_gap_bins(results.gap_bins, results.curve, results.logit_fit, results.logit, synthetic=True)
    assert isinstance(figure, Figure) and figure._suptitle.get_text().startswith("SYNTHETIC DATA")


def test_predicted_curve_is_the_average_over_the_scenario_mix(results):
    used = results.choices[results.choices["gap"] != 0]
    params = results.logit.set_index("term")["estimate"]
    scenario_effect = used["scenario"].map(lambda name: params.get(f"scenario[{name}]", 0.0)).to_numpy()
    at = results.curve.iloc[10]
    expected = np.mean(expit(params["intercept"] + params["abs_gap"] * at["abs_gap"] + scenario_effect))
    assert at["predicted"] == pytest.approx(expected, abs=1e-12)


def test_choice_table_requires_the_outcome(perception, analysed):
    with pytest.raises(AnalysisError, match="warmth"):
        choice_table(perception, analysed, "warmth")


def test_a_single_scenario_drops_the_scenario_term_with_a_note(perception, analysed, settings, results, elo):
    """One scenario makes the registered dummies constant: the fit is |gap| alone, and it says so."""
    assert results.logit_fit["note"].iloc[0] == "" and results.execution["details"]["scenario_term"] == "fitted"
    scenario = perception["scenario"].value_counts().index[0]
    single = perception[perception["scenario"] == scenario].reset_index(drop=True)
    out = perception_analysis(single, analysed, **perception_keywords(settings))
    note = out.logit_fit["note"].iloc[0]
    assert "scenario term dropped" in note and f"only one scenario ({scenario})" in note
    assert out.execution["details"]["scenario_term"] == note and out.execution["details"]["scenario_reference"] is None
    assert list(out.logit["term"]) == ["intercept", "abs_gap"]
    used = out.choices[out.choices["higher_side"] != "tie"].astype({"chose_higher": float})
    reference = smf.logit("chose_higher ~ abs_gap", used).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(used["rater_id"], sort=True)[0]}
    )
    ours = out.logit.set_index("term")
    assert ours.loc["abs_gap", "estimate"] == pytest.approx(reference.params["abs_gap"], abs=1e-8)
    assert ours.loc["abs_gap", "std_error"] == pytest.approx(reference.bse["abs_gap"], abs=1e-8)
    rendered = perception_tables(out.logit, out.logit_fit, out.rank_correlations, "demo", synthetic=False)["perception"]["md"]
    assert "Scenario term dropped: only one scenario" in rendered and "first scenario in sorted order" not in rendered
    agreement = elo_analysis(out.choices, results.strengths, elo, **elo_keywords(settings))
    assert "scenario term dropped" in agreement.logit_fit["note"].iloc[0]
    assert not agreement.logit["term"].str.startswith("scenario").any()
