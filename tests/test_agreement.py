"""Agreement analysis: values against R (by hand), pingouin directly, a published worked example and the published table."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa

from analysis.constants import DIMENSIONS
from analysis.errors import AnalysisError, ConfigError
from analysis.prereg.plan import load_prereg
from analysis.render.agreement import agreement_table, agreement_tables_text, plot_agreement_heatmap
from analysis.secondary.agreement import (
    ALL_WORKERS,
    CROWD_WORKER_COLUMNS,
    PAIRWISE_COLUMNS,
    agreement_analysis,
    cluster_bootstrap_kappa_se,
    expert_consensus,
    expert_reliability,
    pair_agreement,
    rating_codes,
    spearman_with_ci,
    weighted_kappa,
)
from tests.conftest import REPO
from tests.plan_keywords import agreement_keywords

PUBLISHED = REPO / "analysis" / "reference" / "published_pilot_agreement.csv"


@pytest.fixture(scope="module")
def pilot(pilot_import):
    return pilot_import


@pytest.fixture(scope="module")
def settings() -> dict:
    return load_prereg(REPO / "config" / "prereg.yaml")["agreement"]


@pytest.fixture(scope="module")
def registered(pilot, settings):
    return agreement_analysis(pilot.scores, pilot.crowd_annotations, **agreement_keywords(settings), dimensions=DIMENSIONS)


@pytest.fixture(scope="module")
def companion(pilot, settings):
    """The companion study's choices: categories observed in each pair, crowd means as hundredths, z from the
    SE of the estimate."""
    return agreement_analysis(
        pilot.scores, pilot.crowd_annotations,
        **{**agreement_keywords(settings), "kappa_categories": "observed", "rounding": "hundredths", "kappa_z_variance": "estimate"},
        dimensions=DIMENSIONS,
    )


def _wide(pilot, judge, dimension):
    return pilot.scores[(pilot.scores["judge"] == judge) & (pilot.scores["dimension"] == dimension)].set_index("conversation_id")["score"].sort_index()


def test_kappa_and_its_standard_errors_match_r_by_hand(pilot):
    # R 4 (no package), Cohen (1968) weighted kappa and the Fleiss, Cohen & Everitt (1969) variances by hand:
    #   p <- table(factor(a, levels = cats), factor(b, levels = cats)) / n; w <- 1 - (i - j)^2 / (k - 1)^2
    #   kap <- (sum(w * p) - pe) / (1 - pe), pe <- sum(w * outer(rowSums(p), colSums(p)))
    #   var1 <- (sum(p * (w - outer(wr, wc, "+") * (1 - kap))^2) - (kap - pe * (1 - kap))^2) / ((1 - pe)^2 * n)
    #   var0 <- (sum(outer(pr, pc) * (w - outer(wr, wc, "+"))^2) - pe^2) / ((1 - pe)^2 * n)
    # on expert1 vs expert2 of the pilot release (files sorted by conversation_id):
    r_reference = {
        ("validating_emotions", "full"): (0.2476489028213165, 0.0734709556126449, 0.0889133437052594),
        ("self_oriented", "full"): (0.7863247863247863, 0.0748565520832822, 0.1341005999891294),
        ("self_oriented", "observed"): (0.8195669607056937, 0.0840201936275988, 0.1376315728703726),
    }
    for (dimension, categories), (kappa, se, se0) in r_reference.items():
        a, b = rating_codes(_wide(pilot, "expert1", dimension), "nearest_integer"), rating_codes(_wide(pilot, "expert2", dimension), "nearest_integer")
        labels = np.arange(1, 6) if categories == "full" else np.union1d(a, b)
        result = weighted_kappa(a, b, labels, z_variance="estimate")
        assert result["kappa"] == pytest.approx(kappa, abs=1e-12)
        assert result["kappa_se_estimate"] == pytest.approx(se, abs=1e-12)
        assert result["kappa_se_null"] == pytest.approx(se0, abs=1e-12)
        assert result["kappa_z"] == pytest.approx(kappa / se, abs=1e-9)
        null = weighted_kappa(a, b, labels)   # the registered default: the test of kappa = 0
        assert null["kappa_z"] == pytest.approx(kappa / se0, abs=1e-9)
        assert null["kappa_p"] == pytest.approx(2 * stats.norm.sf(kappa / se0), abs=1e-12)


def test_kappa_agrees_with_a_direct_matrix_computation():
    rng = np.random.default_rng(11)
    a = rng.integers(1, 6, 80)
    b = np.clip(a + rng.integers(-1, 2, 80), 1, 5)
    observed = np.zeros((5, 5))
    np.add.at(observed, (a - 1, b - 1), 1)
    observed /= observed.sum()
    expected = np.outer(observed.sum(1), observed.sum(0))
    weights = (np.arange(5)[:, None] - np.arange(5)) ** 2
    by_hand = 1 - (weights * observed).sum() / (weights * expected).sum()
    assert weighted_kappa(a, b, np.arange(1, 6))["kappa"] == pytest.approx(by_hand, abs=1e-12)
    assert weighted_kappa(a, b, np.arange(1, 6), weights="linear")["kappa"] == pytest.approx(
        cohen_kappa_score(a, b, labels=np.arange(1, 6), weights="linear"), abs=1e-12
    )


def test_published_lend_an_ear_table_is_reproduced_with_the_companion_choices(companion):
    published = pd.read_csv(PUBLISHED)
    ours = companion.pairwise.set_index(["dimension", "rater_a", "rater_b"])
    assert len(published) == 36
    for row in published.itertuples(index=False):
        mine = ours.loc[(row.dimension, row.rater_a, row.rater_b)]
        where = f"{row.dimension} {row.rater_a}-{row.rater_b}"
        assert mine["kappa"] == pytest.approx(row.kappa, abs=0.005 + 1e-9), where
        assert mine["kappa_z"] == pytest.approx(row.kappa_z, abs=0.0005 + 1e-9), where
        assert mine["kappa_p"] == pytest.approx(row.kappa_p, abs=0.0005 + 1e-9), where
        assert mine["spearman_rho"] == pytest.approx(row.spearman_rho, abs=0.005 + 1e-9), where
        assert mine["rho_ci_low"] == pytest.approx(row.rho_ci_low, abs=0.005 + 1e-3), where
        assert mine["rho_ci_high"] == pytest.approx(row.rho_ci_high, abs=0.005 + 1e-3), where


def test_orientation_numbers_of_the_issue(registered, companion):
    for result in (registered, companion):
        table = result.pairwise.set_index(["dimension", "rater_a", "rater_b"])["kappa"]
        assert table[("encouraging_elaboration", "experts", "gemini")] == pytest.approx(0.86, abs=0.005)
        assert table[("dismissing_emotions", "experts", "gemini")] == pytest.approx(0.17, abs=0.005)
    experts = companion.pairwise[companion.pairwise["rater_b"].str.startswith("expert")]
    assert experts["kappa"].min() == pytest.approx(0.25, abs=0.005)
    assert experts["kappa"].max() == pytest.approx(0.82, abs=0.005)


def test_full_and_observed_categories_differ_only_where_a_category_is_unused(registered, companion):
    full = registered.pairwise.set_index(["dimension", "rater_a", "rater_b"])
    observed = companion.pairwise.set_index(["dimension", "rater_a", "rater_b"])
    assert (full["kappa_categories"] == "full").all() and (observed["kappa_categories"] == "observed").all()
    key = ("self_oriented", "expert1", "expert2")          # neither expert used 3 here
    assert full.loc[key, "kappa"] == pytest.approx(0.7863247863247863, abs=1e-12)
    assert observed.loc[key, "kappa"] == pytest.approx(0.8195669607056937, abs=1e-12)
    same = ("validating_emotions", "expert1", "expert2")  # every category used
    assert full.loc[same, "kappa"] == observed.loc[same, "kappa"]


def test_pairwise_table_shape_and_other_statistics(registered, pilot):
    table = registered.pairwise
    assert list(table.columns) == PAIRWISE_COLUMNS
    assert len(table) == 6 * 10 and (table["n"] == 50).all()
    row = table.set_index(["dimension", "rater_a", "rater_b"]).loc[("validating_emotions", "expert1", "expert2")]
    # R: cor.test(e1, e2, method = "spearman", exact = FALSE) -> 0.477471795908366914, p 0.000454464441393603;
    #    tanh(atanh(rho) + c(-1, 1) * qnorm(0.975) / sqrt(47)) -> 0.229644572494431, 0.667152784464692
    assert row["spearman_rho"] == pytest.approx(0.477471795908366914, abs=1e-12)
    assert row["spearman_p"] == pytest.approx(0.000454464441393603, rel=1e-6)
    assert (row["rho_ci_low"], row["rho_ci_high"]) == pytest.approx((0.229644572494431, 0.667152784464692), abs=1e-12)
    a, b = _wide(pilot, "expert1", "validating_emotions"), _wide(pilot, "expert2", "validating_emotions")
    assert row["exact_agreement"] == pytest.approx(np.mean(a.to_numpy() == b.to_numpy()))
    assert row["within_one_agreement"] == pytest.approx(np.mean(np.abs(a.to_numpy() - b.to_numpy()) <= 1))


def test_consensus_is_the_median_and_needs_every_expert():
    scores = pd.DataFrame(
        {"conversation_id": ["c1", "c1", "c1", "c2", "c2"], "judge": ["e1", "e2", "e3", "e1", "e2"],
         "dimension": "validating_emotions", "score": [1.0, 4.0, 2.0, 3.0, 5.0]}
    )
    consensus, excluded = expert_consensus(scores, ["e1", "e2", "e3"], ["validating_emotions"])
    assert consensus.to_dict("records") == [{"conversation_id": "c1", "judge": "experts", "dimension": "validating_emotions", "score": 2.0}]
    assert excluded["conversation_id"].tolist() == ["c2"] and "rated by 2 of 3" in excluded["reason"].item()
    with pytest.raises(AnalysisError, match=r"expert\(s\) \['e4'\] have no scores"):
        expert_consensus(scores, ["e1", "e4"], ["validating_emotions"])


def test_missing_ratings_are_left_out_of_a_pair_and_listed(pilot, settings):
    scores = pilot.scores[~((pilot.scores["judge"] == "gpt") & (pilot.scores["conversation_id"] == "20241031124050492385"))]
    result = agreement_analysis(scores, None, **agreement_keywords(settings), dimensions=DIMENSIONS)
    gpt = result.pairwise[(result.pairwise["rater_a"] == "experts") & (result.pairwise["rater_b"] == "gpt")]
    assert (gpt["n"] == 49).all()
    listed = result.excluded[result.excluded["rater"] == "gpt"]
    assert len(listed) == 2 * 6 and set(listed["reason"]) == {"no score from gpt"}   # experts-gpt and gpt-crowd pairs
    assert result.crowd_workers.empty and list(result.crowd_workers.columns) == CROWD_WORKER_COLUMNS


def test_unknown_rater_and_clashing_consensus_label_are_errors(pilot, settings):
    with pytest.raises(AnalysisError, match=r"agreement.pairs name rater\(s\) \['llama'\]"):
        agreement_analysis(pilot.scores, None, **{**agreement_keywords(settings), "pairs": [["experts", "llama"]]}, dimensions=DIMENSIONS)
    with pytest.raises(AnalysisError, match="consensus label 'gpt' is also a judge"):
        agreement_analysis(pilot.scores, None, **{**agreement_keywords(settings), "consensus_label": "gpt"}, dimensions=DIMENSIONS)


def test_an_unimplemented_consensus_method_is_refused(pilot, settings):
    """The consensus method is echoed into the spec record, so it accepts only the one that runs."""
    with pytest.raises(ConfigError, match="agreement.consensus.method 'mean'"):
        agreement_analysis(pilot.scores, None, **{**agreement_keywords(settings), "consensus_method": "mean"}, dimensions=DIMENSIONS)


def test_edge_cases_of_a_single_pair():
    constant = pair_agreement(np.full(10, 3.0), np.full(10, 3.0))
    assert np.isnan(constant["kappa"]) and np.isnan(constant["spearman_rho"]) and constant["exact_agreement"] == 1.0
    perfect = pair_agreement(np.array([1, 2, 3, 4, 5, 1, 2.0]), np.array([1, 2, 3, 4, 5, 1, 2.0]))
    assert perfect["kappa"] == pytest.approx(1.0) and perfect["rho_ci_low"] == perfect["rho_ci_high"] == pytest.approx(1.0)
    tiny = spearman_with_ci(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]))
    assert np.isnan(tiny["rho_ci_low"]) and tiny["spearman_rho"] == pytest.approx(0.5)
    # halves round up on the integer grid; hundredths keep two decimals
    assert rating_codes(np.array([2.5, 2.4999, 3.5, 2.6666666666666665]), "nearest_integer").tolist() == [3, 2, 4, 3]
    assert rating_codes(np.array([2.6666666666666665, 1.875]), "hundredths").tolist() == [267, 188]
    with pytest.raises(AnalysisError, match="outside the scale"):
        pair_agreement(np.array([0.2, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_expert_reliability_matches_pingouin_krippendorff_and_r(pilot):
    table, excluded = expert_reliability(pilot.scores, ["expert1", "expert2", "expert3"], DIMENSIONS)
    assert excluded.empty and (table["n_conversations"] == 50).all()
    row = table.set_index("dimension").loc["validating_emotions"]
    # R: anova(lm(y ~ subj + rater)); ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n) -> 0.407319342499741,
    #    ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n) -> 0.673389164245428, F = MSR / MSE -> 4.142781175219353
    assert row["icc2_1"] == pytest.approx(0.407319342499741, abs=1e-12)
    assert row["icc2_k"] == pytest.approx(0.673389164245428, abs=1e-12)
    assert row["icc2_1_f"] == pytest.approx(4.142781175219353, abs=1e-9)
    rated = pilot.scores[pilot.scores["judge"].str.startswith("expert") & (pilot.scores["dimension"] == "validating_emotions")]
    direct = pingouin.intraclass_corr(rated, targets="conversation_id", raters="judge", ratings="score").set_index("Type")
    assert row["icc2_1_ci_low"] == pytest.approx(direct.loc["ICC(A,1)", "CI95"][0], abs=0.005)   # pingouin shows 2 decimals
    assert row["icc2_1_ci_low"] != round(row["icc2_1_ci_low"], 2)                                  # we keep full precision
    assert 0 < row["krippendorff_alpha_ordinal"] < 1


def test_krippendorff_alpha_reproduces_the_published_worked_example():
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example of 4 observers
    and 12 units with missing values: ordinal alpha = 0.815 (printed to three decimals). R's
    irr::kripp.alpha is not packaged for Debian bookworm (no r-cran-irr), so the published value is
    the reference."""
    missing = np.nan
    observers = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, missing, missing, missing],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, missing, 3],
        "C": [missing, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, missing],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, missing],
    }
    scores = pd.DataFrame(
        [(f"u{unit:02d}", observer, "validating_emotions", value)
         for observer, values in observers.items() for unit, value in enumerate(values) if not np.isnan(value)],
        columns=["conversation_id", "judge", "dimension", "score"],
    )
    table, excluded = expert_reliability(scores, list(observers), ["validating_emotions"])
    assert table.loc[0, "krippendorff_alpha_ordinal"] == pytest.approx(0.815, abs=0.0005)
    assert table.loc[0, "n_conversations"] == 8 and len(excluded) == 4   # the ICC needs every observer


