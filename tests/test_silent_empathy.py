"""Silent empathy against direct scipy, pingouin and statsmodels computations on fixed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from matplotlib.figure import Figure
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from analysis.cohorts.outcomes import Composite, derive_outcomes
from analysis.errors import AnalysisError, ConfigError
from analysis.render.silent_empathy import plot_self_vs_judged, plot_trait_panel, silent_empathy_tables
from analysis.secondary import silent_empathy
from analysis.secondary.silent_empathy import (
    DISTRIBUTION_COLUMNS,
    GAP_COLUMNS,
    LEFT_OUT_COLUMNS,
    SELF_JUDGED_COLUMNS,
    TRAIT_CORRELATION_COLUMNS,
    cluster_bootstrap_pearson_ci,
    clustered_mcnemar,
    composite_range,
    judged_levels,
    paired_high_test,
    silent_empathy_analysis,
)
from tests.conftest import make_small_cohort
from tests.plan_keywords import silent_empathy_keywords

JORDAN = [f"empathy_item_{k}" for k in range(1, 8)]


@pytest.fixture(scope="module")
def cohort():
    """A small cohort with known gaps: two participants miss a Jordan item, one misses SITES, and
    three conversations miss self_empathized; self_encourage_elaboration is drawn for every
    conversation and self_showed_understanding is absent from conversations.csv."""
    tables = make_small_cohort(n_per_arm=12, judges=("only",), seed=21)
    participants = tables.participants.copy()
    participants[JORDAN + ["empathy_item_8"]] = participants[JORDAN + ["empathy_item_8"]].astype("Int64")
    participants.loc[2, "empathy_item_3"] = pd.NA
    participants.loc[7, "empathy_item_7"] = pd.NA
    participants.loc[11, "empathy_item_8"] = pd.NA
    conversations = tables.conversations.copy()
    conversations["self_empathized"] = conversations["self_empathized"].astype("Int64")
    conversations.loc[[0, 4, 30], "self_empathized"] = pd.NA
    rng = np.random.default_rng(4)
    conversations["self_encourage_elaboration"] = pd.array(rng.integers(1, 6, len(conversations)), dtype="Int64")
    return participants, conversations, tables.scores


@pytest.fixture(scope="module")
def outcomes(cohort, plan):
    participants, conversations, scores = cohort
    return derive_outcomes(
        participants, conversations, scores, conversations, plan["outcomes"]["dimensions"], plan["outcomes"]["composite"],
        {"method": "mean", "judges": "all"}, plan["design"]["post_conversations"],
    )


@pytest.fixture(scope="module")
def settings(plan):
    return dict(plan["secondary_analyses"]["silent_empathy"])


@pytest.fixture(scope="module")
def results(cohort, outcomes, settings, plan):
    participants, conversations, _ = cohort
    return silent_empathy_analysis(
        participants, conversations, outcomes, **silent_empathy_keywords(settings, plan["outcomes"]["composite"])
    )


def test_columns(results):
    assert list(results.trait_correlations.columns) == TRAIT_CORRELATION_COLUMNS
    assert list(results.self_judged.columns) == SELF_JUDGED_COLUMNS
    assert list(results.distributions.columns) == DISTRIBUTION_COLUMNS
    assert list(results.high_rating_gap.columns) == GAP_COLUMNS
    assert list(results.left_out.columns) == LEFT_OUT_COLUMNS


def test_trait_correlations_equal_direct_scipy_and_pingouin(results, cohort, outcomes):
    participants, _, _ = cohort
    mean_composite = outcomes.groupby("participant_id")["overall_empathy"].mean()
    data = participants.set_index("participant_id")
    for trait, items in (("jordan", JORDAN), ("sites", ["empathy_item_8"])):
        complete = data.dropna(subset=items)
        score = complete[items].astype(float).sum(axis=1)
        y = mean_composite.loc[score.index]
        reference = stats.pearsonr(score, y)
        by_pingouin = pg.corr(score.to_numpy(), y.to_numpy())
        row = results.trait_correlations.set_index("trait").loc[trait]
        assert row["n"] == len(score)
        assert row["r"] == pytest.approx(reference.statistic, abs=1e-12)
        assert row["r"] == pytest.approx(by_pingouin["r"].iloc[0], abs=1e-12)
        assert row["p_value"] == pytest.approx(by_pingouin["p_val"].iloc[0], rel=1e-9)
        assert row["r2"] == pytest.approx(reference.statistic**2, abs=1e-12)
        z, half = np.arctanh(reference.statistic), stats.norm.ppf(0.975) / np.sqrt(len(score) - 3)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((np.tanh(z - half), np.tanh(z + half)), abs=1e-12)


def test_missing_trait_items_are_listed_and_counted(results, cohort):
    participants, _, _ = cohort
    row = results.trait_correlations.set_index("trait")
    assert row.loc["jordan", "n_left_out"] == 2 and row.loc["jordan", "n"] == len(participants) - 2
    assert row.loc["sites", "n_left_out"] == 1
    listed = results.left_out[results.left_out["analysis"] == "trait_jordan"]
    assert sorted(listed["participant_id"]) == sorted(participants.loc[[2, 7], "participant_id"])
    assert "empathy_item_3" in listed.set_index("participant_id").loc[participants.loc[2, "participant_id"], "reason"]


def test_trait_levels_are_means_per_score(results, cohort, outcomes):
    participants, _, _ = cohort
    sites = participants.dropna(subset=["empathy_item_8"]).set_index("participant_id")["empathy_item_8"].astype(int)
    means = outcomes.groupby("participant_id")["overall_empathy"].mean().loc[sites.index]
    levels = results.trait_levels[results.trait_levels["trait"] == "sites"].set_index("level")
    for level, group in means.groupby(sites):
        assert levels.loc[level, "n"] == len(group)
        assert levels.loc[level, "mean"] == pytest.approx(group.mean(), abs=1e-12)
        if len(group) > 1:
            half = stats.t.ppf(0.975, len(group) - 1) * group.std(ddof=1) / np.sqrt(len(group))
            assert levels.loc[level, "ci_high"] == pytest.approx(group.mean() + half, abs=1e-12)


def test_self_judged_correlations_all_and_first(results, cohort, outcomes):
    _, conversations, _ = cohort
    data = outcomes.merge(conversations[["conversation_id", "self_empathized", "self_encourage_elaboration"]], on="conversation_id")
    table = results.self_judged.set_index(["subset", "self_rating"])
    for subset, part in (("all", data), ("first", data[data["conversation_number"] == 1])):
        complete = part.dropna(subset=["self_empathized"])
        reference = pg.corr(complete["self_empathized"].astype(float), complete["overall_empathy"])
        row = table.loc[(subset, "self_empathized")]
        assert row["n"] == len(complete) and row["n_left_out"] == len(part) - len(complete)
        assert row["r"] == pytest.approx(reference["r"].iloc[0], abs=1e-12)
        assert row["p_value"] == pytest.approx(reference["p_val"].iloc[0], rel=1e-9)
        reference = stats.pearsonr(part["self_encourage_elaboration"].astype(float), part["encouraging_elaboration"])
        assert table.loc[(subset, "self_encourage_elaboration"), "r"] == pytest.approx(reference.statistic, abs=1e-12)
    assert table.loc[("all", "self_empathized"), "n_left_out"] == 3


def test_absent_self_rating_column_lists_every_conversation(results, outcomes):
    row = results.self_judged.set_index(["subset", "self_rating"]).loc[("all", "self_showed_understanding")]
    assert row["n"] == 0 and np.isnan(row["r"]) and row["n_left_out"] == len(outcomes)
    listed = results.left_out[results.left_out["analysis"] == "self_self_showed_understanding"]
    assert len(listed) == len(outcomes)
    assert (listed["reason"] == "column self_showed_understanding absent from conversations.csv").all()
    missing = results.left_out[results.left_out["analysis"] == "self_self_empathized"]
    assert len(missing) == 3 and (missing["level"] == "conversation").all()


def test_judged_levels_map_the_composite_and_round_half_up():
    assert composite_range(Composite(name="c", add=("a", "b", "c"), subtract=("d", "e", "f"))) == (-12.0, 12.0)
    composite = pd.Series([-12.0, -3.01, -3.0, 0.0, 2.99, 3.0, 12.0])
    # 1 + 4 (c + 12) / 24, then floor(x + 0.5): -3.01 -> 2.498 -> 2, -3 -> 2.5 -> 3, 3 -> 3.5 -> 4
    assert judged_levels(composite, (-12.0, 12.0)).tolist() == [1, 2, 3, 3, 3, 4, 5]
    assert judged_levels(pd.Series([1.0, 1.5, 2.49, 2.5, 4.5, 5.0]), None).tolist() == [1, 2, 2, 3, 5, 5]


def test_distributions_count_every_level(results):
    block = results.distributions[(results.distributions["subset"] == "all") & (results.distributions["self_rating"] == "self_empathized")]
    for source in ("self", "judged"):
        rows = block[block["source"] == source]
        assert rows["level"].tolist() == [1, 2, 3, 4, 5]
        assert rows["share"].sum() == pytest.approx(1.0)
    gap = results.high_rating_gap.set_index(["subset", "self_rating"]).loc[("all", "self_empathized")]
    assert block[block["source"] == "self"]["count"].sum() == gap["n"]
    high_self = block[(block["source"] == "self") & block["level"].isin([4, 5])]["count"].sum()
    assert gap["n_self_high"] == high_self and gap["share_self_high"] == pytest.approx(high_self / gap["n"])


def test_gap_test_equals_statsmodels_mcnemar(results, cohort, outcomes, plan):
    _, conversations, _ = cohort
    data = outcomes.merge(conversations[["conversation_id", "self_empathized"]], on="conversation_id").dropna(subset=["self_empathized"])
    self_high = data["self_empathized"].astype(int).isin([4, 5]).to_numpy()
    judged_high = judged_levels(data["overall_empathy"], composite_range(Composite.from_plan(plan["outcomes"]["composite"]))).isin([4, 5]).to_numpy()
    table = pd.crosstab(self_high, judged_high).reindex(index=[False, True], columns=[False, True], fill_value=0).to_numpy()
    exact = mcnemar(table, exact=True)
    approx = mcnemar(table, exact=False, correction=True)
    row = results.high_rating_gap.set_index(["subset", "self_rating"]).loc[("all", "self_empathized")]
    assert row["p_value"] == pytest.approx(exact.pvalue, rel=1e-9)
    assert row["statistic"] == pytest.approx(approx.statistic, rel=1e-9)
    assert row["p_value_approx"] == pytest.approx(approx.pvalue, rel=1e-9)
    assert row["difference"] == pytest.approx(self_high.mean() - judged_high.mean())


def test_paired_test_edge_cases_and_ttest():
    same = np.array([True, False, True])
    assert np.isnan(paired_high_test(same, same, "mcnemar")["p_value"])
    assert np.isnan(paired_high_test(np.array([], dtype=bool), np.array([], dtype=bool), "mcnemar")["p_value"])
    self_high = np.array([1, 1, 1, 0, 1, 1, 0, 1], dtype=bool)
    judged_high = np.array([0, 1, 0, 0, 0, 1, 1, 0], dtype=bool)
    result = paired_high_test(self_high, judged_high, "paired_ttest")
    reference = stats.ttest_rel(self_high.astype(float), judged_high.astype(float))
    assert result["statistic"] == pytest.approx(reference.statistic) and result["p_value"] == pytest.approx(reference.pvalue)
    with pytest.raises(AnalysisError, match="paired_test"):
        paired_high_test(self_high, judged_high, "sign")


def test_unknown_judged_outcome_is_an_error(cohort, outcomes, settings, plan):
    participants, conversations, _ = cohort
    bad = {**settings, "self_vs_judged": [{"self_rating": "self_empathized", "judged": "warmth"}]}
    with pytest.raises(AnalysisError, match="warmth"):
        silent_empathy_analysis(participants, conversations, outcomes, **silent_empathy_keywords(bad, plan["outcomes"]["composite"]))


@pytest.mark.parametrize(
    ("keyword", "value", "key"),
    [("correlation", "spearman", "silent_empathy.correlation"), ("judged_levels_rule", "floor", "silent_empathy.judged_levels"),
     ("cluster_paired_test", "durkalski", "silent_empathy.cluster_inference.paired_test")],
)
def test_an_unimplemented_fixed_option_is_refused(cohort, outcomes, settings, plan, keyword, value, key):
    """Options echoed into the spec record accept only what runs, so the record cannot misreport the analysis."""
    participants, conversations, _ = cohort
    keywords = {**silent_empathy_keywords(settings, plan["outcomes"]["composite"]), keyword: value}
    with pytest.raises(ConfigError, match=f"{key} '{value}'"):
        silent_empathy_analysis(participants, conversations, outcomes, **keywords)


def test_execution_record(results, outcomes):
    sample = results.execution["sample"]
    assert sample["n_participants"] == outcomes["participant_id"].nunique()
    assert sample["n_conversations"] == len(outcomes)
    assert results.execution["estimator"] == "pearson"


def test_tables_and_figures_are_labelled(results, settings):
    rendered = silent_empathy_tables(results.trait_correlations, results.self_judged, results.high_rating_gap,
                                     high_levels=settings["high_levels"], paired_test=settings["paired_test"],
                                     cohort="demo", synthetic=True)
    assert set(rendered) == {"silent_empathy_correlations", "silent_empathy_gap"}
    for formats in rendered.values():
        assert all("SYNTHETIC DATA" in text for text in formats.values())
    assert "Jordan" in rendered["silent_empathy_correlations"]["md"]
    assert "levels 4-5" in rendered["silent_empathy_gap"]["md"] and "McNemar" in rendered["silent_empathy_gap"]["md"]
    traits = plot_trait_panel(results.participants, results.trait_correlations, results.trait_levels, "overall_empathy", synthetic=True)
    assert isinstance(traits, Figure) and len(traits.axes) == 2
    assert traits._suptitle.get_text().startswith("SYNTHETIC DATA")
    panel = plot_self_vs_judged(results.distributions, results.high_rating_gap)
    assert len(panel.axes) == 2 * 3


# ---------------------------------------------------------------------------------------------
# Inference respecting that a participant holds several conversations


@pytest.mark.parametrize("block_cells", [2**21, 100])
def test_cluster_bootstrap_equals_a_loop_over_resampled_participants(block_cells, monkeypatch):
    """Second formulation: the same draws, each resample built by concatenating the drawn
    participants' conversations and correlated with scipy; also with the resamples counted in
    blocks of three (100 cells of 30 clusters)."""
    monkeypatch.setattr(silent_empathy, "_BOOTSTRAP_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(3)
    clusters = np.repeat([f"p{k:02d}" for k in range(30)], 3)
    x = rng.normal(size=90) + np.repeat(rng.normal(size=30), 3)
    y = 0.5 * x + rng.normal(size=90)
    ours = cluster_bootstrap_pearson_ci(x, y, clusters, resamples=300, seed=9, alpha=0.1)
    draws = np.random.default_rng(9).integers(30, size=(300, 30))
    members = [np.flatnonzero(clusters == name) for name in sorted(set(clusters))]
    looped = []
    for row in draws:
        rows = np.concatenate([members[k] for k in row])
        looped.append(stats.pearsonr(x[rows], y[rows]).statistic)
    low, high = np.quantile(looped, [0.05, 0.95])
    assert ours["n_clusters"] == 30 and ours["bootstrap_resamples"] == 300
    assert ours["cluster_ci_low"] == pytest.approx(low, abs=1e-12)
    assert ours["cluster_ci_high"] == pytest.approx(high, abs=1e-12)


def test_cluster_bootstrap_is_seeded_and_undefined_for_constant_data():
    x = np.arange(12, dtype=float)
    y = x**2
    clusters = np.repeat(["a", "b", "c", "d"], 3)
    first = cluster_bootstrap_pearson_ci(x, y, clusters, 200, 5, 0.05)
    assert first == cluster_bootstrap_pearson_ci(x, y, clusters, 200, 5, 0.05)
    assert np.isnan(cluster_bootstrap_pearson_ci(x, np.ones(12), clusters, 200, 5, 0.05)["cluster_ci_low"])


def test_obuchowski_statistic_equals_its_variance_covariance_form():
    """Second formulation: chi2 = (p1 - p2)^2 / (var p1 + var p2 - 2 cov), each of Obuchowski's (1998)
    ratio-estimator variances written out separately, looping over clusters."""
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 5, size=40)
    clusters = np.repeat(np.arange(40), sizes)
    first = rng.random(len(clusters)) < 0.55
    second = rng.random(len(clusters)) < 0.4
    ours = clustered_mcnemar(first, second, clusters)
    k, total = 40, len(clusters)
    p1, p2 = first.mean(), second.mean()
    var1 = var2 = cov = 0.0
    for cluster in range(k):
        inside = clusters == cluster
        n_i = inside.sum()
        var1 += (first[inside].sum() - n_i * p1) ** 2
        var2 += (second[inside].sum() - n_i * p2) ** 2
        cov += (first[inside].sum() - n_i * p1) * (second[inside].sum() - n_i * p2)
    factor = k / ((k - 1) * total**2)
    expected = (p1 - p2) ** 2 / (factor * (var1 + var2 - 2 * cov))
    assert ours["clustered_statistic"] == pytest.approx(expected, rel=1e-12)
    assert ours["clustered_p_value"] == pytest.approx(stats.chi2.sf(expected, 1), rel=1e-12)
    assert np.isnan(clustered_mcnemar(first, first, clusters)["clustered_p_value"])


def test_clustered_mcnemar_holds_its_level_where_the_naive_test_does_not():
    """Null data in which each participant leans one way in all their conversations: the naive
    McNemar over conversations rejects too often, the clustered test about 5% of the time.
    Measured with these seeds and 1000 replicates: naive 0.130, clustered 0.054 (binomial SE at
    0.05 is 0.007); bounds: clustered within 0.03-0.075, naive above 0.10."""
    rng = np.random.default_rng(1)
    n_clusters, per_cluster, replicates = 150, 3, 1000
    clusters = np.repeat(np.arange(n_clusters), per_cluster)
    naive = clustered = 0
    for _ in range(replicates):
        lean = 1 / (1 + np.exp(-rng.normal(0, 5, n_clusters)))
        discordant = rng.random((n_clusters, per_cluster)) < 0.5
        self_only = discordant & (rng.random((n_clusters, per_cluster)) < lean[:, None])
        judged_only = discordant & ~self_only
        both = ~discordant & (rng.random((n_clusters, per_cluster)) < 0.5)
        first, second = (self_only | both).ravel(), (judged_only | both).ravel()
        table = [[np.sum(~first & ~second), np.sum(~first & second)], [np.sum(first & ~second), np.sum(first & second)]]
        naive += mcnemar(table, exact=False, correction=False).pvalue < 0.05
        clustered += clustered_mcnemar(first, second, clusters)["clustered_p_value"] < 0.05
    assert 0.03 <= clustered / replicates <= 0.075
    assert naive / replicates > 0.10


def test_results_carry_the_clustered_numbers_beside_the_naive_ones(results, settings):
    row = results.self_judged.set_index(["subset", "self_rating"]).loc[("all", "self_encourage_elaboration")]
    assert row["n_clusters"] == 48 and row["bootstrap_resamples"] == settings["cluster_inference"]["bootstrap_resamples"]
    assert row["cluster_ci_low"] < row["r"] < row["cluster_ci_high"]
    gap = results.high_rating_gap.set_index(["subset", "self_rating"]).loc[("all", "self_encourage_elaboration")]
    assert gap["clustered_test"] == "obuchowski" and 0 <= gap["clustered_p_value"] <= 1
    assert results.execution["seed"] == settings["cluster_inference"]["seed"]
