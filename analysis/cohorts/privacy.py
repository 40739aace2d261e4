"""Privacy of message text: scrub contact details and show only expressions many people used.

Message text is the most sensitive input of the trial. Anything derived from it that an output or
the report shows goes through two filters:

* :func:`scrub_text` replaces e-mail addresses, URLs and phone numbers by the placeholders
  ``[email]``, ``[url]`` and ``[phone]`` (applied to the messages before phrases are mined, and
  again to every phrase or label shown);
* :func:`shown_items` keeps an expression only when at least ``k`` distinct participants used it
  (k is registered: ``taxonomy.min_participants`` in ``config/prereg.yaml``).

Whole messages are never written by the taxonomy rules: only n-grams of 2-6 words and theme labels.
Issue files (what an import or a validation left out or set missing) and error messages show a text
value only as a short, scrubbed :func:`excerpt`.

Participant IDs may be personal data (recruitment-platform IDs). A cohort registered with
``pseudonymise_ids`` has its IDs replaced by keyed hashes (:func:`pseudonymise_tables`, HMAC-SHA256
with a key kept outside the repository, :func:`read_pseudonym_key`) by the first step that writes
them, so every later output carries only pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from analysis.errors import AnalysisError, ConfigError

__all__ = [
    "PLACEHOLDERS", "EMAIL_PATTERN", "URL_PATTERN", "PHONE_PATTERN", "WITHHELD", "withhold_cited_values", "scrub_text",
    "shown_items", "opaque_id", "EXCERPT_MAX_CHARS", "ELLIPSIS", "excerpt", "MIN_KEY_BYTES", "PSEUDONYM_HEX_DIGITS",
    "PSEUDONYM_PREFIXES", "ID_COLUMNS", "SORT_KEYS", "KEY_HELP", "read_pseudonym_key", "pseudonyms", "pseudonymise_tables",
    "pseudonymisation_record", "pseudonymise_cohort",
]

PLACEHOLDERS: dict[str, str] = {"email": "[email]", "url": "[url]", "phone": "[phone]"}

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
URL_PATTERN = re.compile(
    r"(?:\bhttps?://|\bwww\.)[^\s<>\"']*[^\s<>\"'.,;:!?)]"
    r"|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|org|net|edu|gov|io|co|uk|de|info|biz|me|ly)\b"
    r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)])?",
    re.IGNORECASE,
)
# A run of at least seven digits, possibly split by spaces, dots, dashes or brackets, with an optional
# leading +; shorter numbers (ages, years, list items) and dates written with slashes are left alone.
PHONE_PATTERN = re.compile(r"(?<![\w/])\+?\(?\d(?:[\s.()-]{0,2}\d){6,}(?![\w/])")


# What a message about a pseudonymised cohort shows instead of a value it cites (which may be a raw ID).
WITHHELD = "[withheld: IDs pseudonymised]"
# "value 'P001'" or 'value "it\'s"' as ValidationIssue.describe writes them (Python's repr).
_CITED_VALUE = re.compile(r"""\bvalue (?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")


def withhold_cited_values(text: pd.Series | str) -> pd.Series | str:
    """Replace the values an error message cites by :data:`WITHHELD`, keeping file, row and column.

    Parameters
    ----------
    text : pandas.Series of str, or str
        Messages in the form of :meth:`analysis.errors.ValidationIssue.describe`
        (``file, row 3, column 'user_id': value 'P001'; expected ...``).

    Returns
    -------
    pandas.Series or str
        The same messages with every ``value '...'`` replaced by ``value [withheld: IDs pseudonymised]``
        (missing values stay missing).

    Examples
    --------
    >>> withhold_cited_values("perception.csv, row 2, column 'rater_id': value 'R-17'; expected an ID")
    "perception.csv, row 2, column 'rater_id': value [withheld: IDs pseudonymised]; expected an ID"
    """
    if isinstance(text, str):
        return _CITED_VALUE.sub(f"value {WITHHELD}", text)
    return text.str.replace(_CITED_VALUE, f"value {WITHHELD}", regex=True)


def scrub_text(text: pd.Series | str) -> pd.Series | str:
    """Replace e-mail addresses, URLs and phone numbers by placeholders.

    Parameters
    ----------
    text : pandas.Series of str, or str
        Message texts, phrases or labels (missing values stay missing).

    Returns
    -------
    pandas.Series or str
        The same texts with every e-mail address replaced by ``[email]``,
        every URL (``http(s)://...``, ``www....`` or a bare domain with a
        common top-level domain) by ``[url]`` and every phone number (seven
        or more digits, optionally grouped by spaces, dots, dashes or
        brackets, optional leading ``+``) by ``[phone]``.

    Notes
    -----
    E-mail addresses are replaced first so that their domain is not taken for
    a URL. Over-scrubbing (e.g. a long digit string that is not a phone
    number) is accepted: the filter errs on the side of privacy.
    """
    if isinstance(text, str):
        return scrub_text(pd.Series([text], dtype=object)).iloc[0]
    series = pd.Series(text, dtype=object)
    scrubbed = series.str.replace(EMAIL_PATTERN, PLACEHOLDERS["email"], regex=True)
    scrubbed = scrubbed.str.replace(URL_PATTERN, PLACEHOLDERS["url"], regex=True)
    return scrubbed.str.replace(PHONE_PATTERN, PLACEHOLDERS["phone"], regex=True)


def shown_items(table: pd.DataFrame, support_column: str, k: int) -> pd.DataFrame:
    """The rows of ``table`` whose expression was used by at least ``k`` participants.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per expression (phrase or theme), with its participant support.
    support_column : str
        Column holding the number of distinct participants who used it.
    k : int
        Registered minimum (at least 1).

    Returns
    -------
    pandas.DataFrame
        The rows with ``support_column >= k``, in their original order.

    Raises
    ------
    AnalysisError
        When ``k`` is below 1 or the support column is missing.
    """
    if int(k) != k or k < 1:
        raise AnalysisError(f"the minimum number of participants k must be a positive integer, got {k!r}")
    if support_column not in table.columns:
        raise AnalysisError(f"cannot apply the privacy filter: column {support_column!r} is missing")
    return table[table[support_column] >= k]


def opaque_id(text: str) -> str:
    """A short stable identifier of an expression that must not be shown (sha256 prefix).

    Used to list suppressed expressions in left-out tables without their text.
    """
    return "suppressed_" + hashlib.sha256(str(text).encode("utf-8")).hexdigest()[:12]


# --- excerpts of text values ----------------------------------------------------------------------

EXCERPT_MAX_CHARS = 40
ELLIPSIS = "\u2026"
# Tabs and line or paragraph breaks of any kind: shown as one space, so an excerpt is one line.
_BREAKS = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]")
# C0 and C1 control characters, zero-width and bidirectional formatting characters: dropped, so that an
# excerpt can neither drive a terminal nor hide or reorder text in a spreadsheet.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def excerpt(text: pd.Series | str, max_chars: int = EXCERPT_MAX_CHARS) -> pd.Series | str:
    """A short, scrubbed, one-line excerpt of each text value, as issue files and error messages show it.

    Parameters
    ----------
    text : pandas.Series or str
        Text values (messages, transcripts, labels, cells that failed to parse). Non-text values are
        shown as their ``str``; missing values stay missing.
    max_chars : int
        Longest excerpt, ellipsis included (at least 10).

    Returns
    -------
    pandas.Series or str
        Each value with tabs and line breaks turned into spaces, control and invisible formatting
        characters removed, runs of white space collapsed, contact details replaced by
        :func:`scrub_text`'s placeholders and, when still longer than ``max_chars``, cut at the last
        word boundary that keeps at least half of it (else mid-word) and ended with an ellipsis.

    Raises
    ------
    AnalysisError
        When ``max_chars`` is not an integer of at least 10.

    Notes
    -----
    Scrubbing comes before the cut, so a cut never leaves part of an e-mail address or phone number
    unscrubbed; the clean-up comes before scrubbing, so a control character or a line break inside an
    address cannot hide it from the patterns.
    """
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 10:
        raise AnalysisError(f"the longest excerpt must be an integer of at least 10 characters, got {max_chars!r}")
    if isinstance(text, str):
        return excerpt(pd.Series([text], dtype=object), max_chars).iloc[0]
    series = pd.Series(text, dtype=object)
    present = series.notna()
    values = series[present].astype(str)
    values = values.str.replace(_BREAKS, " ", regex=True).str.replace(_INVISIBLE, "", regex=True)
    values = scrub_text(values.str.replace(r"\s+", " ", regex=True).str.strip())
    long = values.str.len() > max_chars
    if long.any():
        head = values[long]
        limit = max_chars - len(ELLIPSIS)
        at_word = head.str.extract(rf"^(.{{{limit // 2},{limit}}})\s", expand=False)
        values[long] = at_word.fillna(head.str.slice(0, limit)).str.rstrip() + ELLIPSIS
    shown = series.copy()
    shown[present] = values
    return shown


