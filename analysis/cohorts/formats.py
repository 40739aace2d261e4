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
    not_pseudonymised_because : str, default ""
        Why ``pseudonymise_ids`` is refused (formats whose ``pseudonymised_by`` is None).
    has_import_record : bool, default False
        Whether the step that imports the cohort writes an import record and an issue table into its
        ``directory`` (see :attr:`import_record` and :attr:`import_issues`).
    compares_published : bool, default False
        Whether the report sets the published numbers beside the reproduced ones.
    availability : {"always", "probe"}, default "always"
        ``probe``: whether the cohort's data can be had is asked when the DAG is built, and a cohort
        whose data cannot be had is left out of ``rule all`` with a warning.
    download_directory : str or None, default None
        Where a download of the release lands (pattern with ``{cohort}`` or ``{commit}``).
    """

    name: str
    kind: Literal["trial", "ratings"]
    directory: str | None
    pseudonymised_by: str | None
    optional_files: Literal["all", "directory", "import_record", "none"]
    theme_levels: Literal["themes_header", "with_themes", "never"]
    synthetic: Literal["always", "release_marker", "never"]
    not_pseudonymised_because: str = ""
    has_import_record: bool = False
    compares_published: bool = False
    availability: Literal["always", "probe"] = "always"
    download_directory: str | None = None

    def __post_init__(self) -> None:
        if self.has_import_record and self.directory is None:
            raise ValueError(f"format {self.name}: an import record needs the format's own directory")

    @property
    def import_record(self) -> str | None:
        """The import's record (pattern with ``{cohort}``), an input of the audit and the report; None
        for formats without one."""
        return self._imported_file("import_record.json")

    @property
    def import_issues(self) -> str | None:
        """The import's issue table (pattern with ``{cohort}``), linked from the report; None for
        formats without one."""
        return self._imported_file("import_issues.csv")

    def _imported_file(self, filename: str) -> str | None:
        return f"{self.directory}/{filename}" if self.has_import_record else None

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
            optional_files="directory",
            theme_levels="themes_header",
            synthetic="never",
        ),
        CohortFormat(
            name="simulated",
            kind="trial",
            directory="data/simulated/{cohort}",
            pseudonymised_by="validate_cohort",
            optional_files="all",
            theme_levels="never",
            synthetic="always",
        ),
        CohortFormat(
            name="paper_release",
            kind="trial",
            directory="data/imported/paper_release/{cohort}",
            pseudonymised_by="import_paper_release",
            optional_files="import_record",
            theme_levels="with_themes",
            synthetic="release_marker",
            has_import_record=True,
            compares_published=True,
            download_directory="data/downloads/paper_release/{commit}",
        ),
        CohortFormat(
            name="pilot_release",
            kind="ratings",
            directory="data/imported/pilot_release/{cohort}",
            pseudonymised_by=None,
            optional_files="none",
            theme_levels="never",
            synthetic="never",
            not_pseudonymised_because=(
                "a public rating release whose only people IDs, the crowd workers', are hashed already"
            ),
            availability="probe",
            download_directory="data/downloads/pilot_release/{cohort}",
        ),
    )
}

