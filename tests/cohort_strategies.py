"""Hypothesis strategies for the property-based tests of the native contract (tests/test_contract_properties.py).

A generated cohort is held twice: as the text its four CSV files hold (:attr:`NativeCohort.text`, every
cell a string or None for an empty cell, columns and rows in the order written) and as the typed tables
validation must return for it (:attr:`NativeCohort.expected`). The files are written by
:func:`csv_bytes` in a drawn dialect (UTF-8 with or without a byte-order mark, LF or CRLF line ends,
minimal or full quoting), as a user's spreadsheet or script would write them.

:func:`corruptions` draws one change that may break a cohort: a cell's value, a duplicated, missing or
orphaned row, a missing, renamed or repeated column (:data:`FRAME_CORRUPTIONS`, applied to the text
tables before writing), or a cut-off file, a wrong encoding, a stray delimiter, quote or byte, a lost or
repeated line, an empty or missing file (:data:`BYTE_CORRUPTIONS`, applied to the written bytes).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
from hypothesis import strategies as st

from analysis.cohorts.contract import VALIDATED_DTYPES
from analysis.constants import EMPATHY_ITEMS, NATIVE_FILES, ROLES, SCENARIO_TROUBLE_TYPE, SELF_RATINGS, TROUBLE_TYPES
from analysis.prereg.plan import load_prereg

REPO = Path(__file__).resolve().parent.parent
PLAN = load_prereg(REPO / "config" / "prereg.yaml")
ARMS: tuple[str, ...] = tuple(PLAN["design"]["arms"])
REGISTERED_DIMENSIONS: tuple[str, ...] = tuple(PLAN["outcomes"]["dimensions"])
CONVERSATIONS_PER_PARTICIPANT: int = PLAN["design"]["conversations_per_participant"]

# C0 controls but tab, line feed and carriage return, and DEL: what the contract rejects in message text.
REJECTED_CONTROLS = "".join(chr(code) for code in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])

# Pieces of text that break naive CSV handling: quotes, delimiters, line ends, emoji (with joiners and
# skin tones), right-to-left text and marks, zero-width and byte-order-mark characters, Unicode line
# separators, C1 controls, and words that readers take for missing values or numbers.
TEXT_FRAGMENTS: tuple[str, ...] = (
    '"', '""', '"quoted"', ",", ",,", "\n", "\r\n", "\r", "\t", " ", "  ", "😀", "👩🏽\u200d⚕️", "\u200f", "\u202e", "\u200b",
    "\ufeff", "\u2028", "\u0085", "\u00a0", "שלום, עולם", "مرحبا", "NA", "nan", "null", "None", "#", "'", "\\", ";",
    "=1+1", "0", "007", "1e5", "-", "é", "e\u0301",
)
# IDs a reader may mangle: leading zeros, numbers, missing-value words, quotes and delimiters inside,
# right-to-left marks, non-ASCII digits.
ID_FRAGMENTS: tuple[str, ...] = (
    "007", "0", "00", "1e5", "1.0", "-1", "+1", "NA", "nan", "None", "NULL", "TRUE", "p 1", "a,b", '"q"', 'x"y', "😀",
    "\u200fp1", "p1\u200f", "٣", "１", "0x1F", "#1", "=A1", "\ufeffp", "שלום",
)

text_characters = st.characters(exclude_categories=("Cs",), exclude_characters=REJECTED_CONTROLS)


def is_identifier(value: str) -> bool:
    """A non-empty value without leading or trailing whitespace (the contract's ID rule)."""
    return bool(value) and value == value.strip()


def identifiers() -> st.SearchStrategy[str]:
    """IDs of any printable form: no control characters, no whitespace at either end."""
    free = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=10).filter(is_identifier)
    return st.one_of(st.sampled_from(ID_FRAGMENTS), free)


def texts(characters: st.SearchStrategy[str] = text_characters, fragments: tuple[str, ...] = TEXT_FRAGMENTS) -> st.SearchStrategy[str]:
    """Free text (possibly empty) mixing drawn characters and awkward fragments, sometimes thousands of characters long."""
    piece = st.one_of(st.text(characters, max_size=8), st.sampled_from(fragments))
    short = st.lists(piece, max_size=6).map("".join)
    long = st.tuples(st.lists(piece, min_size=1, max_size=3).map("".join), st.integers(200, 3000)).map(lambda pair: pair[0] * pair[1])
    return st.one_of(short, long)


