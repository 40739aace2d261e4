"""The cohort formats a run configuration can name, as one table.

A cohort's ``format`` (``cohorts.<name>.format`` in the run configuration, an enum of
``workflow/schemas/config.schema.yaml``) decides what kind of study it is, where its files lie in the
native contract, which step replaces its IDs by pseudonyms, which optional files it has and whether it
is labelled synthetic. :data:`FORMATS` holds these facts, one :class:`CohortFormat` per format, so that
``workflow/rules/common.smk`` looks them up instead of branching on the format's name. The parts that
need Snakemake (reading an import checkpoint's record, probing whether a release can be downloaded)
stay in ``common.smk``; this module is plain data and imports nothing from Snakemake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["CohortFormat", "FORMATS"]


@dataclass(frozen=True)
class CohortFormat:
    """What the workflow needs to know about one cohort format.

    Attributes
    ----------
    name : str
        The format's name, as the run configuration spells it.
    kind : {"trial", "ratings"}
        ``trial``: a randomised trial (every trial analysis applies); ``ratings``: a rating study
        (agreement analyses only).
    directory : str or None
        Where the cohort lies in the native contract, a pattern with a ``{cohort}`` placeholder (the
        folder the rule that simulates or imports it writes); None: the cohort's ``path`` in the config.
    pseudonymised_by : str or None
        The step (rule) that replaces the cohort's IDs by pseudonyms when the cohort sets
        ``pseudonymise_ids``; None: the option is refused for this format.
    not_pseudonymised_because : str
        Why ``pseudonymise_ids`` is refused (formats whose ``pseudonymised_by`` is None).
    optional_files : {"all", "directory", "import_record", "none"}
        Which optional cohort files (``analysis.constants.OPTIONAL_FILES``) the cohort has: every one
        (``all``), those present in its directory (``directory``), those its import record marks
        available once the import has run (``import_record``), or none.
    theme_levels : {"themes_header", "with_themes", "never"}
        Whether the cohort has theme levels (a ``themes.csv`` with the parent level ``theme_level2``):
        when its themes file's header has that column (``themes_header``), whenever it has a themes
        file (``with_themes``), or never.
    synthetic : {"always", "release_marker", "never"}
        Whether its tables, figures and report are labelled synthetic: always, when a local copy of the
        release carries the simulated release's marker column (``release_marker``), or never.
    import_record : str or None
        The import's record (pattern with ``{cohort}``), an input of the audit and the report.
    import_issues : str or None
        The import's issue table (pattern with ``{cohort}``), linked from the report.
    compares_published : bool
        Whether the report sets the published numbers beside the reproduced ones.
    availability : {"always", "probe"}
        ``probe``: whether the cohort's data can be had is asked when the DAG is built, and a cohort
        whose data cannot be had is left out of ``rule all`` with a warning.
    download_directory : str or None
        Where a download of the release lands (pattern with ``{cohort}`` or ``{commit}``).
    """

    name: str
    kind: Literal["trial", "ratings"]
    directory: str | None
    pseudonymised_by: str | None
    not_pseudonymised_because: str
    optional_files: Literal["all", "directory", "import_record", "none"]
    theme_levels: Literal["themes_header", "with_themes", "never"]
    synthetic: Literal["always", "release_marker", "never"]
    import_record: str | None
    import_issues: str | None
    compares_published: bool
    availability: Literal["always", "probe"]
    download_directory: str | None

    def native_directory(self, cohort: str, path: str | None = None) -> str:
        """The folder holding the cohort's native files.

        Parameters
        ----------
        cohort : str
            The cohort's name.
        path : str, optional
            The cohort's ``path`` from the run configuration (required for formats without a
            ``directory`` of their own).

        Returns
        -------
        str
            ``path`` for formats read where the config says, else the format's ``directory``.
        """
        if self.directory is None:
            if path is None:
                raise ValueError(f"cohort '{cohort}': format {self.name} is read from the cohort's path, and none is given")
            return path
        return self.directory.format(cohort=cohort)


FORMATS: Mapping[str, CohortFormat] = {
    format_.name: format_
    for format_ in (
        CohortFormat(
            name="native",
            kind="trial",
            directory=None,
            pseudonymised_by="validate_cohort",
            not_pseudonymised_because="",
            optional_files="directory",
            theme_levels="themes_header",
            synthetic="never",
            import_record=None,
            import_issues=None,
            compares_published=False,
            availability="always",
            download_directory=None,
        ),
        CohortFormat(
            name="simulated",
            kind="trial",
            directory="data/simulated/{cohort}",
            pseudonymised_by="validate_cohort",
            not_pseudonymised_because="",
            optional_files="all",
            theme_levels="never",
            synthetic="always",
            import_record=None,
            import_issues=None,
            compares_published=False,
            availability="always",
            download_directory=None,
        ),
        CohortFormat(
            name="paper_release",
            kind="trial",
            directory="data/imported/paper_release/{cohort}",
            pseudonymised_by="import_paper_release",
            not_pseudonymised_because="",
            optional_files="import_record",
            theme_levels="with_themes",
            synthetic="release_marker",
            import_record="data/imported/paper_release/{cohort}/import_record.json",
            import_issues="data/imported/paper_release/{cohort}/import_issues.csv",
            compares_published=True,
            availability="always",
            download_directory="data/downloads/paper_release/{commit}",
        ),
        CohortFormat(
            name="pilot_release",
            kind="ratings",
            directory="data/imported/pilot_release/{cohort}",
            pseudonymised_by=None,
            not_pseudonymised_because=(
                "a public rating release whose only people IDs, the crowd workers', are hashed already"
            ),
            optional_files="none",
            theme_levels="never",
            synthetic="never",
            import_record=None,
            import_issues=None,
            compares_published=False,
            availability="probe",
            download_directory="data/downloads/pilot_release/{cohort}",
        ),
    )
}

