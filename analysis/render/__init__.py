"""Every table and figure: the only subpackage that imports matplotlib. The house style of every figure (style),
the primary analysis (primary, tables, figures), the model families (bayes, mixed, taxonomy, power,
estimator_comparison), the secondary analyses (agreement, improvement, judge_sensitivity, perception,
silent_empathy) and per-format escaping (escape).
"""

__all__ = [
    "agreement", "bayes", "escape", "estimator_comparison", "figures", "improvement", "judge_sensitivity", "mixed",
    "perception", "power", "primary", "silent_empathy", "style", "tables", "taxonomy",
]
