"""Hypothesis settings profiles of the property-based tests (imported by tests/conftest.py).

* ``default``: what ``make test`` runs. Few examples per property, derandomized (the examples follow
  from each test's source, so every machine runs the same ones), no deadline (a shared, loaded
  machine must not turn a slow example into a failure) and no example database (a test does not
  replay examples saved by an earlier run, so its result depends on the code alone).
* ``fuzz``: what ``make fuzz`` runs. ``HYPOTHESIS_FUZZ_EXAMPLES`` examples per property (default
  1000) from a fresh random seed each run; a failure prints the ``@reproduce_failure`` blob that
  replays it.

``HYPOTHESIS_PROFILE`` selects one (default: ``default``). A test's own ``@settings`` override the
profile field by field. Hypothesis keeps its caches in ``.hypothesis/``, which ignores itself in git.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Generated cohorts are written to disk and validated: slower than Hypothesis expects, and some
# examples (very long message texts) are large on purpose.
SLOW_BY_DESIGN = (HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example)
DEFAULT_EXAMPLES = 6
FUZZ_EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "1000"))

# What both profiles share; they differ in how many examples, and whether those follow from the source.
COMMON = {"deadline": None, "database": None, "suppress_health_check": SLOW_BY_DESIGN}

settings.register_profile("default", max_examples=DEFAULT_EXAMPLES, derandomize=True, print_blob=False, **COMMON)
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, derandomize=False, print_blob=True, **COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