def score_texts() -> st.SearchStrategy[str]:
    """Scores in [1, 5] as a file may spell them (shortest float repr, integers, fixed decimals)."""
    return st.one_of(
        st.integers(1, 5).map(str),
        st.floats(1, 5).map(repr),
        st.floats(1, 5).map(lambda value: f"{value:.3f}"),
        st.sampled_from(["1.0", "5.0", "2.5", "4.999999999999999", "1.0000000000000002", "3.6666666666666665"]),
    )


def optional_integers(low: int, high: int) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.integers(low, high).map(str))


def shown(frame: pd.DataFrame, limit: int = 80) -> dict[str, list]:
    """A text table for a failure report: columns as lists, long cells cut (their length said)."""
    def cut(value):
        return value if not isinstance(value, str) or len(value) <= limit else f"{value[:limit]!s}...<{len(value)} characters>"

    return {column: [cut(value) for value in frame[column]] for column in frame.columns}


class ShownTables:
    """The repr of a generated example, as a failing test reports it: the tables of its first field (the files),
    each :func:`shown`. Its dataclasses take ``repr=False`` so that this repr stays theirs."""

    def __repr__(self) -> str:
        name = fields(self)[0].name
        return f"{type(self).__name__}({name}={ {key: shown(frame) for key, frame in getattr(self, name).items()} !r})"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


@dataclass(frozen=True, repr=False)
class NativeCohort(ShownTables):
    """A valid native cohort: ``text`` as its files hold it, ``expected`` as validation must return it."""

    text: dict[str, pd.DataFrame]
    expected: dict[str, pd.DataFrame]


# The keys validation sorts each table by.
SORT_KEYS: dict[str, list[str]] = {
    "participants": ["participant_id"],
    "conversations": ["participant_id", "conversation_number"],
    "messages": ["conversation_id", "turn"],
    "scores": ["conversation_id", "judge", "dimension"],
}


def _integer(value: str) -> int:
    """An integer cell as Python reads it: ``3``, or a number with an integral value such as ``3.0``."""
    try:
        return int(value)
    except ValueError:
        number = float(value)
        if not number.is_integer():
            raise
        return int(number)


