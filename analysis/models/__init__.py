"""The registered models: the OLS difference-in-differences (did), the mixed models (mixed), reliable change,
the Bayesian ordinal and composite models (bayes, bayes_columns) and what their rules write (bayes_outputs),
the comparison of estimators and the tidy coefficient tables they share (tidy).
"""

__all__ = ["bayes", "bayes_columns", "bayes_outputs", "did", "estimator_comparison", "mixed", "reliable_change", "tidy"]
