"""Release adapters: the authors' release (paper_release) and the pilot release (pilot_release) read into the
native contract, with their pinned downloads and checksum checks (download: the shared pieces).
"""

__all__ = ["download", "paper_release", "pilot_release"]
