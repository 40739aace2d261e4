"""Tests of the expression taxonomy (analysis.secondary.taxonomy): phrases, log-odds, change, themes, recovery."""

from __future__ import annotations

import math
import time
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import sparse
from statsmodels.stats.multitest import multipletests

from analysis.cohorts.outcomes import derive_outcomes
from analysis.constants import DIMENSIONS, PRESCRIPTIVE_DIMENSIONS
from analysis.errors import AnalysisError, ConfigError
from analysis.prereg.keywords import mining_keywords
from analysis.secondary.taxonomy import (
    CHANGE_COLUMNS,
    LEFT_OUT_COLUMNS,
    PHRASE_SCORE_COLUMNS,
    TAXONOMY_COLUMNS,
    ChangeTest,
    SplitRule,
    TextNormalisation,
    did_of_proportions,
    expression_change,
    frequent_phrase_matrix,
    informative_prior,
    mine_phrases,
    monroe_log_odds,
    nested_phrases,
    participant_support,
    phrase_change,
    phrase_matrix,
    phrase_recovery,
    reference_ngrams,
    same_message_duplicates,
    split_conversations,
    supporter_sample,
    theme_change,
    top_changes,
)
from analysis.simulate.cohort import (
    DEFAULT_ARM_SIZES,
    PHRASE_BANKS,
    PHRASE_THEMES,
    SimulationParameters,
    code_planted_themes,
    planted_training_shifts,
    simulate_cohort,
)

RECOVERY_SEED = 20260301


@pytest.fixture(scope="module")
def settings(plan) -> dict:
    return plan["taxonomy"]


@pytest.fixture(scope="module")
def text(settings) -> TextNormalisation:
    return TextNormalisation.from_plan(settings["text"])


@pytest.fixture(scope="module")
def change_test(settings) -> ChangeTest:
    return ChangeTest.from_plan(settings["change"])


def _mining_keywords(settings, **overrides) -> dict:
    """The keywords of :func:`mine_phrases` from the registered ``taxonomy`` block, some replaced."""
    return {**mining_keywords(settings), **overrides}


def _outcomes(plan, cohort):
    return derive_outcomes(
        cohort.participants, cohort.conversations, cohort.scores, cohort.conversations,
        plan["outcomes"]["dimensions"], plan["outcomes"]["composite"], plan["judge_aggregation"],
        plan["design"]["post_conversations"],
    )


@pytest.fixture(scope="module")
def simulated(plan):
    """A default-size simulated cohort (968 participants, ~34k messages) and its outcomes."""
    cohort = simulate_cohort(DEFAULT_ARM_SIZES, seed=RECOVERY_SEED)
    return cohort, _outcomes(plan, cohort)


@pytest.fixture(scope="module")
def mined(simulated, settings):
    cohort, outcomes = simulated
    # CPU time of this process, not wall time: other jobs on the machine do not count against it
    start = time.process_time()
    results = mine_phrases(cohort.messages, outcomes, DIMENSIONS, **_mining_keywords(settings))
    return results, time.process_time() - start


# ------------------------------------------------------------------------------------------------
# The weighted log-odds of Monroe, Colaresi and Quinn (2008)


def test_monroe_log_odds_equals_the_log_odds_ratio_of_the_smoothed_two_by_two_table():
    """A second formulation: Monroe et al.'s delta_w is the log odds ratio of the 2 x 2 table
    [[y_a + a, n_a + a_0 - y_a - a], [y_b + a, n_b + a_0 - y_b - a]], computed here by statsmodels'
    Table2x2; their variance keeps only the two in-phrase cells of Woolf's variance (eq. 18-19), i.e.
    Table2x2's log_oddsratio_se^2 minus the two out-of-phrase cells."""
    from statsmodels.stats.contingency_tables import Table2x2

    y_a, y_b, prior = np.array([10, 5, 1]), np.array([2, 6, 8]), np.array([1.2, 1.1, 0.9])
    result = monroe_log_odds(y_a, y_b, prior)
    n_a, n_b, prior_total = y_a.sum(), y_b.sum(), prior.sum()
    for phrase in range(3):
        inside_a, inside_b = y_a[phrase] + prior[phrase], y_b[phrase] + prior[phrase]
        table = Table2x2(np.array([[inside_a, n_a + prior_total - inside_a], [inside_b, n_b + prior_total - inside_b]]))
        assert result["log_odds"][phrase] == pytest.approx(table.log_oddsratio, rel=1e-12)
        outside = 1 / (n_a + prior_total - inside_a) + 1 / (n_b + prior_total - inside_b)
        assert result["variance"][phrase] == pytest.approx(table.log_oddsratio_se**2 - outside, rel=1e-12)
    # the first phrase: odds 11.2 / 8 against 3.2 / 16, a ratio of exactly 7
    assert result["log_odds"][0] == pytest.approx(math.log(7), rel=1e-12)
    assert result["z"][0] == pytest.approx(math.log(7) / math.sqrt(1 / 11.2 + 1 / 3.2), rel=1e-12)


