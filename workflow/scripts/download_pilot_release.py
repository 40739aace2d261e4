"""Rule download_pilot_release: fetch exactly the pinned release files, verifying each sha256 before writing."""

from pathlib import Path

from analysis.adapters.pilot_release import download_release, read_manifest
from analysis.runtime.runlog import logged_step

with logged_step(snakemake.log[0], "download_pilot_release") as log:
    manifest = read_manifest(snakemake.input.manifest)
    first = manifest.iloc[0]
    destination = Path(snakemake.output[first["key"]][: -len(first["path"])])
    log.info("downloading %s files from %s into %s", len(manifest), snakemake.params.base_url, destination)
    written = download_release(snakemake.params.base_url, destination, manifest)
    for path, digest in written.items():
        log.info("verified %s (sha256 %s)", path, digest)