def test_crowd_workers_against_the_consensus(registered, pilot):
    workers = registered.crowd_workers
    pooled = workers[workers["worker_id"] == ALL_WORKERS].set_index("dimension")
    annotations = pilot.crowd_annotations
    assert pooled["n"].sum() == len(annotations)
    consensus, _ = expert_consensus(pilot.scores, ["expert1", "expert2", "expert3"], DIMENSIONS)
    joined = annotations.merge(consensus, on=["conversation_id", "dimension"], suffixes=("", "_consensus"))
    validating = joined[joined["dimension"] == "validating_emotions"]
    assert pooled.loc["validating_emotions", "mean_difference"] == pytest.approx((validating["score"] - validating["score_consensus"]).mean())
    table = np.zeros((5, 5))
    np.add.at(table, (validating["score"].astype(int) - 1, validating["score_consensus"].astype(int) - 1), 1)
    assert pooled.loc["validating_emotions", "kappa"] == pytest.approx(cohens_kappa(table, wt="quadratic").kappa, abs=1e-12)
    single = workers[workers["worker_id"] != ALL_WORKERS]
    assert single["kappa"].isna().all() and single["n"].max() <= 4    # no worker reaches the registered 10 ratings
    assert single.groupby("dimension")["n"].sum().to_dict() == pooled["n"].to_dict()