def test_monroe_log_odds_is_antisymmetric_and_zero_for_equal_groups():
    a, b, alpha = np.array([7, 3, 12]), np.array([4, 9, 2]), np.array([0.5, 0.4, 0.6])
    forward, backward = monroe_log_odds(a, b, alpha), monroe_log_odds(b, a, alpha)
    np.testing.assert_allclose(forward["z"], -backward["z"], rtol=1e-12)
    np.testing.assert_allclose(monroe_log_odds(a, a, alpha)["log_odds"], 0.0, atol=1e-15)


def test_informative_prior_scales_background_counts():
    np.testing.assert_allclose(informative_prior(np.array([10, 4, 1]), 0.1), [1.0, 0.4, 0.1])
    with pytest.raises(AnalysisError, match="positive prior"):
        informative_prior(np.array([3, 0]), 0.1)


# ------------------------------------------------------------------------------------------------
# Phrases


def test_phrase_matrix_normalises_and_counts_once_per_message(text):
    texts = pd.Series(
        [
            "Tell me MORE. Tell me more!",
            "I\u2019m here for you\u2014tell me more?",
            "I'm here, honestly",
            None,
        ]
    )
    matrix, phrases = phrase_matrix(texts, text=text, ngram_range=(2, 3))
    dense = pd.DataFrame(matrix.toarray(), columns=phrases)
    assert set(dense.to_numpy().ravel()) <= {0, 1}
    assert dense["tell me more"].tolist() == [1, 1, 0, 0]
    assert dense["i'm here"].tolist() == [0, 1, 1, 0]
    # Sentence boundaries are not crossed: "more tell" spans "MORE. Tell".
    assert "more tell" not in dense.columns and "more tell me" not in dense.columns
    assert "here honestly" in dense.columns  # commas do not end a sentence
    assert matrix.getnnz(axis=1)[3] == 0


def test_phrase_matrix_scrubs_contact_details_before_counting(text):
    texts = pd.Series(["email me at jane.doe@example.com today", "email me at jane.doe@example.com today"])
    _, phrases = phrase_matrix(texts, text=text, ngram_range=(2, 6))
    assert not any("example" in phrase or "jane" in phrase for phrase in phrases)
    assert "email me at email today" in set(phrases)


def test_phrase_matrix_with_vocabulary_keeps_its_order(text):
    matrix, phrases = phrase_matrix(pd.Series(["tell me more", "i am here for you"]), text=text, ngram_range=(2, 6),
                                    vocabulary=["i am here for you", "tell me more", "not there"])
    assert list(phrases) == ["i am here for you", "tell me more", "not there"]
    assert matrix.toarray().tolist() == [[0, 1, 0], [1, 0, 0]]


@pytest.mark.parametrize("chunk_size", [2, 3, 100])
def test_frequent_phrase_matrix_equals_the_pruned_full_matrix(text, chunk_size):
    # One pass (chunk_size 100) or two chunked passes: the same columns as pruning the full matrix.
    texts = pd.Series(["tell me more", "Tell me more. I hear you", "i hear you", None, "tell me more please", "okay"])
    full, every = phrase_matrix(texts, text=text, ngram_range=(2, 3))
    keep = full.getnnz(axis=0) >= 2
    matrix, phrases, n_found = frequent_phrase_matrix(texts, text=text, ngram_range=(2, 3), min_messages=2, chunk_size=chunk_size)
    assert list(phrases) == list(every[keep]) == ["hear you", "i hear", "i hear you", "me more", "tell me", "tell me more"]
    assert matrix.dtype == np.int8 and matrix.toarray().tolist() == full[:, keep].toarray().tolist()
    assert n_found == len(every)


