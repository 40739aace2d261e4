"""The registered models: the OLS difference-in-differences (did), the mixed models (mixed), reliable change,
the Bayesian ordinal and composite models (bayes, bayes_columns) and the comparison of estimators.
"""

__all__ = ["bayes", "bayes_columns", "did", "estimator_comparison", "mixed", "reliable_change"]
