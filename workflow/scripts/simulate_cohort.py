"""Rule simulate_cohort: write a SYNTHETIC native cohort calibrated to the published trial."""

from analysis.cohorts.native import write_native
from analysis.runtime.runlog import logged_step
from analysis.simulate.cohort import simulate_cohort

with logged_step(snakemake.log[0], "simulate_cohort") as log:
    spec = snakemake.params.simulation
    tables = simulate_cohort(
        arm_sizes=spec["arm_sizes"],
        seed=spec["seed"],
        judges=spec.get("judges", ["gpt-4o"]),
        first_scenario_counts=spec.get("first_scenario_counts"),
        messages_per_conversation=spec.get("messages_per_conversation", 11.7),
        reference_arm=snakemake.params.reference_arm,
    )
    directory = snakemake.output.participants.rsplit("/", 1)[0]
    written = write_native(tables, directory)
    for name, frame in tables.items():
        log.info("wrote %s rows of %s to %s", len(frame), name, written[name])