def test_phrase_matrix_without_any_phrase_is_empty(text):
    matrix, phrases = phrase_matrix(pd.Series(["Okay.", "Hmm"]), text=text, ngram_range=(2, 6))
    assert matrix.shape == (2, 0) and len(phrases) == 0


def test_participant_support_counts_distinct_people():
    matrix = sparse.csr_matrix(np.array([[1, 0], [1, 1], [1, 0], [0, 1]]))
    support = participant_support(matrix, pd.Series(["p1", "p1", "p2", "p1"]))
    assert support.tolist() == [2, 1]


def test_nested_phrases_drop_parts_of_longer_phrases():
    phrases = ["tell me", "me more", "tell me more", "for you", "here for you", "pray for you"]
    support = np.array([100, 95, 95, 100, 50, 40])
    nested = nested_phrases(phrases, support, 0.9)
    assert dict(zip(phrases, nested)) == {
        "tell me": True, "me more": True, "tell me more": False,
        "for you": False, "here for you": False, "pray for you": False,
    }


def test_same_message_duplicates_keep_the_longest_phrase():
    matrix = sparse.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 1], [0, 0, 1, 1]]))
    phrases = ["b c d", "a b c d", "x y", "x y z"]
    assert same_message_duplicates(matrix, phrases).tolist() == [True, False, False, False]


def test_split_conversations_threshold_and_median():
    scores = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 2.5])
    threshold = split_conversations(scores, SplitRule("threshold", high_min=4, low_max=2))
    assert threshold.tolist() == [False, False, None, True, True, None]
    median = split_conversations(scores, SplitRule.from_plan({"method": "median"}))
    assert median.tolist() == [False, False, True, True, True, False]
    with pytest.raises(AnalysisError, match="split.method"):
        split_conversations(scores, SplitRule("tertile"))


def test_split_rule_describes_only_the_thresholds_given():
    assert SplitRule.from_plan({"method": "median"}).describe() == {"method": "median"}
    registered = {"method": "threshold", "high_min": 4, "low_max": 2}
    assert SplitRule.from_plan(registered).describe() == registered


# ------------------------------------------------------------------------------------------------
# The miner on a simulated cohort


def test_miner_outputs_and_privacy(mined, simulated, settings):
    results, seconds = mined
    assert list(results.phrase_scores.columns) == PHRASE_SCORE_COLUMNS
    assert list(results.taxonomy.columns) == TAXONOMY_COLUMNS
    assert list(results.left_out.columns) == LEFT_OUT_COLUMNS
    taxonomy = results.taxonomy
    assert taxonomy["phrase"].is_unique
    assert (taxonomy["support_participants"] >= settings["min_participants"]).all()
    assert taxonomy["n_words"].between(2, 6).all()
    assert set(results.phrase_scores["dimension"]) == set(DIMENSIONS)
    assert len(results.phrase_scores) == len(taxonomy) * len(DIMENSIONS)
    marked = taxonomy[taxonomy["marks"]]
    assert (marked["z"] >= settings["mining"]["z_threshold"]).all()
    expected = np.where(marked["dimension"].isin(PRESCRIPTIVE_DIMENSIONS), "prescriptive", "misattuned")
    assert (marked["direction"] == expected).all()
    assert (taxonomy.loc[~taxonomy["marks"], "category"] == "unassigned").all()
    texts = set(simulated[0].messages["text"].str.lower())
    assert not texts & set(taxonomy["phrase"]), "a whole message is shown as a phrase"
    assert seconds < 20, f"mining ~34k messages took {seconds:.1f} s of CPU"


def test_miner_ranks_planted_phrases_of_each_dimension_above_chance(mined, settings, text):
    results, _ = mined
    reference = reference_ngrams(PHRASE_BANKS, text=text, ngram_range=settings["ngram_range"])
    recovery = phrase_recovery(results.phrase_scores, reference).set_index("dimension")
    assert set(recovery.index) == set(DIMENSIONS)
    assert (recovery["n_reference"] >= 3).all()
    # Planted phrases outrank the others on their own dimension (AUC 0.5 is chance): achieved with this
    # seed 0.72 (validating, whose latent shares most with the other dimensions) to 1.0.
    assert (recovery["auc"] > 0.65).all(), recovery["auc"]
    assert (recovery["p_value"] < 0.01).all(), recovery["p_value"]
    assert (recovery["r_precision"] > recovery["chance_precision"]).all()
    top = results.taxonomy.set_index("phrase")
    assert top.loc["tell me more", "dimension"] == "encouraging_elaboration"
    assert top.loc["i am here for you", "dimension"] == "validating_emotions"
    assert top.loc["everything will be okay", "dimension"] == "dismissing_emotions"