def typed_tables(text: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The typed tables validation returns for files holding ``text``: empty cells missing, the contract's
    types, sorted by their keys. Numbers are parsed by Python (correctly rounded), independently of pandas.

    Raises
    ------
    ValueError
        When a number cell is not one Python reads.
    """
    typed = {}
    for table, frame in text.items():
        columns = {}
        for column in frame.columns:
            kind = VALIDATED_DTYPES[table].get(column, "str")
            values = [None if value in (None, "") else value for value in frame[column]]
            if kind == "str":
                columns[column] = pd.Series(values, dtype=object).astype("str")
            elif kind == "float64":
                columns[column] = pd.Series([float("nan") if value is None else float(value) for value in values], dtype=kind)
            else:
                integers = pd.array([None if value is None else _integer(value) for value in values], dtype="Int64")
                columns[column] = pd.Series(integers).astype(kind)
        result = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
        typed[table] = result.sort_values(SORT_KEYS[table], kind="stable").reset_index(drop=True)
    return typed


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as text cells: every cell a str, or None for an empty cell."""
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


@st.composite
def _arrange(draw, frame: pd.DataFrame, extra_names: st.SearchStrategy[str]) -> pd.DataFrame:
    """The table as a file holds it: maybe an extra free-text column, columns and rows in any order."""
    if draw(st.booleans()):
        name = draw(extra_names.filter(lambda candidate: candidate not in frame.columns and not candidate.startswith("Unnamed")))
        frame = frame.assign(**{name: draw(st.lists(st.one_of(st.none(), texts()), min_size=len(frame), max_size=len(frame)))})
    columns = draw(st.permutations(list(frame.columns)))
    rows = draw(st.permutations(range(len(frame))))
    return frame.iloc[list(rows)][columns].reset_index(drop=True)


def cohort_of(text: dict[str, dict[str, list[str | None]]]) -> NativeCohort:
    """The cohort whose files hold ``text`` (table -> column -> cells), for explicit examples."""
    frames = {name: cells(pd.DataFrame(columns)) for name, columns in text.items()}
    return NativeCohort(frames, typed_tables(frames))


# The smallest valid cohort: one participant, conversation, message and score.
SMALLEST_COHORT: dict[str, dict[str, list[str]]] = {
    "participants": {"participant_id": ["p1"], "arm": ["control"]},
    "conversations": {"conversation_id": ["c1"], "participant_id": ["p1"], "conversation_number": ["1"], "scenario": ["job_loss"],
                      "trouble_type": ["workplace"]},
    "messages": {"conversation_id": ["c1"], "turn": ["1"], "role": ["seeker"], "text": ["I lost my job."]},
    "scores": {"conversation_id": ["c1"], "judge": ["gpt-4o"], "dimension": ["validating_emotions"], "score": ["3"]},
}


@st.composite
def native_cohorts(draw, max_participants: int = 4, max_messages: int = 3) -> NativeCohort:
    """A valid native cohort of 1 to ``max_participants`` participants (see :class:`NativeCohort`).

    Optional columns are present or not; every table has at least one row; IDs, scenarios and judges
    are any printable text; messages any text without rejected control characters.
    """
    n = draw(st.integers(1, max_participants))
    participant_ids = draw(st.lists(identifiers(), min_size=n, max_size=n, unique=True))
    participants = pd.DataFrame({"participant_id": participant_ids, "arm": draw(st.lists(st.sampled_from(ARMS), min_size=n, max_size=n))})
    optional = {"age": optional_integers(0, 120), "sex": st.one_of(st.none(), st.sampled_from(["female", "male"]), texts())}
    optional.update({item: optional_integers(1, 5) for item in EMPATHY_ITEMS})
    for column, values in optional.items():
        if draw(st.booleans()):
            participants[column] = draw(st.lists(values, min_size=n, max_size=n))

    numbers = draw(
        st.lists(st.lists(st.integers(1, CONVERSATIONS_PER_PARTICIPANT), unique=True, max_size=CONVERSATIONS_PER_PARTICIPANT),
                 min_size=n, max_size=n)
    )
    if not any(numbers):
        numbers[0] = [1]
    owners = [participant for participant, own in zip(participant_ids, numbers) for _ in own]
    m = len(owners)
    conversation_ids = draw(st.lists(identifiers(), min_size=m, max_size=m, unique=True))
    scenarios = draw(st.lists(st.one_of(st.sampled_from(sorted(SCENARIO_TROUBLE_TYPE)), identifiers()), min_size=m, max_size=m))
    conversations = pd.DataFrame(
        {
            "conversation_id": conversation_ids,
            "participant_id": owners,
            "conversation_number": [str(number) for own in numbers for number in own],
            "scenario": scenarios,
            "trouble_type": draw(st.lists(st.sampled_from(TROUBLE_TYPES), min_size=m, max_size=m)),
        }
    )
    for rating in SELF_RATINGS:
        if draw(st.booleans()):
            conversations[rating] = draw(st.lists(optional_integers(1, 5), min_size=m, max_size=m))

    message_rows = []
    for index, conversation_id in enumerate(conversation_ids):
        turns = draw(st.lists(st.integers(1, 60), unique=True, min_size=1 if index == 0 else 0, max_size=max_messages))
        for turn in turns:
            message_rows.append((conversation_id, str(turn), draw(st.sampled_from(ROLES)), draw(st.one_of(st.none(), texts()))))
    messages = pd.DataFrame(message_rows, columns=["conversation_id", "turn", "role", "text"])

    judges = draw(st.lists(identifiers(), min_size=1, max_size=2, unique=True))
    pairs = [(judge, dimension) for judge in judges for dimension in REGISTERED_DIMENSIONS]
    score_rows = []
    for index, conversation_id in enumerate(conversation_ids):
        chosen = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1 if index == 0 else 0, max_size=4))
        score_rows += [(conversation_id, judge, dimension, draw(score_texts())) for judge, dimension in chosen]
    scores = pd.DataFrame(score_rows, columns=["conversation_id", "judge", "dimension", "score"])

    tables = {"participants": participants, "conversations": conversations, "messages": messages, "scores": scores}
    text = {name: cells(draw(_arrange(frame, identifiers()))) for name, frame in tables.items()}
    return NativeCohort(text, typed_tables(text))


@dataclass(frozen=True)
class CsvDialect:
    """How a file is written: encoding (``utf-8`` or with a byte-order mark, ``utf-8-sig``), line end, quoting."""

    encoding: str
    lineterminator: str
    quote_all: bool


dialects = st.builds(CsvDialect, st.sampled_from(["utf-8", "utf-8-sig"]), st.sampled_from(["\n", "\r\n"]), st.booleans())


def csv_bytes(frame: pd.DataFrame, dialect: CsvDialect) -> bytes:
    """The bytes of ``frame`` (cells str or None) as a CSV file in ``dialect``.

    With LF line ends Python's csv writer leaves a lone carriage return unquoted (a reader then takes it
    for a line end), so such files are written fully quoted, as a careful writer would.
    """
    text = cells(frame)
    has_return = any("\r" in value for value in text.to_numpy().ravel() if isinstance(value, str))
    quote_all = dialect.quote_all or (has_return and dialect.lineterminator == "\n")
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=dialect.lineterminator, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(list(frame.columns))
    writer.writerows(text.itertuples(index=False, name=None))
    return buffer.getvalue().encode(dialect.encoding)


