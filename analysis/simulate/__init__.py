"""Simulators: a calibrated cohort (cohort), the perception study (perception) and the authors' release layout
(release). Everything they write is labelled synthetic.
"""

__all__ = ["cohort", "perception", "release"]
