"""Tests of the calibrated cohort simulator (analysis.simulate.cohort)."""

from __future__ import annotations

import hashlib
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis.cohorts.native import CohortTables, write_native
from analysis.constants import (
    DIMENSIONS,
    EMPATHY_ITEMS,
    MISATTUNED_DIMENSIONS,
    NATIVE_FILES,
    PRESCRIPTIVE_DIMENSIONS,
    SCENARIO_OPENING_LINES,
    SCENARIO_TROUBLE_TYPE,
    SELF_RATINGS,
    THEME_CATEGORIES,
)
from analysis.errors import ConfigError
from analysis.simulate.cohort import (
    DEFAULT_ARM_SIZES,
    DEFAULT_FIRST_SCENARIO_COUNTS,
    PHRASE_BANKS,
    PHRASE_THEMES,
    SimulationParameters,
    cell_means,
    code_planted_themes,
    load_published_composite,
    load_published_fit,
    load_published_primary,
    planted_training_shifts,
    simulate_cohort,
    solve_latent_parameters,
)

CALIBRATION_SEEDS = range(10)
ARM_TERM = "C(arm, Treatment('control'))"


def _term_name(term: str) -> str:
    """Published term name of a statsmodels parameter name."""
    term = term.replace("Intercept", "intercept")
    return re.sub(re.escape(ARM_TERM) + r"\[T\.(\w+)\]", r"\1", term)


def _wide(tables: CohortTables, judge: str = "gpt-4o") -> pd.DataFrame:
    """One row per conversation: arm, post, the six scores and the composite."""
    scores = tables.scores[tables.scores["judge"] == judge]
    wide = scores.pivot(index="conversation_id", columns="dimension", values="score")
    wide["composite"] = wide[list(PRESCRIPTIVE_DIMENSIONS)].sum(axis=1) - wide[
        list(MISATTUNED_DIMENSIONS)
    ].sum(axis=1)
    conversations = tables.conversations.set_index("conversation_id")
    frame = conversations.join(wide).join(
        tables.participants.set_index("participant_id")["arm"], on="participant_id"
    )
    frame["post"] = (frame["conversation_number"] > 1).astype(int)
    return frame.reset_index()