def write_cohort_files(text: dict[str, pd.DataFrame | bytes | None], directory: Path, dialect: CsvDialect) -> dict[str, str]:
    """Write each table (a text frame, raw bytes, or None for a missing file) as its native file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, content in text.items():
        path = directory / NATIVE_FILES[name]
        if content is not None:
            path.write_bytes(content if isinstance(content, bytes) else csv_bytes(content, dialect))
        files[name] = str(path)
    return files


# --- corruptions ------------------------------------------------------------------------------------

# Cell values that break a type, a range, a vocabulary or an ID rule in some column (and are harmless
# in others): empty and blank cells, missing-value words, infinities, overflowing and non-ASCII numbers,
# control characters, surrounding and embedded whitespace, wrong case.
BAD_VALUES: tuple[str | None, ...] = (
    None, "", " ", "nan", "NaN", "NA", "inf", "-inf", "Infinity", "-1", "0", "6", "121", "5.5", "0.999", "1.5", "2.0", "3.",
    "1e400", "-1e400", "1e-400", "99999999999999999999", "9223372036854775808", "1_0", "0x10", "+3", "-0", "3 ", " 3", "٣",
    "３", "abc", "true", "\x00", "x\x1by", "\x7f", "p1\n", "\np1", "p\t1", "p1\r", "a,b", '"', "placebo", "CONTROL",
    "control ", "Seeker", "supporter ", "Workplace", "kindness", "😀", "\u200f", "\ufeff1", "1\u00a0", "\u00a01",
    "3.0000000000000004", "4.9999999999999999999", "5.0000000000000001",
)


def _misspellings(column: str) -> list[str]:
    """Header names a user may write instead of the contract's: wrong case, surrounding or inner spaces, empty."""
    return [column.upper(), f" {column}", f"{column} ", column.replace("_", " "), "", column + "_"]


INSERTED_BYTES: tuple[bytes, ...] = (
    b",", b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xff", b"\xc3", b"\xe2\x80", b";", b"\t", b'",', b"\xef\xbb\xbf", b"\\",
    b"\n\n", b",\n", b'"\n',
)
ENCODINGS: tuple[str, ...] = ("latin-1", "cp1252", "utf-16", "utf-16-le", "utf-32", "mac_roman")
FRAME_CORRUPTIONS = ("cell", "duplicate_row", "delete_row", "drop_column", "rename_column", "duplicate_column", "orphan")
ROW_CORRUPTIONS = ("cell", "duplicate_row", "delete_row", "orphan")
BYTE_CORRUPTIONS = ("truncate", "encoding", "insert", "delete_line", "duplicate_line", "delimiter", "line_ends", "empty", "missing")
# The reference each native table holds to another: table -> (its column, the table referred to, that table's key).
REFERENCES: dict[str, tuple[str, str, str]] = {
    "conversations": ("participant_id", "participants", "participant_id"),
    "messages": ("conversation_id", "conversations", "conversation_id"),
    "scores": ("conversation_id", "conversations", "conversation_id"),
}


@dataclass(frozen=True)
class Corruption:
    """One change to one table: ``kind`` (a frame or byte corruption), where, and with what."""

    kind: str
    table: str
    row: int | None = None
    column: str | None = None
    value: object = None
    position: int | None = None
    payload: object = None

    @property
    def on_bytes(self) -> bool:
        return self.kind in BYTE_CORRUPTIONS


