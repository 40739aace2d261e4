"""Every table and figure: the only subpackage that imports matplotlib. The primary analysis (primary, tables,
figures), the model families (bayes, mixed, taxonomy, power) and per-format escaping (escape).
"""

__all__ = ["bayes", "escape", "figures", "mixed", "power", "primary", "tables", "taxonomy"]
