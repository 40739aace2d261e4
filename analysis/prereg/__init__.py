"""The pre-registration: the plan (plan), its lock (lock), the keyword arguments each analysis takes from its plan
block (keywords), the spec records each analysis writes (specs) and the audit of a run against the plan (audit).
"""

__all__ = ["audit", "keywords", "lock", "plan", "specs"]