@pytest.fixture(scope="module")
def calibration_fits() -> dict[str, pd.DataFrame]:
    """OLS and control-group mixed-model fits over ten default-design cohorts."""
    coefficients, fits, components = [], [], []
    for seed in CALIBRATION_SEEDS:
        frame = _wide(simulate_cohort(DEFAULT_ARM_SIZES, seed))
        for dimension in DIMENSIONS:
            data = frame[["participant_id", "arm", "post"]].assign(score=frame[dimension])
            fit = smf.ols(f"score ~ {ARM_TERM} * post", data).fit(
                cov_type="cluster", cov_kwds={"groups": pd.factorize(data["participant_id"])[0]}
            )
            coefficients += [
                (seed, dimension, _term_name(term), value) for term, value in fit.params.items()
            ]
            fits.append((seed, dimension, float(np.sqrt(fit.scale))))
        control = frame[frame["arm"] == "control"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mixed = smf.mixedlm("composite ~ post", control, groups=control["participant_id"])
            mixed = mixed.fit()
        components.append(
            (
                seed,
                float(mixed.cov_re.iloc[0, 0]),
                float(mixed.scale),
                frame["composite"].mean(),
                frame["composite"].std(),
            )
        )
    return {
        "coefficients": pd.DataFrame(
            coefficients, columns=["seed", "outcome", "term", "estimate"]
        ),
        "fits": pd.DataFrame(fits, columns=["seed", "outcome", "residual_se"]),
        "components": pd.DataFrame(
            components, columns=["seed", "between", "residual", "mean", "sd"]
        ),
    }


@pytest.fixture(scope="module")
def cohort() -> CohortTables:
    """One default cohort with the published first-scenario counts."""
    return simulate_cohort(
        DEFAULT_ARM_SIZES, seed=20260101, first_scenario_counts=DEFAULT_FIRST_SCENARIO_COUNTS
    )


def test_latent_solution_reproduces_targets_exactly():
    latent = solve_latent_parameters(DEFAULT_ARM_SIZES)
    np.testing.assert_allclose(latent["expected_mean"], latent["mean"], atol=1e-9)
    published = load_published_primary().set_index(["outcome", "term"])["estimate"]
    expected = latent.set_index(["arm", "post", "dimension"])["expected_mean"].sort_index()
    did = (expected.loc[("coach", 1)] - expected.loc[("coach", 0)]) - (
        expected.loc[("control", 1)] - expected.loc[("control", 0)]
    )
    for dimension in DIMENSIONS:
        assert did[dimension] == pytest.approx(published[(dimension, "coach:post")], abs=1e-9)
    sizes = latent["arm"].map(DEFAULT_ARM_SIZES) * np.where(latent["post"] == 1, 2, 1)
    pooled = (
        latent.assign(ss=(sizes - 1) * latent["expected_sd"] ** 2, df=sizes - 1)
        .groupby("dimension")[["ss", "df"]]
        .sum()
    )
    residual_se = load_published_fit().set_index("outcome")["residual_se"]
    np.testing.assert_allclose(
        np.sqrt(pooled["ss"] / pooled["df"]), residual_se[pooled.index], atol=1e-9
    )


def test_mean_ols_estimates_match_published(calibration_fits):
    # The simulated SEs match the published ones, so the mean of ten estimates
    # has an SD of about 0.32 published SE: a bias of half an SE is caught.
    mean = calibration_fits["coefficients"].groupby(["outcome", "term"])["estimate"].mean()
    published = load_published_primary().set_index(["outcome", "term"])
    assert set(mean.index) == set(published.index)
    deviation = (mean - published["estimate"]).abs() / published["std_error"]
    assert (deviation < 1.0).all(), deviation[deviation >= 1.0]


def test_mean_residual_se_matches_published(calibration_fits):
    mean = calibration_fits["fits"].groupby("outcome")["residual_se"].mean()
    published = load_published_fit().set_index("outcome")["residual_se"]
    np.testing.assert_allclose(mean[published.index], published, atol=0.05)


def test_composite_variance_components_match_published(calibration_fits):
    # Achieved with the default parameters: seeds 0-9 give between-person variance
    # 12.18, residual variance 5.32, composite mean -0.14 and SD 4.46; 100 seeds
    # give 11.82, 5.46, -0.17 and 4.48 (published 11.87, 5.38, -0.19, 4.50).
    published = load_published_composite()
    achieved = calibration_fits["components"].mean()
    assert achieved["between"] == pytest.approx(
        published["control_between_person_variance"], rel=0.25
    )
    assert achieved["residual"] == pytest.approx(published["control_residual_variance"], rel=0.25)
    assert achieved["mean"] == pytest.approx(published["composite_mean"], abs=0.2)
    assert achieved["sd"] == pytest.approx(published["composite_sd"], abs=0.2)


def test_table_columns(cohort):
    assert list(cohort.participants.columns) == [
        "participant_id",
        "arm",
        "age",
        "sex",
        *EMPATHY_ITEMS,
    ]
    assert list(cohort.conversations.columns) == [
        "conversation_id",
        "participant_id",
        "conversation_number",
        "scenario",
        "trouble_type",
        *SELF_RATINGS,
    ]
    assert list(cohort.messages.columns) == ["conversation_id", "turn", "role", "text"]
    assert list(cohort.scores.columns) == ["conversation_id", "judge", "dimension", "score"]


def test_participants(cohort):
    participants = cohort.participants
    assert participants["participant_id"].is_unique
    assert participants["participant_id"].str.fullmatch(r"P\d{4}").all()
    assert participants["arm"].value_counts().to_dict() == DEFAULT_ARM_SIZES
    assert participants["age"].between(18, 75).all()
    assert set(participants["sex"]) <= {"female", "male", "other"}
    items = participants[list(EMPATHY_ITEMS)]
    assert (items.dtypes == np.int64).all()
    assert items.isin(range(1, 6)).all().all()


def test_trait_empathy_only_weakly_related(cohort):
    frame = _wide(cohort)
    composite = frame.groupby("participant_id")["composite"].mean()
    participants = cohort.participants.set_index("participant_id")
    jordan = participants[list(EMPATHY_ITEMS[:7])].sum(axis=1)
    assert abs(np.corrcoef(jordan, composite[participants.index])[0, 1]) < 0.15
    sites = participants["empathy_item_8"]
    assert abs(np.corrcoef(sites, composite[participants.index])[0, 1]) < 0.15
    item_correlation = np.corrcoef(participants[list(EMPATHY_ITEMS[:7])].T.to_numpy())
    assert item_correlation[np.triu_indices(7, 1)].mean() > 0.2


def test_first_scenario_counts_are_exact(cohort):
    first = cohort.conversations[cohort.conversations["conversation_number"] == 1]
    assert first["scenario"].value_counts().to_dict() == DEFAULT_FIRST_SCENARIO_COUNTS


def test_conversations(cohort):
    conversations = cohort.conversations
    assert len(conversations) == 3 * len(cohort.participants)
    assert conversations["conversation_id"].is_unique
    number = conversations["conversation_number"].astype(str)
    assert (
        conversations["conversation_id"] == conversations["participant_id"] + "-C" + number
    ).all()
    assert (conversations.groupby("participant_id")["scenario"].nunique() == 3).all()
    assert set(conversations["scenario"]) == set(SCENARIO_OPENING_LINES)
    trouble = conversations["scenario"].map(SCENARIO_TROUBLE_TYPE)
    assert (conversations["trouble_type"] == trouble).all()
    ratings = conversations[list(SELF_RATINGS)]
    assert ratings.isin(range(1, 6)).all().all()
    assert (conversations["self_empathized"] >= 4).mean() == pytest.approx(0.88, abs=0.03)


def test_self_ratings_only_weakly_related(cohort):
    frame = _wide(cohort)
    pairs = [
        ("self_empathized", "composite"),
        ("self_encourage_elaboration", "encouraging_elaboration"),
        ("self_showed_understanding", "demonstrating_understanding"),
    ]
    for rating, score in pairs:
        assert np.corrcoef(frame[rating], frame[score])[0, 1] ** 2 < 0.08


def test_messages_structure(cohort):
    messages = cohort.messages
    conversations = cohort.conversations.set_index("conversation_id")
    assert set(messages["conversation_id"]) == set(conversations.index)
    per_conversation = messages.groupby("conversation_id")["turn"].agg(["min", "max", "size"])
    assert (per_conversation["min"] == 1).all()
    assert (per_conversation["max"] == per_conversation["size"]).all()
    assert (per_conversation["size"] >= 2).all()
    assert per_conversation["size"].mean() == pytest.approx(11.7, abs=0.3)
    expected_role = np.where(messages["turn"] % 2 == 1, "seeker", "supporter")
    assert (messages["role"] == expected_role).all()
    openers = messages[messages["turn"] == 1].set_index("conversation_id")["text"]
    expected = conversations["scenario"].map(SCENARIO_OPENING_LINES)
    assert (openers == expected[openers.index]).all()
    assert messages["text"].str.len().gt(0).all()


def test_messages_per_conversation_follows_request():
    tables = simulate_cohort(
        {"control": 100, "coach": 100}, seed=5, messages_per_conversation=20.0
    )
    sizes = tables.messages.groupby("conversation_id").size()
    assert sizes.mean() == pytest.approx(20.0, abs=0.3)
    assert sizes.min() >= 2


def test_texts_exercise_csv_quoting(cohort, tmp_path):
    text = cohort.messages["text"]
    assert text.str.contains(",", regex=False).any()
    assert text.str.contains('"', regex=False).any()
    assert text.str.contains("\n", regex=False).any()
    paths = write_native(cohort, tmp_path)
    round_trip = pd.read_csv(paths["messages"], keep_default_na=False)
    assert (round_trip["text"] == text).all()


def test_scores_structure(cohort):
    scores = cohort.scores
    assert scores["score"].dtype == np.int64
    assert scores["score"].between(1, 5).all()
    assert set(scores["dimension"]) == set(DIMENSIONS)
    assert not scores.duplicated(["conversation_id", "judge", "dimension"]).any()
    assert len(scores) == len(cohort.conversations) * len(DIMENSIONS)


def test_tables_are_sorted(cohort):
    keys = {
        "participants": ["participant_id"],
        "conversations": ["conversation_id"],
        "messages": ["conversation_id", "turn"],
        "scores": ["conversation_id", "judge", "dimension"],
    }
    for name, frame in cohort.items():
        expected = frame.sort_values(keys[name]).reset_index(drop=True)
        assert frame.equals(expected), name


def test_several_judges_share_signal_and_keep_first_judge():
    single = simulate_cohort({"control": 150, "coach": 150}, seed=11)
    double = simulate_cohort({"control": 150, "coach": 150}, seed=11, judges=("gpt-4o", "claude"))
    assert len(double.scores) == 2 * len(single.scores)
    first = double.scores[double.scores["judge"] == "gpt-4o"].reset_index(drop=True)
    assert first.equals(single.scores)
    wide = double.scores.pivot_table(
        index=["conversation_id", "dimension"], columns="judge", values="score"
    )
    agreement = np.corrcoef(wide["gpt-4o"], wide["claude"])[0, 1]
    assert 0.5 < agreement < 0.99
    assert (wide["gpt-4o"] != wide["claude"]).any()


def test_determinism(tmp_path):
    first = simulate_cohort(DEFAULT_ARM_SIZES, seed=7, judges=("a", "b"))
    second = simulate_cohort(DEFAULT_ARM_SIZES, seed=7, judges=("a", "b"))
    other = simulate_cohort(DEFAULT_ARM_SIZES, seed=8, judges=("a", "b"))
    for name, frame in first.items():
        assert frame.equals(getattr(second, name)), name
    assert not first.scores.equals(other.scores)
    assert not first.messages.equals(other.messages)
    written_first = write_native(first, tmp_path / "first")
    written_second = write_native(second, tmp_path / "second")
    written_other = write_native(other, tmp_path / "other")
    for name in NATIVE_FILES:
        assert written_first[name].read_bytes() == written_second[name].read_bytes(), name
    assert written_first["scores"].read_bytes() != written_other["scores"].read_bytes()


def test_supporter_phrases_track_scores(cohort):
    supporter = cohort.messages[cohort.messages["role"] == "supporter"]
    joined = supporter.groupby("conversation_id")["text"].agg(" ".join)
    for dimension, bank in PHRASE_BANKS.items():
        pattern = "|".join(re.escape(phrase) for phrase in bank)
        scores = cohort.scores[cohort.scores["dimension"] == dimension]
        scores = scores.set_index("conversation_id")
        used = joined.reindex(scores.index, fill_value="").str.contains(pattern, regex=True)
        high = used[scores["score"] >= 4].mean()
        low = used[scores["score"] <= 2].mean()
        assert high > low + 0.2, (dimension, high, low)


def test_mismatched_first_scenario_counts_raise():
    counts = dict(DEFAULT_FIRST_SCENARIO_COUNTS, job_loss=202)
    with pytest.raises(ConfigError, match="first_scenario_counts"):
        simulate_cohort(DEFAULT_ARM_SIZES, seed=1, first_scenario_counts=counts)
    with pytest.raises(ConfigError, match="Unknown scenario"):
        simulate_cohort({"control": 1}, seed=1, first_scenario_counts={"bereavement": 1})


def test_unknown_arm_raises():
    with pytest.raises(ConfigError, match="No calibration target for arm 'booster'"):
        simulate_cohort({"control": 10, "booster": 10}, seed=1)


def test_extra_arm_with_given_effects():
    effects = {d: (0.0, 0.5 if d in PRESCRIPTIVE_DIMENSIONS else -0.5) for d in DIMENSIONS}
    parameters = SimulationParameters(arm_effects={"booster": effects})
    means = cell_means(["control", "booster"], parameters=parameters).set_index(
        ["arm", "post", "dimension"]
    )["mean"]
    for dimension, (_, shift) in effects.items():
        did = (means[("booster", 1, dimension)] - means[("booster", 0, dimension)]) - (
            means[("control", 1, dimension)] - means[("control", 0, dimension)]
        )
        assert did == pytest.approx(shift)
    tables = simulate_cohort({"control": 20, "booster": 20}, seed=1, parameters=parameters)
    assert set(tables.participants["arm"]) == {"control", "booster"}


def test_invalid_arguments_raise():
    with pytest.raises(ConfigError):
        simulate_cohort(DEFAULT_ARM_SIZES, seed=1, messages_per_conversation=1.5)
    with pytest.raises(ConfigError):
        simulate_cohort(DEFAULT_ARM_SIZES, seed=1, judges=("a", "a"))
    with pytest.raises(ConfigError):
        SimulationParameters(conversation_loading=0.6)


def test_generation_is_fast():
    # CPU time of this process, not wall time: other jobs on the machine do not count against it
    start = time.process_time()
    tables = simulate_cohort(
        DEFAULT_ARM_SIZES, seed=2, first_scenario_counts=DEFAULT_FIRST_SCENARIO_COUNTS
    )
    assert time.process_time() - start < 5.0
    assert len(tables.messages) == pytest.approx(2904 * 11.7, rel=0.02)


# --- Planted expressions (taxonomy) -------------------------------------------------------------

PAPER_SIM_SCORES_SHA256 = "a9fe57f3e4dd54169e801403c17a65ea208f3355e44a21249577a4be274bf5a0"


def test_scores_of_the_default_cohort_are_unchanged_by_the_phrase_model(tmp_path):
    # sha256 of scores.csv of the default cohort (config/config.yaml: seed 20260126) as written by the
    # simulator before the phrase model (docs/taxonomy.md): the phrases draw from their own stream.
    tables = simulate_cohort(
        DEFAULT_ARM_SIZES, seed=20260126, judges=["gpt-4o"], first_scenario_counts=DEFAULT_FIRST_SCENARIO_COUNTS
    )
    path = write_native(tables, tmp_path)["scores"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PAPER_SIM_SCORES_SHA256


def test_phrase_settings_change_only_the_messages():
    base = simulate_cohort({"control": 40, "coach": 40}, seed=12, judges=("a", "b"))
    other = simulate_cohort(
        {"control": 40, "coach": 40}, seed=12, judges=("a", "b"),
        parameters=SimulationParameters(phrase_training_shift=0.0, phrase_ceiling=0.9),
    )
    for name in ("participants", "conversations", "scores"):
        assert getattr(base, name).equals(getattr(other, name)), name
    same_layout = base.messages[["conversation_id", "turn", "role"]].equals(other.messages[["conversation_id", "turn", "role"]])
    assert same_layout and not base.messages["text"].equals(other.messages["text"])


def test_phrase_themes_are_well_formed():
    shifts = planted_training_shifts()
    assert set(shifts["category"]) <= set(THEME_CATEGORIES)
    totals = shifts.groupby(["dimension", "trouble_type"])["share"].sum()
    np.testing.assert_allclose(totals, 1.0)
    assert set(totals.index.get_level_values("dimension")) == set(DIMENSIONS)
    variants = [(theme.theme, variant) for theme in PHRASE_THEMES for variant in theme.variants]
    for theme, variant in variants:
        assert variant[-1] in '.?!"', variant
        for other_theme, other in variants:
            if other_theme != theme:
                assert variant not in other, (variant, other)
    assert {d: set(bank) for d, bank in PHRASE_BANKS.items()} == {
        d: {v for theme in PHRASE_THEMES if theme.dimension == d for v in theme.variants} for d in DIMENSIONS
    }
    planted = shifts[shifts["direction"] != "none"]
    assert {"inviting_more", "offering_availability"} <= set(planted.query("direction == 'rising'")["theme"])
    assert {"reassuring_outcome", "one_day_at_a_time", "prayer"} <= set(planted.query("direction == 'falling'")["theme"])


def test_coded_themes_are_the_planted_expressions(cohort):
    themes = code_planted_themes(cohort.messages)
    assert list(themes.columns) == ["conversation_id", "turn", "theme", "category"]
    keyed = cohort.messages.set_index(["conversation_id", "turn"])
    coded = keyed.loc[pd.MultiIndex.from_frame(themes[["conversation_id", "turn"]])]
    assert (coded["role"] == "supporter").all()
    variants = {theme.theme: theme.variants for theme in PHRASE_THEMES}
    for text, theme in zip(coded["text"].head(500), themes["theme"].head(500)):
        assert any(variant in text for variant in variants[theme])
    assert not themes.duplicated(["conversation_id", "turn", "theme"]).any()
    categories = {theme.theme: theme.category for theme in PHRASE_THEMES}
    assert (themes["category"] == themes["theme"].map(categories)).all()


def test_planted_training_shifts_move_theme_rates_in_treated_arms_only(cohort):
    themes = code_planted_themes(cohort.messages)
    supporter = cohort.messages[cohort.messages["role"] == "supporter"]
    design = cohort.conversations.merge(cohort.participants[["participant_id", "arm"]], on="participant_id")
    design = design.assign(treated=design["arm"] != "control", post=design["conversation_number"] > 1)
    messages = supporter.merge(design, on="conversation_id")

    def share(theme, trouble, treated, post):
        cell = messages[(messages["trouble_type"] == trouble) & (messages["treated"] == treated) & (messages["post"] == post)]
        used = themes[themes["theme"] == theme].merge(cell, on=["conversation_id", "turn"])
        return len(used) / len(cell)

    # inviting_more rises by exp(1.5) in workplace conversations after training, on top of the small rise of
    # the elaboration scores; prayer falls by exp(-2) in personal ones.
    assert share("inviting_more", "workplace", True, True) > 3 * share("inviting_more", "workplace", True, False)
    assert share("inviting_more", "workplace", False, True) < 1.5 * share("inviting_more", "workplace", False, False)
    assert share("prayer", "personal", True, True) < 0.4 * share("prayer", "personal", True, False)
    assert share("prayer", "personal", False, True) > 0.6 * share("prayer", "personal", False, False)