def test_miner_lists_conversations_left_out(plan, settings):
    cohort = simulate_cohort({arm: 12 for arm in plan["design"]["arms"]}, seed=3, messages_per_conversation=8)
    outcomes = _outcomes(plan, cohort)
    dropped = outcomes["conversation_id"].iloc[:3].tolist()
    results = mine_phrases(cohort.messages, outcomes.iloc[3:], DIMENSIONS, **_mining_keywords(settings, min_participants=2))
    listed = results.left_out[results.left_out["level"] == "conversation"]
    assert listed["record_id"].tolist() == sorted(dropped)
    supporter = cohort.messages[cohort.messages["role"] == "supporter"]
    counts = supporter[supporter["conversation_id"].isin(dropped)].groupby("conversation_id").size()
    assert listed.set_index("record_id")["n_records"].to_dict() == counts.to_dict()
    assert results.execution["sample"]["n_messages"] == len(supporter) - counts.sum()


def test_miner_is_deterministic(plan, settings):
    cohort = simulate_cohort({arm: 15 for arm in plan["design"]["arms"]}, seed=4, messages_per_conversation=8)
    outcomes = _outcomes(plan, cohort)
    first = mine_phrases(cohort.messages, outcomes, DIMENSIONS, **_mining_keywords(settings))
    second = mine_phrases(cohort.messages, outcomes, DIMENSIONS, **_mining_keywords(settings))
    assert first.phrase_scores.equals(second.phrase_scores)
    assert first.taxonomy.equals(second.taxonomy)


def test_miner_refuses_when_no_phrase_reaches_k(plan, settings):
    cohort = simulate_cohort({arm: 2 for arm in plan["design"]["arms"]}, seed=4, messages_per_conversation=4)
    with pytest.raises(AnalysisError, match="at least 50 participants"):
        mine_phrases(cohort.messages, _outcomes(plan, cohort), DIMENSIONS, **_mining_keywords(settings, min_participants=50))


def test_miner_records_the_registered_settings_as_the_plan_gives_them(mined, settings):
    details = mined[0].execution["details"]
    mining = settings["mining"]
    assert details["text"] == dict(settings["text"])
    assert details["split"] == dict(mining["split"])
    assert details["prior"] == {**dict(mining["prior"]), "alpha_0": details["prior"]["alpha_0"]}
    assert details["drop_nested_share"] == settings["drop_nested_share"]


@pytest.mark.parametrize("keyword", ["prior_type", "prior_background"])
def test_miner_refuses_a_prior_it_does_not_implement(settings, keyword):
    key = f"taxonomy.mining.prior.{keyword.removeprefix('prior_')}"
    with pytest.raises(ConfigError, match=f"{key} 'other' is not supported"):
        mine_phrases(pd.DataFrame(), pd.DataFrame(), DIMENSIONS, **_mining_keywords(settings, **{keyword: "other"}))


# ------------------------------------------------------------------------------------------------
# Difference-in-differences of proportions


def _clustered_binary(seed: int, n_participants: int = 60):
    rng = np.random.default_rng(seed)
    participant = np.repeat(np.arange(n_participants), rng.integers(2, 9, n_participants))
    treated = (participant % 2 == 1).astype(int)
    post = rng.integers(0, 2, len(participant))
    propensity = rng.normal(0, 1, n_participants)[participant]
    columns = [
        (rng.random(len(participant)) < 1 / (1 + np.exp(-(-1 + propensity + 0.8 * treated * post)))).astype(int),
        (rng.random(len(participant)) < 0.3).astype(int),
        (rng.random(len(participant)) < 0.05).astype(int),
    ]
    return pd.DataFrame({"participant": participant, "treated": treated, "post": post}), np.column_stack(columns)


