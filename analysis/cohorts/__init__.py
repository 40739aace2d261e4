"""Stage 1-4 of the pipeline: the data contract and its schemas, loading and validating a cohort's files, the
registered exclusions, the conversation-level outcomes, and privacy (pseudonyms, excerpts).
"""

__all__ = ["contract", "exclusions", "formats", "native", "optional", "outcomes", "privacy"]