# --- pseudonymised IDs ----------------------------------------------------------------------------

MIN_KEY_BYTES = 32
PSEUDONYM_HEX_DIGITS = 16
# Each kind of ID is hashed under its own label (domain separation) and gets its own prefix, so equal
# raw strings of two kinds never share a pseudonym.
PSEUDONYM_PREFIXES: dict[str, str] = {"participant": "p_", "conversation": "c_", "rater": "r_", "pair": "pair_"}
# The ID columns of every table that carries IDs: the native contract's four tables and the optional
# cohort files. A table not listed here cannot be pseudonymised (it would pass its IDs through).
ID_COLUMNS: dict[str, dict[str, str]] = {
    "participants": {"participant_id": "participant"},
    "conversations": {"conversation_id": "conversation", "participant_id": "participant"},
    "messages": {"conversation_id": "conversation"},
    "scores": {"conversation_id": "conversation"},
    "perception": {"rater_id": "rater", "pair_id": "pair", "conversation_left_id": "conversation",
                   "conversation_right_id": "conversation"},
    "elo": {"conversation_id": "conversation"},
    "themes": {"conversation_id": "conversation"},
}
# Rows are ordered by their pseudonymised keys (the order of the raw IDs would leak through row order).
SORT_KEYS: dict[str, list[str]] = {
    "participants": ["participant_id"],
    "conversations": ["participant_id", "conversation_number"],
    "messages": ["conversation_id", "turn"],
    "scores": ["conversation_id", "judge", "dimension"],
    "perception": ["rater_id", "pair_id"],
    "elo": ["conversation_id"],
    "themes": ["conversation_id", "turn", "theme"],
}
KEY_HELP = (
    "make a key outside the repository with e.g. `mkdir -p ~/.config/lend_an_ear && python3 -c 'import secrets; "
    "print(secrets.token_hex(32))' > ~/.config/lend_an_ear/COHORT.key && chmod 600 ~/.config/lend_an_ear/COHORT.key` "
    "(docs/data_contract.md, Pseudonymised IDs)"
)