@pytest.mark.parametrize("seed", [1, 2])
def test_did_of_proportions_equals_statsmodels_cluster_fit(seed):
    design, outcomes = _clustered_binary(seed)
    result = did_of_proportions(sparse.csr_matrix(outcomes), design["treated"], design["post"], design["participant"])
    for column in range(outcomes.shape[1]):
        data = design.assign(y=outcomes[:, column])
        fit = smf.ols("y ~ treated * post", data).fit(cov_type="cluster", cov_kwds={"groups": data["participant"]})
        assert result.loc[column, "estimate"] == pytest.approx(fit.params["treated:post"], abs=1e-12)
        assert result.loc[column, "std_error"] == pytest.approx(fit.bse["treated:post"], rel=1e-10)
        assert result.loc[column, "p_value"] == pytest.approx(fit.pvalues["treated:post"], rel=1e-8)
    shares = design.assign(y=outcomes[:, 0]).groupby(["treated", "post"])["y"].mean()
    assert result.loc[0, "share_treated_after"] == pytest.approx(shares[(1, 1)])
    assert result.loc[0, "share_control_before"] == pytest.approx(shares[(0, 0)])


def test_did_of_proportions_without_variation_gives_no_test():
    design, _ = _clustered_binary(3)
    result = did_of_proportions(sparse.csr_matrix((len(design), 1)), design["treated"], design["post"], design["participant"])
    assert result.loc[0, "estimate"] == 0 and result.loc[0, "std_error"] == 0
    assert np.isnan(result.loc[0, "statistic"]) and np.isnan(result.loc[0, "p_value"])


def test_did_of_proportions_needs_every_cell():
    with pytest.raises(AnalysisError, match="treated_after"):
        did_of_proportions(sparse.csr_matrix(np.ones((4, 1))), [0, 0, 1, 1], [0, 1, 0, 0], [1, 2, 3, 4])


