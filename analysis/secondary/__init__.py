"""The secondary analyses: silent empathy, perception of aligned responses, improvement, the judges' agreement
with experts, the per-judge sensitivity analysis and the taxonomy of expressions.
"""

__all__ = ["agreement", "improvement", "judge_sensitivity", "perception", "perception_outputs", "silent_empathy", "taxonomy"]
