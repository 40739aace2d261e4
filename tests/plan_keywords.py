"""The keyword arguments of the secondary analyses, unpacked from a plan block by the functions the rules use.

The rules pass ``analysis.prereg.keywords`` results as their ``keywords`` param, so a test that calls an
analysis with these (or with a block edited to probe one option) reads the plan as its rule does.
"""

from __future__ import annotations

from analysis.prereg.keywords import (
    agreement_keywords,
    elo_keywords,
    improvement_keywords,
    logit_keywords,
    perception_keywords,
    silent_empathy_keywords,
)

__all__ = [
    "logit_keywords", "perception_keywords", "elo_keywords", "silent_empathy_keywords", "improvement_keywords",
    "agreement_keywords",
]