def test_expression_change_applies_benjamini_hochberg_within_family(plan):
    rng = np.random.default_rng(9)
    n = 2400
    sample = pd.DataFrame(
        {
            "participant_id": np.repeat([f"p{i}" for i in range(400)], 6),
            "conversation_id": np.repeat([f"p{i}-C{c}" for i in range(400) for c in (1, 2, 3)], 2),
            "arm": np.repeat(np.tile(plan["design"]["arms"], 100), 6),
            "post": np.tile([0, 0, 1, 1, 1, 1], 400),
            "trouble_type": np.tile(["workplace", "personal"], n // 2),
        }
    )
    lift = (sample["arm"] != "control").to_numpy() & (sample["post"] == 1).to_numpy()
    indicators = np.column_stack(
        [rng.random(n) < 0.1 + 0.15 * lift, rng.random(n) < 0.2, rng.random(n) < 0.3 - 0.1 * lift]
    ).astype(int)
    expressions = pd.DataFrame({"expression": ["up", "flat", "down"], "category": ["cognitive", "affective", "misattuned"]})
    settings = plan["taxonomy"]["change"]
    result = expression_change(
        sparse.csr_matrix(indicators), expressions, sample, plan["design"]["arms"], "control",
        alpha=settings["alpha"], fdr_method=settings["fdr_method"], per_arm=settings["per_arm"], top_n=settings["top_n"],
        test=settings["test"],
    )
    assert list(result.change.columns) == CHANGE_COLUMNS
    assert set(result.change["contrast"]) == {"treated", "video", "coach", "combined"}
    for (trouble, contrast), family in result.change.groupby(["trouble_type", "contrast"]):
        expected = multipletests(family["p_value"], alpha=settings["alpha"], method="fdr_bh")[1]
        np.testing.assert_allclose(family["q_value"], expected, rtol=1e-12)
    pooled = result.change[result.change["contrast"] == "treated"].set_index(["expression", "trouble_type"])
    assert pooled.loc[("up", "workplace"), "direction"] == "rising" and pooled.loc[("up", "workplace"), "significant"]
    assert pooled.loc[("down", "personal"), "direction"] == "falling" and pooled.loc[("down", "personal"), "significant"]
    shares = result.shares.set_index(["expression", "trouble_type", "arm", "period"])
    cell = sample.assign(y=indicators[:, 0])
    cell = cell[(cell["trouble_type"] == "personal") & (cell["arm"] == "coach") & (cell["post"] == 1)]
    assert shares.loc[("up", "personal", "coach", "after"), "share"] == pytest.approx(cell["y"].mean())
    assert shares.loc[("up", "personal", "coach", "after"), "n_messages"] == len(cell)
    assert set(result.top["expression"]) <= {"up", "down"}


def test_top_changes_rank_significant_changes_by_size():
    change = pd.DataFrame(
        {
            **{column: 0.0 for column in CHANGE_COLUMNS},
            "expression": ["a", "b", "c", "d", "e"],
            "trouble_type": "personal",
            "contrast": ["treated", "treated", "treated", "treated", "coach"],
            "estimate": [0.05, 0.10, -0.02, 0.30, 0.5],
            "significant": [True, True, True, False, True],
            "direction": ["rising", "rising", "falling", "rising", "rising"],
        }
    )
    top = top_changes(change, top_n=1)
    assert top[["direction", "expression", "rank"]].values.tolist() == [["falling", "c", 1], ["rising", "b", 1]]


# ------------------------------------------------------------------------------------------------
# The planted training shifts are found


def _planted(direction: str, minimum: float = 0.0) -> pd.DataFrame:
    shifts = planted_training_shifts()
    return shifts[(shifts["direction"] == direction) & (shifts["training_shift"].abs() >= minimum)]


def test_theme_change_finds_the_planted_training_shifts(simulated, plan, settings, change_test):
    cohort, outcomes = simulated
    result = theme_change(code_planted_themes(cohort.messages), cohort.messages, outcomes, plan["design"]["arms"],
                          "control", min_participants=settings["min_participants"], change=change_test)
    pooled = result.change[result.change["contrast"] == "treated"].set_index(["expression", "trouble_type"])
    for direction in ("rising", "falling"):
        # Every planted shift of at least 1 (log rate ratio); the weak +0.5 of offering_availability in
        # workplace troubles is found with seeds 0-11 of the default design (q .000-.030) but not with this
        # one (q = .16), so it is not required.
        planted = _planted(direction, minimum=1.0)
        assert len(planted) >= 3
        for row in planted.itertuples():
            found = pooled.loc[(row.theme, row.trouble_type)]
            assert found["significant"] and found["direction"] == direction, (row.theme, row.trouble_type, found["q_value"])
    top = result.top.set_index(["trouble_type", "expression"])
    assert ("personal", "offering_availability") in top.index and ("workplace", "inviting_more") in top.index
    assert ("personal", "prayer") in top.index and ("personal", "one_day_at_a_time") in top.index


def test_phrase_change_finds_the_planted_training_shifts(simulated, mined, plan, settings, text, change_test):
    cohort, outcomes = simulated
    results, _ = mined
    change = phrase_change(
        cohort.messages, outcomes, results.taxonomy, plan["design"]["arms"], "control",
        min_participants=settings["min_participants"], text=text, ngram_range=settings["ngram_range"], change=change_test,
    )
    pooled = change.change[change.change["contrast"] == "treated"]
    themes = {theme.theme: theme for theme in PHRASE_THEMES}
    own = reference_ngrams({name: theme.variants for name, theme in themes.items()}, text=text, ngram_range=settings["ngram_range"])
    for direction in ("rising", "falling"):
        for row in _planted(direction, minimum=1.5).itertuples():
            phrases = pooled[(pooled["trouble_type"] == row.trouble_type) & pooled["expression"].isin(own[row.theme])]
            assert len(phrases), row.theme
            hits = phrases[phrases["significant"] & (phrases["direction"] == direction)]
            assert len(hits), (row.theme, row.trouble_type, phrases[["expression", "q_value"]].to_dict("records"))
    rising = change.top[(change.top["direction"] == "rising")]
    assert "tell me more" in set(rising["expression"])
    assert "i am here for you" in set(rising.loc[rising["trouble_type"] == "personal", "expression"])


def test_no_planted_shift_no_discovery(plan, settings, change_test):
    treated = [arm for arm in plan["design"]["arms"] if arm != "control"]
    null = SimulationParameters(
        arm_effects={arm: {dimension: (0.0, 0.0) for dimension in DIMENSIONS} for arm in treated},
        phrase_training_shift=0.0,
    )
    cohort = simulate_cohort(DEFAULT_ARM_SIZES, seed=RECOVERY_SEED, parameters=null)
    result = theme_change(code_planted_themes(cohort.messages), cohort.messages, _outcomes(plan, cohort),
                          plan["design"]["arms"], "control", min_participants=settings["min_participants"], change=change_test)
    pooled = result.change[result.change["contrast"] == "treated"]
    assert not pooled["significant"].any(), pooled.loc[pooled["significant"], ["expression", "trouble_type", "q_value"]]
    assert result.top.empty


# ------------------------------------------------------------------------------------------------
# Route 1: theme codes


def test_theme_change_leaves_out_seeker_codes_and_rare_themes(simulated, plan, settings, change_test):
    cohort, outcomes = simulated
    themes = code_planted_themes(cohort.messages)
    seeker = cohort.messages[cohort.messages["role"] == "seeker"].iloc[:2]
    rare = themes.iloc[:3].assign(theme="my secret label", category="affective")
    extra = pd.DataFrame({"conversation_id": seeker["conversation_id"], "turn": seeker["turn"],
                          "theme": "inviting_more", "category": "cognitive"})
    result = theme_change(pd.concat([themes, extra, rare], ignore_index=True), cohort.messages, outcomes,
                          plan["design"]["arms"], "control", min_participants=settings["min_participants"], change=change_test)
    left = result.left_out
    assert (left["reason"] == "theme code on a seeker message").sum() == 2
    hidden = left[left["level"] == "theme"]
    assert len(hidden) == 1 and hidden["record_id"].iloc[0].startswith("suppressed_")
    assert "my secret label" not in set(result.change["expression"]) | set(left["record_id"]) | set(result.shares["expression"])


def test_supporter_sample_keeps_only_supporter_messages_of_analysed_conversations(simulated):
    cohort, outcomes = simulated
    sample, left_out = supporter_sample(cohort.messages, outcomes)
    assert (sample["role"] == "supporter").all() and left_out.empty
    assert {"participant_id", "arm", "post", "trouble_type", *DIMENSIONS} <= set(sample.columns)


def test_empty_supporter_messages_are_listed_not_analysed(simulated):
    cohort, outcomes = simulated
    messages = cohort.messages.copy()
    supporter = messages.index[messages["role"] == "supporter"][:2]
    messages.loc[supporter[0], "text"] = "   "
    messages.loc[supporter[1], "text"] = None
    sample, left_out = supporter_sample(messages, outcomes)
    assert len(sample) == (messages["role"] == "supporter").sum() - 2
    listed = left_out[left_out["level"] == "message"]
    keys = (messages.loc[supporter, "conversation_id"] + " turn " + messages.loc[supporter, "turn"].astype(str)).tolist()
    assert listed["record_id"].tolist() == keys and (listed["reason"] == "empty supporter message").all()


def test_a_family_without_every_cell_is_listed_and_the_rest_analysed(plan):
    sample = pd.DataFrame(
        {
            "participant_id": [f"p{i}" for i in range(8)] * 2,
            "conversation_id": [f"p{i}-C1" for i in range(8)] + [f"p{i}-C2" for i in range(8)],
            "arm": ["control", "coach"] * 8,
            "post": [0] * 8 + [1] * 8,
            "trouble_type": ["workplace"] * 12 + ["personal"] * 4,
        }
    )
    indicators = sparse.csr_matrix(np.tile([[1], [0]], (8, 1)))
    expressions = pd.DataFrame({"expression": ["x y"], "category": ["affective"]})
    change = ChangeTest.from_plan({**plan["taxonomy"]["change"], "per_arm": False})
    result = expression_change(indicators, expressions, sample, ["control", "coach"], "control", **asdict(change))
    assert result.change["trouble_type"].tolist() == ["workplace"]
    family = result.left_out[result.left_out["level"] == "family"]
    assert family["record_id"].tolist() == ["personal / treated"]
    assert "control_before" in family["reason"].iloc[0]


def test_expression_change_refuses_a_test_it_does_not_implement(plan):
    change = ChangeTest.from_plan({**plan["taxonomy"]["change"], "test": "logit"})
    with pytest.raises(ConfigError, match="taxonomy.change.test 'logit' is not supported"):
        expression_change(sparse.csr_matrix((0, 0)), pd.DataFrame(), pd.DataFrame(), ["control"], "control", **asdict(change))
