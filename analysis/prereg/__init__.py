"""The pre-registration: the plan (plan), its lock (lock), the spec records each analysis writes (specs) and the
audit of a run against the plan (audit).
"""

__all__ = ["audit", "lock", "plan", "specs"]
