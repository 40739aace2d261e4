"""Tests of the taxonomy's tables and figure (analysis.render.taxonomy)."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.colors import to_hex

from analysis.constants import DIMENSIONS
from analysis.render.style import CATEGORY_COLOURS
from analysis.render.taxonomy import TOP_COLUMNS, change_table, plot_expression_change, taxonomy_table


def _top() -> pd.DataFrame:
    rows = [
        ("workplace", "rising", 1, "tell me more", "cognitive", 0.189, 0.166, 0.212, 1e-50, 83, 1098, 0.033, 0.229),
        ("workplace", "falling", 1, "everything will be okay", "misattuned", -0.047, -0.072, -0.021, 0.005, 171, 56, 0.069, 0.012),
        ("personal", "rising", 1, "i am here for you", "affective", 0.146, 0.120, 0.171, 1e-26, 62, 600, 0.041, 0.187),
        ("personal", "rising", 2, "write to jane@example.com", "unassigned", 0.02, 0.01, 0.03, 0.04, 5, 30, 0.01, 0.02),
    ]
    return pd.DataFrame(rows, columns=list(TOP_COLUMNS))


def _taxonomy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "phrase": ["tell me more", "about what happened", "you should", "hmm right"],
            "dimension": ["encouraging_elaboration", "encouraging_elaboration", "advice_giving", "self_oriented"],
            "marks": [True, True, True, False],
            "direction": ["prescriptive", "prescriptive", "misattuned", None],
            "z": [19.206, 14.2591, 17.88, 0.5],
            "rank_in_dimension": [1, 2, 1, 1],
            "support_messages": [1787, 1233, 1348, 12],
            "support_participants": [664, 598, 695, 9],
        }
    )


def test_taxonomy_table_lists_marked_phrases_by_dimension():
    table = taxonomy_table(_taxonomy(), DIMENSIONS, top_n=1)
    assert table.to_dict("records") == [
        {"Dimension": "Encouraging elaboration", "Phrase": "tell me more", "Direction": "prescriptive", "z": "19.21",
         "Messages": "1,787", "Participants": "664"},
        {"Dimension": "Advice giving", "Phrase": "you should", "Direction": "misattuned", "z": "17.88",
         "Messages": "1,348", "Participants": "695"},
    ]
    assert "Monroe" in table.attrs["note"]


def test_change_table_orders_and_formats_and_scrubs():
    table = change_table(_top())
    assert table["Trouble type"].tolist() == ["Workplace", "Workplace", "Personal", "Personal"]
    assert table["Change"].tolist() == ["rising", "falling", "rising", "rising"]
    first = table.iloc[0]
    assert first["DiD (pp) [95% CI]"] == "18.9 [16.6, 21.2]"
    assert (first["Treated before (%)"], first["Treated after (%)"], first["q"]) == ("3.3", "22.9", "<0.001")
    assert table.iloc[3]["Expression"] == "write to [email]"


def test_change_table_requires_its_columns():
    with pytest.raises(ValueError, match="q_value"):
        change_table(_top().drop(columns="q_value"))


def test_figure_has_a_panel_per_trouble_type_coloured_by_category():
    figure = plot_expression_change(_top(), "mined phrases", synthetic=True)
    assert figure._suptitle.get_text().startswith("SYNTHETIC DATA")
    workplace, personal = figure.axes[:2]
    assert workplace.get_title() == "Workplace troubles" and personal.get_title() == "Personal troubles"
    labels = [label.get_text() for label in personal.get_yticklabels()]
    assert labels == ["\u201ci am here for you\u201d", "\u201cwrite to [email]\u201d"]
    colours = [to_hex(bar.get_facecolor()) for bar in personal.patches]
    assert colours == [CATEGORY_COLOURS["affective"].lower(), CATEGORY_COLOURS["unassigned"].lower()]
    texts = [text.get_text() for text in personal.texts]
    assert "62\u2192600" in texts


def test_figure_of_themes_reads_labels_as_words_and_says_when_nothing_changed():
    top = _top()
    top = top[top["trouble_type"] == "workplace"].assign(expression=["inviting_more", "reassuring_outcome"])
    figure = plot_expression_change(top, "themes", quoted=False)
    assert not figure._suptitle.get_text().startswith("SYNTHETIC")
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["inviting more", "reassuring outcome"]
    empty = plot_expression_change(_top().iloc[0:0], "themes")
    assert any(text.get_text() == "no significant change" for ax in empty.axes for text in ax.texts)