def read_pseudonym_key(path: str | Path, *, protected_dirs: Sequence[str | Path]) -> bytes:
    """Read the secret key of a cohort's pseudonyms, refusing a key that is missing, short or exposed.

    Parameters
    ----------
    path : str or Path
        The key file (``~`` is expanded). The key is the file's bytes without leading and trailing
        white space.
    protected_dirs : sequence of str or Path
        Folders the key must lie outside of: the repository and the folder the pipeline writes to
        (a key there could be committed, shared or copied with the results).

    Returns
    -------
    bytes
        The key.

    Raises
    ------
    ConfigError
        When the file does not exist, lies inside a protected folder (symbolic links resolved), or
        holds fewer than :data:`MIN_KEY_BYTES` bytes. The message names the path, never the key.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{path}: pseudonymisation key file not found (pseudonymise_ids.key_file); {KEY_HELP}")
    resolved = path.resolve()
    for folder in protected_dirs:
        folder = Path(folder).expanduser().resolve()
        if resolved.is_relative_to(folder):
            raise ConfigError(
                f"{path}: the pseudonymisation key lies inside {folder}; keep it outside the repository and the "
                f"folder the pipeline writes to, where it cannot be committed or shared with the results; {KEY_HELP}"
            )
    key = resolved.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        what = "is empty" if not key else f"holds {len(key)} bytes"
        raise ConfigError(f"{path}: the pseudonymisation key {what}; expected at least {MIN_KEY_BYTES} random bytes; {KEY_HELP}")
    return key


def pseudonyms(ids: pd.Series, *, key: bytes, kind: str) -> pd.Series:
    """The pseudonym of each distinct raw ID of one kind.

    Parameters
    ----------
    ids : pandas.Series of str
        Raw IDs (repeats and missing values allowed).
    key : bytes
        The secret key (:func:`read_pseudonym_key`).
    kind : str
        A key of :data:`PSEUDONYM_PREFIXES` (participant, conversation, rater, pair).

    Returns
    -------
    pandas.Series
        Indexed by the distinct raw IDs (sorted), the pseudonym of each: the kind's prefix and the first
        :data:`PSEUDONYM_HEX_DIGITS` hex digits of HMAC-SHA256(key, kind + NUL + UTF-8 ID).

    Raises
    ------
    AnalysisError
        When two distinct IDs get the same pseudonym (the message names neither ID).
    """
    if kind not in PSEUDONYM_PREFIXES:
        raise AnalysisError(f"unknown kind of ID {kind!r}; expected one of {sorted(PSEUDONYM_PREFIXES)}")
    raw = pd.Series(ids, dtype=object).dropna().astype(str).drop_duplicates().sort_values(kind="stable")
    label = kind.encode("utf-8") + b"\x00"
    # One HMAC per distinct ID: the standard library has no vectorised form, and the IDs number thousands.
    digests = [hmac.digest(key, label + value.encode("utf-8"), "sha256").hex()[:PSEUDONYM_HEX_DIGITS] for value in raw]
    mapping = pd.Series([PSEUDONYM_PREFIXES[kind] + digest for digest in digests], index=raw.to_numpy(), dtype=object)
    repeated = mapping[mapping.duplicated(keep=False)]
    if not repeated.empty:
        raise AnalysisError(
            f"{repeated.nunique()} pseudonym(s) of {kind} IDs are shared by different IDs (e.g. {repeated.iloc[0]}); "
            "pseudonyms must be unique: make a new key (docs/data_contract.md, Pseudonymised IDs)"
        )
    return mapping


def pseudonymise_tables(
    tables: Mapping[str, pd.DataFrame], *, key: bytes, keep_row_order: bool = False
) -> dict[str, pd.DataFrame]:
    """Replace every ID of a cohort's tables by its keyed pseudonym.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Tables by name, each a key of :data:`ID_COLUMNS` (the four native tables, perception, elo,
        themes). Their ID columns hold text.
    key : bytes
        The secret key (:func:`read_pseudonym_key`).
    keep_row_order : bool
        Keep each table's rows in their order (an input file whose problems are reported by row);
        by default rows are sorted by their pseudonymised keys (:data:`SORT_KEYS`), so that row order
        does not follow the raw IDs.

    Returns
    -------
    dict of str to pandas.DataFrame
        The same tables with every ID column of :data:`ID_COLUMNS` mapped through :func:`pseudonyms`;
        other columns unchanged, missing IDs missing.

    Raises
    ------
    AnalysisError
        When a table has no entry in :data:`ID_COLUMNS`, or two distinct IDs of one kind, anywhere in
        ``tables``, get the same pseudonym.

    Notes
    -----
    Equal IDs get equal pseudonyms in every table, so joins between tables are kept; the same key
    gives the same pseudonyms, so outputs stay byte-identical from run to run.
    """
    unknown = sorted(set(tables) - set(ID_COLUMNS))
    if unknown:
        raise AnalysisError(f"no ID columns are known for table(s) {unknown}; expected tables among {sorted(ID_COLUMNS)}")
    present = [(name, column, kind) for name, frame in tables.items() for column, kind in ID_COLUMNS[name].items() if column in frame]
    mappings = {}
    for kind in sorted({kind for _, _, kind in present}):
        values = [tables[name][column] for name, column, of_kind in present if of_kind == kind]
        mappings[kind] = pseudonyms(pd.concat(values, ignore_index=True), key=key, kind=kind)
    result = {}
    for name, frame in tables.items():
        frame = frame.copy()
        for column, kind in ID_COLUMNS[name].items():
            if column in frame:
                ids = frame[column]
                frame[column] = ids.where(ids.isna(), ids.astype(str)).map(mappings[kind])
        keys = [column for column in SORT_KEYS[name] if column in frame]
        if not keep_row_order and keys:
            frame = frame.sort_values(keys, kind="stable")
        result[name] = frame.reset_index(drop=True)
    return result


def pseudonymisation_record(*, key_file: str, tables: Mapping[str, pd.DataFrame]) -> dict:
    """What a step records about the pseudonyms it wrote (never the key).

    Returns
    -------
    dict
        ``method``, ``prefixes`` (kind -> prefix), ``key_file`` (the configured path) and ``columns``
        (table -> its pseudonymised ID columns).
    """
    return {
        "method": f"HMAC-SHA256 of kind + NUL + ID under a secret key; first {PSEUDONYM_HEX_DIGITS} hex digits after the kind's prefix",
        "prefixes": dict(PSEUDONYM_PREFIXES),
        "key_file": str(key_file),
        "columns": {name: [column for column in ID_COLUMNS[name] if column in frame] for name, frame in sorted(tables.items())},
    }


def pseudonymise_cohort(
    tables: Mapping[str, pd.DataFrame], *, key_file: str, protected_dirs: Sequence[str | Path], keep_row_order: bool = False
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Read the cohort's key and pseudonymise its tables: what a step registered with ``pseudonymise_ids`` runs.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Tables by name (see :func:`pseudonymise_tables`).
    key_file : str
        The configured key file (``pseudonymise_ids.key_file``).
    protected_dirs : sequence of str or Path
        Folders the key must lie outside of (see :func:`read_pseudonym_key`).
    keep_row_order : bool
        See :func:`pseudonymise_tables`.

    Returns
    -------
    tables : dict of str to pandas.DataFrame
        The pseudonymised tables.
    record : dict
        :func:`pseudonymisation_record`, for the step's summary (no key).
    """
    key = read_pseudonym_key(key_file, protected_dirs=protected_dirs)
    pseudonymised = pseudonymise_tables(tables, key=key, keep_row_order=keep_row_order)
    return pseudonymised, pseudonymisation_record(key_file=key_file, tables=pseudonymised)
