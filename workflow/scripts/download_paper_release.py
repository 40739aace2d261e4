"""Rule download_paper_release: fetch the authors' release at the pinned commit and verify its checksums."""

from pathlib import Path

from analysis.adapters.paper_release import download_release, read_manifest
from analysis.runtime.atomic import write_json
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "download_paper_release") as log:
    destination = Path(snakemake.output.record).parent
    records = download_release(destination, read_manifest(snakemake.input.manifest))
    write_json(snakemake.output.record, records)
    log.info("downloaded %s files to %s", len(records), destination)
