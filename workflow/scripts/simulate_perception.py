"""Rule simulate_perception: SYNTHETIC perception choices and Elo ratings for a simulated cohort."""

from analysis.cohorts.contract import read_validated
from analysis.cohorts.native import write_csv
from analysis.runtime.runlog import logged_step
from analysis.simulate.perception import simulate_perception

with logged_step(snakemake.log[0], "simulate_perception") as log:
    perception, elo, calibration = simulate_perception(
        conversations=read_validated(snakemake.input.conversations, "conversations"),
        scores=read_validated(snakemake.input.scores, "scores"),
        composite=snakemake.params.composite,
        aggregation=snakemake.params.aggregation,
        seed=snakemake.params.simulation["seed"],
    )
    write_csv(perception, snakemake.output.perception)
    write_csv(elo, snakemake.output.elo)
    log.info("calibration: %s", calibration)
    log.info("wrote %s choices and %s Elo ratings", len(perception), len(elo))