def test_rendered_table_and_heatmap(registered, tmp_path):
    table = agreement_table(registered.pairwise)
    assert table.columns[0] == "Dimension" and "Experts & Gemini" in table.columns
    assert table.set_index("Dimension").loc["Encouraging elaboration", "Experts & Gemini"] == "0.86***"
    text = agreement_tables_text(registered.pairwise, registered.experts, "pilot", synthetic=False)
    assert "SYNTHETIC" not in text["agreement"]["md"] and "full 1-5 scale" in text["agreement"]["md"]
    assert agreement_tables_text(registered.pairwise, registered.experts, "sim", synthetic=True)["agreement"]["tex"].count("SYNTHETIC DATA") == 1
    figure = plot_agreement_heatmap(registered.pairwise, synthetic=True)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure._suptitle.get_text().startswith("SYNTHETIC DATA")
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert "0.86" in labels and len(labels) == 60


def test_agreement_is_deterministic(pilot, settings, registered):
    again = agreement_analysis(pilot.scores, pilot.crowd_annotations, **agreement_keywords(settings), dimensions=DIMENSIONS)
    for name in ("pairwise", "experts", "crowd_workers", "excluded"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(registered, name))


def test_published_reference_file_names_its_source():
    published = pd.read_csv(PUBLISHED)
    assert published["source"].str.contains("all_annotator_pairs_spearman_kappa.csv").all()
    assert set(published["rater_b"]) == {"expert2", "expert3", "expert1", "crowd", "gemini"}
    assert Path(PUBLISHED).is_file()


