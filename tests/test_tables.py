"""Tests of the publication tables (analysis.render.tables)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis.constants import COMPOSITE, OUTCOMES
from analysis.render.tables import (
    OUTCOME_LABELS,
    SYNTHETIC_PREFIX,
    coefficient_cells,
    contrasts_table,
    did_term_rows,
    display_table,
    format_number,
    format_p_value,
    primary_table,
    render_table,
    significance_stars,
)
from tests.conftest import simulated_outcomes

ARMS = ("control", "video", "coach", "combined")
TREATED = ARMS[1:]


def fit_did(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """OLS DiD with participant-clustered SEs, in the did_coefficients / model_fit layout."""
    data = scores.assign(arm=pd.Categorical(scores["arm"], categories=list(ARMS)))
    groups = pd.factorize(data["participant_id"])[0]
    n_clusters = data["participant_id"].nunique()
    coefficient_rows, fit_rows = [], []
    for outcome in OUTCOMES:
        model = smf.ols(f"{outcome} ~ C(arm) * post", data=data).fit(
            cov_type="cluster", cov_kwds={"groups": groups}
        )
        interval = model.conf_int()
        for name in model.params.index:
            term = name.replace("Intercept", "intercept").replace("C(arm)[T.", "").replace("]", "")
            coefficient_rows.append(
                {
                    "outcome": outcome,
                    "term": term,
                    "estimate": model.params[name],
                    "std_error": model.bse[name],
                    "statistic": model.tvalues[name],
                    "p_value": model.pvalues[name],
                    "ci_low": interval.loc[name, 0],
                    "ci_high": interval.loc[name, 1],
                    "n_obs": int(model.nobs),
                    "n_clusters": n_clusters,
                }
            )
        fit_rows.append(
            {
                "outcome": outcome,
                "n_obs": int(model.nobs),
                "n_clusters": n_clusters,
                "r2": model.rsquared,
                "r2_adj": model.rsquared_adj,
                "residual_se": float(np.sqrt(model.scale)),
                "f_statistic": float(model.fvalue),
                "f_p_value": float(model.f_pvalue),
            }
        )
    return pd.DataFrame(coefficient_rows), pd.DataFrame(fit_rows)


@pytest.fixture(scope="module")
def did() -> tuple[pd.DataFrame, pd.DataFrame]:
    return fit_did(simulated_outcomes())


def hand_coefficients(p_values: dict[str, float]) -> pd.DataFrame:
    """One outcome's coefficients with chosen p-values (full precision estimates)."""
    estimates = {
        "intercept": 2.5551234,
        "video": -0.0614999,
        "coach": 0.0550001,
        "combined": 0.1234567,
        "post": 0.2004999,
        "video:post": 0.6475001,
        "coach:post": -0.0004,
        "combined:post": 1.23456789,
    }
    return pd.DataFrame(
        {
            "outcome": "validating_emotions",
            "term": list(estimates),
            "estimate": list(estimates.values()),
            "std_error": [0.0614321] * len(estimates),
            "p_value": [p_values.get(term, 0.5) for term in estimates],
        }
    )


def hand_fit(outcomes: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "outcome": outcomes,
            "n_obs": [2904] * len(outcomes),
            "n_clusters": [968] * len(outcomes),
            "r2": [0.0712345] * len(outcomes),
            "r2_adj": [0.0690001] * len(outcomes),
            "residual_se": [0.9754999] * len(outcomes),
            "f_statistic": [12.34567] * len(outcomes),
            "f_p_value": [1e-9] * len(outcomes),
        }
    )


