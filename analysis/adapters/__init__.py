"""Release adapters: the authors' release (paper_release) and the pilot release (pilot_release) read into the
native contract, with their pinned downloads and checksum checks.
"""

__all__ = ["paper_release", "pilot_release"]
