"""Rule derive_outcomes: aggregate the judges as registered and add the composite."""

import pandas as pd

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.cohorts.outcomes import derive_outcomes
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "derive_outcomes") as log:
    outcomes = derive_outcomes(
        participants=read_validated(snakemake.input.participants, "participants"),
        conversations=read_validated(snakemake.input.conversations, "conversations"),
        scores=read_validated(snakemake.input.scores, "scores"),
        included=pd.read_csv(snakemake.input.included, dtype=str),
        dimensions=snakemake.params.dimensions,
        composite=snakemake.params.composite,
        aggregation=snakemake.params.aggregation,
        post_conversations=snakemake.params.post_conversations,
    )
    write_csv(outcomes, snakemake.output.outcomes)
    log.info("%s conversations with outcomes", len(outcomes))
