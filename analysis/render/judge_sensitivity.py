"""Judge sensitivity for people: the primary estimate beside each judge's rerun, as a table.

* :func:`judge_sensitivity_table`: one row per outcome and arm, the registered primary estimate and
  each judge's;
* :func:`judge_sensitivity_text`: that table rendered as CSV, LaTeX and Markdown by
  :func:`analysis.render.tables.render_table`.

The reruns are in :mod:`analysis.secondary.judge_sensitivity`. Rounding happens here and only here.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analysis.render.tables import arm_label, display_table, format_coefficient, format_number, outcome_label, render_table
from analysis.secondary.judge_sensitivity import SINGLE_JUDGE_NOTE

__all__ = ["judge_sensitivity_table", "judge_sensitivity_text"]


def judge_sensitivity_table(effects: pd.DataFrame, primary_coefficients: pd.DataFrame, primary_label: str, digits: int = 3) -> pd.DataFrame:
    """Display table: one row per outcome and arm; the registered primary estimate, then each judge's.

    Cells read ``estimate<stars> (SE)``; the last column is the largest absolute difference of a
    judge's estimate from the primary estimate.

    Parameters
    ----------
    effects : pandas.DataFrame
        Per-judge reruns (:data:`analysis.secondary.judge_sensitivity.SENSITIVITY_COLUMNS`): one row
        per judge, outcome and arm; uses ``judge``, ``outcome``, ``arm``, ``estimate``,
        ``std_error``, ``p_value``, ``difference`` (from the primary estimate) and, when present,
        ``note`` (non-empty: not estimable).
    primary_coefficients : pandas.DataFrame
        Coefficients of the registered primary analysis (``outcome``, ``term``, ``estimate``,
        ``std_error``, ``p_value``); the ``<arm>:post`` term of each outcome is shown.
    primary_label : str
        Header of the primary estimate's column.
    digits : int, default 3
        Decimal places of estimates, SEs and the largest difference.

    Returns
    -------
    pandas.DataFrame
        Display strings, one row per (outcome, arm) in order of first appearance: ``Outcome``,
        ``Arm x post``, ``primary_label``, one column per judge (``"not estimable"`` when noted,
        ``""`` when the judge has no row), and ``Largest |difference|``; ``attrs["note"]`` set.
    """
    judges = list(dict.fromkeys(effects["judge"]))
    keys = list(dict.fromkeys(zip(effects["outcome"], effects["arm"], strict=True)))
    indexed = effects.set_index(["judge", "outcome", "arm"])
    primary = primary_coefficients.set_index(["outcome", "term"])
    rows = []
    for outcome, arm in keys:
        block = effects[(effects["outcome"] == outcome) & (effects["arm"] == arm)]
        registered = primary.loc[(outcome, f"{arm}:post")]
        row = {"Outcome": outcome_label(outcome), "Arm x post": arm_label(arm),
               primary_label: format_coefficient(registered["estimate"], registered["std_error"], registered["p_value"], digits)}
        for judge in judges:
            if (judge, outcome, arm) in indexed.index:
                cell = indexed.loc[(judge, outcome, arm)]
                # the column is absent from tables written before it existed; read back from CSV an empty note is NaN
                note = cell.get("note", "")
                if isinstance(note, str) and note:
                    row[judge] = "not estimable"
                else:
                    row[judge] = format_coefficient(cell["estimate"], cell["std_error"], cell["p_value"], digits)
            else:
                row[judge] = ""
        row["Largest |difference|"] = format_number(block["difference"].abs().max(), digits)
        rows.append(row)
    return display_table(rows, note=(
        "Each judge column reruns the registered primary analysis (registered exclusions, OLS score ~ arm + post + arm:post, "
        "cluster-robust SE by participant) on that judge's scores alone; \"not estimable\": that judge's scores of the outcome "
        "do not vary, are missing or leave an arm empty (see the note column of judge_sensitivity.csv). "
        "* p < .05, ** p < .01, *** p < .001."
        + (f" {SINGLE_JUDGE_NOTE}" if len(judges) == 1 else "")
    ))


def judge_sensitivity_text(effects: pd.DataFrame, primary_coefficients: pd.DataFrame, aggregation: Mapping, cohort: str,
                           synthetic: bool) -> dict[str, str]:
    """The judge-sensitivity table as CSV, LaTeX and Markdown text (see :func:`judge_sensitivity_table`).

    Parameters
    ----------
    effects, primary_coefficients : pandas.DataFrame
        As :func:`judge_sensitivity_table` takes them.
    aggregation : mapping
        The primary analysis's judge aggregation: ``method`` (default ``"mean"``) and, for
        ``"single"``, ``judge``; names the primary column (``Primary (<judge>)`` or
        ``Primary (<method> of judges)``).
    cohort : str
        Cohort name, used in the caption and the label ``tab:judge-sensitivity-<cohort>``.
    synthetic : bool
        Whether the data are simulated (the caption then says so).

    Returns
    -------
    dict of str to str
        ``csv``, ``tex`` and ``md`` text of :func:`analysis.render.tables.render_table`, with
        3 decimals.
    """
    method = aggregation.get("method", "mean")
    label = f"Primary ({aggregation.get('judge')})" if method == "single" else f"Primary ({method} of judges)"
    return render_table(
        judge_sensitivity_table(effects, primary_coefficients, label),
        caption=f"Sensitivity of the arm x post effects to the choice of judge (cohort {cohort})",
        label=f"tab:judge-sensitivity-{cohort}",
        synthetic=synthetic,
    )