def test_the_registered_kappa_z_is_the_test_under_the_null_variance(registered, companion):
    """The registered default divides by the SE under kappa = 0; the companion option by the SE of the
    estimate. Near kappa = 1 the estimate's SE is far smaller, so the companion z is larger."""
    ours = registered.pairwise
    assert (ours["kappa_z_variance"] == "under_null").all()
    defined = ours.dropna(subset=["kappa"])
    np.testing.assert_allclose(defined["kappa_z"], defined["kappa"] / defined["kappa_se_null"], rtol=1e-12)
    theirs = companion.pairwise.dropna(subset=["kappa"])
    assert (theirs["kappa_z_variance"] == "estimate").all()
    np.testing.assert_allclose(theirs["kappa_z"], theirs["kappa"] / theirs["kappa_se_estimate"], rtol=1e-12)
    high = defined[defined["kappa"] > 0.8]
    assert len(high) and (high["kappa_se_estimate"] < high["kappa_se_null"]).all()
    assert "SE under kappa = 0" in agreement_table(ours).attrs["note"]
    assert "overstate" in agreement_table(companion.pairwise).attrs["note"]


def test_bonett_wright_interval_of_spearmans_rho():
    """Bonett & Wright (2000): SE of atanh(rho_s) = sqrt((1 + rho^2 / 2) / (n - 3)); checked by hand
    for rho and n from scipy, and against the Fisher interval it widens."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    rho = stats.spearmanr(x, y).statistic
    wide = spearman_with_ci(x, y, alpha=0.05, se="bonett_wright")
    half = 1.959963984540054 * np.sqrt((1 + rho**2 / 2) / 37)
    assert wide["rho_ci_low"] == pytest.approx(np.tanh(np.arctanh(rho) - half), abs=1e-12)
    assert wide["rho_ci_high"] == pytest.approx(np.tanh(np.arctanh(rho) + half), abs=1e-12)
    narrow = spearman_with_ci(x, y, alpha=0.05)
    assert wide["rho_ci_low"] < narrow["rho_ci_low"] and narrow["rho_ci_high"] < wide["rho_ci_high"]
    with pytest.raises(AnalysisError, match="spearman_ci_se 'kendall'"):
        spearman_with_ci(x, y, se="kendall")


def test_crowd_kappa_cluster_bootstrap_equals_a_loop_over_resampled_conversations():
    """Second formulation: the same draws, each resample rebuilt row by row and scored by scikit-learn."""
    rng = np.random.default_rng(8)
    conversations = np.repeat([f"c{k:02d}" for k in range(25)], rng.integers(1, 5, 25))
    truth = dict(zip(sorted(set(conversations)), rng.integers(1, 6, 25)))
    consensus = np.array([truth[c] for c in conversations], dtype=float)
    worker = np.clip(consensus + rng.integers(-1, 2, len(consensus)), 1, 5)
    ours = cluster_bootstrap_kappa_se(worker, consensus, conversations, resamples=200, seed=3)
    draws = np.random.default_rng(3).integers(25, size=(200, 25))
    members = [np.flatnonzero(conversations == name) for name in sorted(set(conversations))]
    kappas = []
    for row in draws:
        rows = np.concatenate([members[k] for k in row])
        kappas.append(cohen_kappa_score(worker[rows].astype(int), consensus[rows].astype(int), labels=np.arange(1, 6), weights="quadratic"))
    assert ours == pytest.approx(np.std(kappas, ddof=1), rel=1e-10)


def test_pooled_crowd_rows_carry_the_cluster_bootstrap_se(registered, settings):
    pooled = registered.crowd_workers[registered.crowd_workers["worker_id"] == ALL_WORKERS]
    assert (pooled["kappa_se_cluster_bootstrap"] > 0).all()
    assert (pooled["bootstrap_resamples"] == settings["crowd_bootstrap"]["resamples"]).all()
    assert (pooled["n_conversations"] <= 50).all() and (pooled["n"] > pooled["n_conversations"]).all()
    single = registered.crowd_workers[registered.crowd_workers["worker_id"] != ALL_WORKERS]
    assert single["kappa_se_cluster_bootstrap"].isna().all()
    assert registered.execution["seed"] == settings["crowd_bootstrap"]["seed"]
