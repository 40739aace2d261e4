"""Rule import_pilot_release: verify the release's checksums and parse it into the native contract."""

from analysis.adapters.pilot_release import PILOT_OUTPUT_FILES, import_pilot_release, read_manifest, read_scenarios
from analysis.cohorts.native import write_csv
from analysis.runtime.atomic import write_json
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "import_pilot_release") as log:
    manifest = read_manifest(snakemake.input.manifest)
    files = {key: snakemake.input[key] for key in manifest["key"]}
    imported = import_pilot_release(
        files, manifest=manifest, dimensions=snakemake.params.dimensions, scenarios=read_scenarios(snakemake.input.scenarios)
    )
    for name in PILOT_OUTPUT_FILES:
        write_csv(getattr(imported, name), snakemake.output[name])
    write_csv(imported.issues, snakemake.output.issues)
    summary = {**imported.summary, "read_from": {key: str(path) for key, path in sorted(files.items())}}
    write_json(snakemake.output.summary, summary, default=str)
    log.info("imported %s", summary["rows"])
    if len(imported.issues):
        counts = imported.issues.groupby(["file", "reason"]).size()
        for (file, reason), count in counts.items():
            log.warning("%s record(s) of %s did not parse and were left out: %s", count, file, reason)
    log.info("%s issue(s) listed in %s", len(imported.issues), snakemake.output.issues)
