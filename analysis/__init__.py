"""Analysis package of the Lend an Ear trial pipeline.

All statistics and data handling live here; the Snakemake scripts in
``workflow/scripts`` only read their inputs, call one function of this package
and write their outputs. The subpackages follow the pipeline's stages
(docs/architecture.md): ``cohorts`` (contract, validation, exclusions, outcomes),
``adapters`` (release formats), ``models`` (registered models), ``secondary``
(secondary analyses), ``simulate``, ``planning``, ``prereg`` (plan, lock, spec
records, audit) and ``render`` (tables and figures), then ``report`` (the HTML
report); ``runtime`` runs the steps, ``errors`` and ``constants`` are shared by all.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