@st.composite
def corruptions(draw, text: dict[str, pd.DataFrame], references: dict[str, tuple[str, str, str]] | None = None) -> Corruption:
    """One corruption of the files holding ``text`` (see the module's docstring); ``references`` (as
    :data:`REFERENCES`) are the cross-file references an ``orphan`` corruption breaks (none: no orphans)."""
    table = draw(st.sampled_from(list(text)))
    frame = text[table]
    kinds = [kind for kind in FRAME_CORRUPTIONS + BYTE_CORRUPTIONS if (references or kind != "orphan")
             and (len(frame) or kind not in ROW_CORRUPTIONS)]
    kind = draw(st.sampled_from(kinds))
    row = draw(st.integers(0, len(frame) - 1)) if len(frame) else None
    column = draw(st.sampled_from(list(frame.columns)))
    if kind == "cell":
        # half the time a key (an ID or a number), whose change can split, merge or orphan records
        keys = [name for name in frame.columns if name.endswith(("_id", "number", "turn"))]
        column = draw(st.sampled_from(keys)) if keys and draw(st.booleans()) else column
        same_column = [value for value in frame[column] if value is not None]
        value = draw(st.one_of(st.sampled_from(BAD_VALUES), st.sampled_from(same_column or [""]), identifiers(), texts()))
        return Corruption(kind, table, row=row, column=column, value=value)
    if kind == "duplicate_row":
        return Corruption(kind, table, row=row, position=draw(st.sampled_from(["next", "end"])))
    if kind == "rename_column":
        return Corruption(kind, table, column=column, value=draw(st.sampled_from(_misspellings(column) + list(frame.columns))))
    if kind == "duplicate_column":
        return Corruption(kind, table, column=column, value=draw(st.sampled_from(["same", "bad"])), payload=draw(st.sampled_from(BAD_VALUES)))
    if kind == "orphan":
        table = draw(st.sampled_from(sorted(references)))
        column, referred, key = references[table]
        known = set(text[referred][key])
        fresh = draw(identifiers().filter(lambda value: value not in known))
        return Corruption(kind, table, row=draw(st.integers(0, len(text[table]) - 1)), column=column, value=fresh)
    if kind in ("truncate", "insert"):
        payload = draw(st.sampled_from(INSERTED_BYTES)) if kind == "insert" else None
        return Corruption(kind, table, position=draw(st.integers(0, 1 << 20)), payload=payload)
    if kind in ("delete_line", "duplicate_line"):
        return Corruption(kind, table, position=draw(st.integers(0, 1 << 10)))
    if kind == "encoding":
        return Corruption(kind, table, payload=draw(st.sampled_from(ENCODINGS)))
    if kind == "delimiter":
        return Corruption(kind, table, payload=draw(st.sampled_from([b";", b"\t", b"|"])))
    if kind == "line_ends":
        return Corruption(kind, table, payload=draw(st.sampled_from([b"\r", b"\n\r"])))
    if kind == "empty":
        return Corruption(kind, table, payload=draw(st.sampled_from([b"", b"\xef\xbb\xbf", b" \n\n", b"\n"])))
    return Corruption(kind, table, row=row, column=column)


def corrupt_frame(frame: pd.DataFrame, corruption: Corruption) -> pd.DataFrame:
    """``frame`` with a frame corruption applied (cells stay str or None)."""
    frame = frame.copy()
    kind, row, column = corruption.kind, corruption.row, corruption.column
    if kind in ("cell", "orphan"):
        frame.iloc[row, frame.columns.get_loc(column)] = corruption.value
    elif kind == "duplicate_row":
        at = row + 1 if corruption.position == "next" else len(frame)
        frame = pd.concat([frame.iloc[:at], frame.iloc[[row]], frame.iloc[at:]], ignore_index=True)
    elif kind == "delete_row":
        frame = frame.drop(index=row).reset_index(drop=True)
    elif kind == "drop_column":
        frame = frame.drop(columns=column)
    elif kind == "rename_column":
        frame.columns = [corruption.value if name == column else name for name in frame.columns]
    elif kind == "duplicate_column":
        copy = frame[column] if corruption.value == "same" else pd.Series([corruption.payload] * len(frame), dtype=object)
        frame = pd.concat([frame, copy.rename(column).reset_index(drop=True)], axis=1)
    return frame


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def corrupt_bytes(data: bytes, corruption: Corruption) -> bytes | None:
    """A file's bytes with a byte corruption applied (None: the file is missing)."""
    kind = corruption.kind
    if kind == "truncate":
        return data[: corruption.position % (len(data) + 1)]
    if kind == "insert":
        at = corruption.position % (len(data) + 1)
        return data[:at] + corruption.payload + data[at:]
    if kind in ("delete_line", "duplicate_line"):
        lines = _lines(data)
        at = corruption.position % len(lines)
        repeated = [lines[at], lines[at]] if kind == "duplicate_line" else []
        return b"".join(lines[:at] + repeated + lines[at + 1 :])
    if kind == "encoding":
        text = data.decode("utf-8-sig")
        return text.encode(corruption.payload, errors="replace")
    if kind == "delimiter":
        return data.replace(b",", corruption.payload)
    if kind == "line_ends":
        return re.sub(rb"\r?\n", corruption.payload, data)
    if kind == "empty":
        return corruption.payload
    if kind == "missing":
        return None
    raise ValueError(f"not a byte corruption: {kind}")