def hand_contrasts() -> pd.DataFrame:
    rows = []
    for outcome in (COMPOSITE, "advice_giving"):
        for arm_a, arm_b in (("coach", "video"), ("combined", "video"), ("combined", "coach")):
            rows.append(
                {
                    "outcome": outcome,
                    "arm_a": arm_a,
                    "arm_b": arm_b,
                    "estimate": 0.41234567,
                    "std_error": 0.1456789,
                    "statistic": 2.83,
                    "p_value": 0.00465432,
                    "p_adjusted": 0.0139629,
                    "ci_low": 0.127,
                    "ci_high": 0.697,
                    "outcome_sd": 4.5,
                    "estimate_sd": 0.09163237,
                    "ci_low_sd": 0.02822222,
                    "ci_high_sd": 0.15488889,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("p_value", "stars"),
    [
        (0.0499, "*"),
        (0.05, ""),
        (0.2, ""),
        (0.0100, "*"),
        (0.009, "**"),
        (0.001, "**"),
        (0.0009, "***"),
        (float("nan"), ""),
    ],
)
def test_significance_stars_thresholds(p_value: float, stars: str) -> None:
    assert significance_stars(p_value) == stars


def test_format_number_and_p_value() -> None:
    assert format_number(0.6475001) == "0.648"
    assert format_number(-0.0004) == "0.000"
    assert format_number(float("nan")) == ""
    assert format_number(2.5, digits=1) == "2.5"
    assert format_p_value(0.00004) == "<0.001"
    assert format_p_value(0.0123456) == "0.012"
    assert format_p_value(1.0) == "1.000"


def test_coefficient_cells_stars_and_rounding() -> None:
    coefficients = hand_coefficients(
        {"video:post": 0.0009, "post": 0.0499, "coach:post": 0.05, "combined:post": 0.009}
    )
    table = primary_table(coefficients, hand_fit(["validating_emotions"]), ARMS)
    cells = dict(zip(table["Term"], table["Validating emotions"], strict=True))
    assert cells["Video x post"] == "0.648*** (0.061)"
    assert cells["Post"] == "0.200* (0.061)"
    assert cells["Coach x post"] == "0.000 (0.061)"
    assert cells["Combined x post"] == "1.235** (0.061)"
    assert cells["Intercept"] == "2.555 (0.061)"
    assert cells["R2"] == "0.071"
    assert cells["Adjusted R2"] == "0.069"
    assert cells["Residual SE"] == "0.975"
    assert cells["F statistic"] == "12.346***"
    assert cells["N (conversations)"] == "2,904"
    assert cells["Participants (clusters)"] == "968"
    two_digits = primary_table(coefficients, hand_fit(["validating_emotions"]), ARMS, digits=2)
    assert dict(zip(two_digits["Term"], two_digits["Validating emotions"], strict=True))[
        "Video x post"
    ] == "0.65*** (0.06)"


def test_primary_table_from_fitted_models(did: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    coefficients, fit = did
    before = coefficients.copy()
    table = primary_table(coefficients, fit, ARMS)
    pd.testing.assert_frame_equal(coefficients, before)

    assert list(table.columns) == ["Term"] + [OUTCOME_LABELS[outcome] for outcome in OUTCOMES]
    assert list(table["Term"]) == [
        "Intercept",
        "Video",
        "Coach",
        "Combined",
        "Post",
        "Video x post",
        "Coach x post",
        "Combined x post",
        "R2",
        "Adjusted R2",
        "Residual SE",
        "F statistic",
        "N (conversations)",
        "Participants (clusters)",
    ]
    row = coefficients.set_index(["outcome", "term"]).loc[("advice_giving", "coach:post")]
    expected = (
        f"{row['estimate']:.3f}{significance_stars(row['p_value'])} ({row['std_error']:.3f})"
    )
    cell = table.loc[table["Term"] == "Coach x post", "Advice giving"].item()
    assert cell == expected
    assert cell != f"{row['estimate']} ({row['std_error']})"
    for value in table.iloc[:8, 1:].to_numpy().ravel():
        estimate, std_error = value.split(" ")
        assert len(estimate.rstrip("*").split(".")[1]) == 3
        assert len(std_error.strip("()").split(".")[1]) == 3
    assert "cluster-robust" in table.attrs["note"]
    assert "* p < .05" in table.attrs["note"]


def test_primary_table_column_order_and_subset(did: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    coefficients, fit = did
    keep = [COMPOSITE, "advice_giving", "validating_emotions"]
    subset = coefficients[coefficients["outcome"].isin(keep)]
    shuffled = subset.sample(frac=1.0, random_state=3)
    table = primary_table(shuffled, fit.iloc[::-1], ["video", "control", "coach", "combined"])
    assert list(table.columns) == [
        "Term",
        "Validating emotions",
        "Advice giving",
        "Overall empathy",
    ]
    assert list(table["Term"][:4]) == ["Intercept", "Video", "Coach", "Combined"]
    assert table.equals(primary_table(subset, fit, ARMS))


def test_primary_table_errors(did: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    coefficients, fit = did
    with pytest.raises(ValueError, match="std_error"):
        primary_table(coefficients.drop(columns="std_error"), fit, ARMS)
    with pytest.raises(ValueError, match="r2_adj"):
        primary_table(coefficients, fit.drop(columns="r2_adj"), ARMS)
    with pytest.raises(ValueError, match="combined"):
        primary_table(coefficients, fit, ["control", "video", "coach"])
    with pytest.raises(ValueError, match="extra"):
        primary_table(coefficients, fit, [*ARMS, "extra"])


def test_contrasts_table() -> None:
    contrasts = hand_contrasts()
    table = contrasts_table(contrasts)
    assert list(table.columns) == [
        "Outcome",
        "Contrast",
        "Estimate (SE)",
        "p",
        "Holm-adjusted p",
        "Effect in SD [95% CI]",
    ]
    assert list(table["Outcome"]) == ["Advice giving"] * 3 + ["Overall empathy"] * 3
    assert list(table["Contrast"][:3]) == ["Coach - Video", "Combined - Video", "Combined - Coach"]
    first = table.iloc[0]
    assert first["Estimate (SE)"] == "0.412 (0.146)"
    assert first["p"] == "0.005"
    assert first["Holm-adjusted p"] == "0.014"
    assert first["Effect in SD [95% CI]"] == "0.092 [0.028, 0.155]"
    assert "Bonferroni-adjusted p" in contrasts_table(contrasts, method="Bonferroni").columns
    with pytest.raises(ValueError, match="p_adjusted"):
        contrasts_table(contrasts.drop(columns="p_adjusted"))


@pytest.mark.parametrize("synthetic", [True, False])
def test_render_table_synthetic_caption(
    did: tuple[pd.DataFrame, pd.DataFrame], synthetic: bool
) -> None:
    table = primary_table(*did, ARMS)
    caption = "Primary difference-in-differences models"
    rendered = render_table(table, caption, "tab:primary", synthetic=synthetic)
    assert set(rendered) == {"csv", "tex", "md"}
    assert ("SYNTHETIC DATA" in rendered["csv"]) is synthetic
    assert ("SYNTHETIC DATA" in rendered["tex"]) is synthetic
    assert ("SYNTHETIC DATA" in rendered["md"]) is synthetic
    expected_caption = (SYNTHETIC_PREFIX if synthetic else "") + caption
    assert rendered["md"].splitlines()[0] == expected_caption
    assert "\\caption{" + expected_caption + "}" in rendered["tex"]
    read_back = pd.read_csv(io.StringIO(rendered["csv"]), dtype=str, keep_default_na=False)
    assert read_back.iloc[0, 0] == expected_caption
    assert (read_back.iloc[0, 1:] == "").all()


def test_render_table_formats(did: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    table = primary_table(*did, ARMS)
    rendered = render_table(table, "Primary models (OLS, 95% CI)", "tab:primary")
    tex = rendered["tex"]
    assert "\\caption{Primary models (OLS, 95\\% CI)}" in tex
    assert "\\label{tab:primary}" in tex
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{table}", "\\end{tabular}"):
        assert rule in tex
    assert "p \\textless{} .05" in tex

    md_lines = rendered["md"].splitlines()
    table_lines = [line for line in md_lines if line.startswith("|")]
    assert len(table_lines) == len(table) + 2
    header = [cell.strip() for cell in table_lines[0].strip("|").split("|")]
    assert header == list(table.columns)
    assert md_lines[-1].startswith("Note: ")

    read_back = pd.read_csv(io.StringIO(rendered["csv"]), dtype=str, keep_default_na=False)
    assert list(read_back.columns) == list(table.columns)
    assert len(read_back) == len(table) + 2
    pd.testing.assert_frame_equal(
        read_back.iloc[1:-1].reset_index(drop=True), table.astype(str), check_dtype=False
    )
    assert read_back.iloc[-1, 0].startswith("Note: ")
    assert "\r" not in rendered["csv"]
    for text in rendered.values():
        assert text.endswith("\n")


def test_render_table_contrasts_markdown_rows() -> None:
    contrasts = hand_contrasts()
    contrasts.loc[5, "p_adjusted"] = 1.0
    table = contrasts_table(contrasts)
    rendered = render_table(table, "Pairwise contrasts", "tab:contrasts", synthetic=True)
    table_lines = [line for line in rendered["md"].splitlines() if line.startswith("|")]
    assert len(table_lines) == 6 + 2
    assert "| 1.000 " in rendered["md"]
    assert "Holm-adjusted p" in rendered["tex"]


def test_rendering_is_deterministic(did: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    coefficients, fit = did
    first = render_table(primary_table(coefficients, fit, ARMS), "Caption", "tab:x", synthetic=True)
    rebuilt = primary_table(coefficients.copy(), fit.copy(), list(ARMS))
    second = render_table(rebuilt, "Caption", "tab:x", synthetic=True)
    assert first == second
    contrasts = hand_contrasts()
    assert render_table(contrasts_table(contrasts), "C", "tab:c") == render_table(
        contrasts_table(contrasts.copy()), "C", "tab:c"
    )


def test_did_term_rows_list_the_terms_in_table_order():
    assert did_term_rows(["control", "coach", "control", "video"], "control") == [
        ("intercept", "Intercept"), ("coach", "Coach"), ("video", "Video"), ("post", "Post"),
        ("coach:post", "Coach x post"), ("video:post", "Video x post"),
    ]


def test_coefficient_cells_format_each_term_and_leave_missing_terms_empty():
    by_key = pd.DataFrame(
        {"outcome": ["o", "o"], "term": ["post", "coach:post"], "estimate": [0.12345, -1.5], "std_error": [0.05, 0.2],
         "p_value": [0.0004, 0.3]}
    ).set_index(["outcome", "term"])
    assert coefficient_cells(by_key, "o", ["post", "coach:post", "video:post"], digits=2) == ["0.12*** (0.05)", "-1.50 (0.20)", ""]


def test_display_table_keeps_strings_and_its_note_even_without_rows():
    table = display_table([{"A": "1.0", "B": "x"}], note="a note")
    assert table.attrs["note"] == "a note" and table.dtypes.tolist() == [object, object]
    empty = display_table([], note="none", columns=["A", "B"])
    assert list(empty.columns) == ["A", "B"] and empty.empty and empty.attrs["note"] == "none"
