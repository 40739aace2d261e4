"""Analysis package of the Lend an Ear trial pipeline.

All statistics and data handling live here; the Snakemake scripts in
``workflow/scripts`` only read their inputs, call one function of this package
and write their outputs.
"""

__version__ = "0.1.0"
