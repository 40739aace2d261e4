"""Planning the next cohort: power, sample size and minimal detectable effects by simulated trials (power).
"""

__all__ = ["power"]
