"""Snakemake logger plugin ``steps``: one line per step, heartbeats of long steps, failures last.

Snakemake finds logger plugins by their module name on ``sys.path``; the Makefile puts
``workflow/plugins`` on ``PYTHONPATH`` and passes ``--logger steps``. The logic lives in
:mod:`analysis.runtime.console`.
"""

from analysis.runtime.console import LogHandler

__all__ = ["LogHandler"]
