"""Atomic writing (analysis.runtime.atomic): an interrupted writer leaves the previous file or none, never half of one;
and every writer of the package and the workflow scripts goes through it (a source scan)."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from analysis.runtime import atomic
from tests.conftest import REPO

# ---------------------------------------------------------------------------------------------
# The writers
# ---------------------------------------------------------------------------------------------


def test_a_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "sub" / "table.md"
    atomic.write_text(target, "first\n")
    atomic.write_text(target, "second\r\nline\n")
    assert target.read_bytes() == b"second\r\nline\n"
    assert sorted(path.name for path in target.parent.iterdir()) == ["table.md"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # what open() would have given, not mkstemp's 0600


@pytest.mark.parametrize("previous", [b"previous content\n", None])
def test_an_error_inside_the_block_leaves_the_previous_file_or_none(tmp_path, previous):
    target = tmp_path / "results.csv"
    if previous is not None:
        target.write_bytes(previous)
    with pytest.raises(RuntimeError, match="stopped half-way"):
        with atomic.atomic_open(target) as handle:
            handle.write("a,b\n1,2\n")
            handle.flush()
            assert atomic.partial_files(target) != []  # the half-written copy exists, beside the target
            raise RuntimeError("stopped half-way")
    assert (target.read_bytes() if target.exists() else None) == previous
    assert atomic.partial_files(target) == []


def test_the_helpers_write_the_same_bytes_as_a_direct_write(tmp_path):
    frame = pd.DataFrame({"x": [0.1, 1 / 3, np.nan], "label": ["a", "é", "c,d"]})
    atomic.write_csv(frame, tmp_path / "atomic.csv", index=False, lineterminator="\n")
    frame.to_csv(tmp_path / "direct.csv", index=False, lineterminator="\n")  # the reference the helper must equal
    assert (tmp_path / "atomic.csv").read_bytes() == (tmp_path / "direct.csv").read_bytes()
    record = {"b": [1, 2.5], "a": {"date": pd.Timestamp("2026-01-02")}}
    atomic.write_json(tmp_path / "record.json", record, default=str)
    assert (tmp_path / "record.json").read_text(encoding="utf-8") == json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    atomic.write_bytes(tmp_path / "blob", b"\x00\xff")
    assert (tmp_path / "blob").read_bytes() == b"\x00\xff"


def test_figures_and_netcdf_go_through_a_temporary_file_too(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    fig, axis = plt.subplots(figsize=(2, 2))
    axis.plot([0, 1], [1, 0])
    atomic.save_figure(fig, tmp_path / "atomic.png", format="png", metadata={"Software": None})
    fig.savefig(tmp_path / "direct.png", format="png", metadata={"Software": None})
    plt.close(fig)
    assert (tmp_path / "atomic.png").read_bytes() == (tmp_path / "direct.png").read_bytes()
    dataset = xr.Dataset({"draws": ("draw", np.arange(5.0))}, attrs={"model": "composite"})
    atomic.write_netcdf(dataset, tmp_path / "fit.nc")
    with xr.open_dataset(tmp_path / "fit.nc") as written:
        assert written.identical(dataset)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["atomic.png", "direct.png", "fit.nc"]


def test_only_writing_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode 'a'; expected 'w' or 'wb'"):
        with atomic.atomic_open(tmp_path / "log.txt", "a"):
            pass
    assert list(tmp_path.iterdir()) == []


# A child that writes a large CSV through analysis.runtime.atomic; the object in row HALT says "half" on standard output
# when pandas formats it (by then tens of thousands of rows are on the disk) and waits there to be killed.
KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import pandas as pd
    from analysis.runtime.atomic import write_csv

    class Halt:
        def __str__(self):
            print("half", flush=True)
            time.sleep(120)
            return "never"

    rows = 200_000
    labels = ["row %d" % index for index in range(rows)]
    labels[{halt}] = Halt()
    write_csv(pd.DataFrame({{"x": range(rows), "label": labels}}), sys.argv[1], index=False, lineterminator="\\n")
    """
)


def test_a_writer_killed_half_way_leaves_the_previous_file(tmp_path):
    target = tmp_path / "results" / "scores.csv"
    target.parent.mkdir()
    target.write_bytes(b"x,label\n0,previous\n")
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.format(halt=150_000), str(target)], stdout=subprocess.PIPE,
                             text=True, cwd=REPO)
    try:
        assert child.stdout.readline() == "half\n"
        partial = atomic.partial_files(target)
        assert len(partial) == 1 and partial[0].stat().st_size > 1_000_000  # really killed part-way through
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"x,label\n0,previous\n"
    # the next write of the same target clears what the killed writer left
    atomic.write_text(target, "x,label\n0,new\n")
    assert sorted(path.name for path in target.parent.iterdir()) == ["scores.csv"]
    assert target.read_text(encoding="utf-8") == "x,label\n0,new\n"


# ---------------------------------------------------------------------------------------------
# Every writer goes through analysis.runtime.atomic
# ---------------------------------------------------------------------------------------------

# Methods that write a file they are given (to_csv & co. return text when given none).
WRITES_WHEN_GIVEN_A_TARGET = {"to_csv", "to_json", "to_latex", "to_html", "to_markdown", "to_string", "to_xml"}
TARGET_KEYWORDS = {"path_or_buf", "buf", "path", "filename", "fname"}
ALWAYS_WRITE = {"savefig", "to_netcdf", "to_zarr", "write_text", "write_bytes", "to_parquet", "to_excel", "to_feather",
                "to_pickle", "to_hdf", "to_stata", "write_image"}
WRITING_FUNCTIONS = {"os.replace", "os.rename", "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.move",
                     "shutil.copytree", "tempfile.mkstemp", "tempfile.NamedTemporaryFile", "pickle.dump", "np.save",
                     "np.savez", "np.savez_compressed", "np.savetxt", "numpy.save", "numpy.savetxt"}
STREAM_DUMPS = {"json.dump", "yaml.dump", "yaml.safe_dump"}  # write when given a stream
OS_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_APPEND", "O_TRUNC"}
ATOMIC = {"atomic", "analysis.runtime.atomic"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _writing_mode(call: ast.Call, position: int) -> bool:
    """Whether an open()-like call opens for writing: its mode (argument ``position`` or ``mode=``) is not a
    read-only constant."""
    mode = call.args[position] if len(call.args) > position else next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and not set(mode.value) & set("wax+"))


def is_direct_write(call: ast.Call) -> bool:
    """Whether a call writes a file by itself (not through analysis.runtime.atomic)."""
    name = _dotted(call.func)
    # a method of some object (the helpers of analysis.runtime.atomic, called as atomic.<name> or imported, are not)
    method = call.func.attr if isinstance(call.func, ast.Attribute) and _dotted(call.func.value) not in ATOMIC else None
    keywords = {keyword.arg for keyword in call.keywords}
    if method in WRITES_WHEN_GIVEN_A_TARGET:
        return bool(call.args) or bool(keywords & TARGET_KEYWORDS)
    if method in ALWAYS_WRITE or name in WRITING_FUNCTIONS:
        return True
    if name in STREAM_DUMPS:
        return len(call.args) > 1 or "stream" in keywords or "fp" in keywords
    if name == "os.open":
        flags = call.args[1] if len(call.args) > 1 else None
        return flags is None or bool({node.attr for node in ast.walk(flags) if isinstance(node, ast.Attribute)} & OS_WRITE_FLAGS)
    if name in ("open", "io.open", "os.fdopen", "codecs.open"):
        return _writing_mode(call, 1)
    if method == "open":  # Path.open, gzip.open, ...
        return _writing_mode(call, 0) if _dotted(call.func.value) not in ("gzip", "bz2", "lzma", "tarfile") else _writing_mode(call, 1)
    return False


def direct_writes(source: str, filename: str = "<snippet>") -> list[str]:
    """``file:line: code`` of every call in ``source`` that writes a file without analysis.runtime.atomic."""
    return [
        f"{filename}:{node.lineno}: {ast.get_source_segment(source, node)}"
        for node in ast.walk(ast.parse(source, filename))
        if isinstance(node, ast.Call) and is_direct_write(node)
    ]


@pytest.mark.parametrize("snippet", [
    "frame.to_csv(path, index=False)", "frame.to_csv(path_or_buf=path)", "fig.savefig('x.png', dpi=300)",
    "open(path, 'w')", "open(path, mode='wb')", "open(path, 'a', encoding='utf-8')", "open(path, chosen_mode)",
    "Path(p).open('w')", "Path(p).write_text('x')", "path.write_bytes(b'')", "json.dump(record, handle)",
    "yaml.safe_dump(record, handle)", "idata.to_netcdf(path)", "os.replace(a, b)", "os.rename(a, b)", "np.save(p, a)",
    "os.fdopen(descriptor, 'wb')", "tempfile.mkstemp(dir=d)", "shutil.copy(a, b)", "os.open(p, os.O_WRONLY | os.O_CREAT)",
    "table.to_latex(buf=path)", "gzip.open(path, 'wt')",
])
def test_the_scan_finds_each_kind_of_direct_write(snippet):
    assert len(direct_writes(snippet)) == 1, snippet


@pytest.mark.parametrize("snippet", [
    "frame.to_csv(index=False, lineterminator='\\n')", "open(path)", "open(path, 'rb')", "Path(p).open(encoding='utf-8')",
    "json.dumps(record, indent=2)", "yaml.safe_dump(record, sort_keys=True)", "styler.to_latex(caption='c', hrules=True)",
    "os.open(p, os.O_RDONLY | os.O_CREAT, 0o666)", "atomic.write_csv(frame, path, index=False)", "text.replace('a', 'b')",
    "atomic.write_text(path, text)", "write_text(snakemake.output.md, text)", "analysis.runtime.atomic.save_figure(fig, path)",
])
def test_the_scan_leaves_reads_and_text_rendering_alone(snippet):
    assert direct_writes(snippet) == [], snippet


def test_every_writer_goes_through_the_atomic_module():
    """A new writer that opens, saves or dumps to a file by itself fails here: write through analysis.runtime.atomic
    (write_text, write_json, write_csv, save_figure, write_netcdf, write_bytes, atomic_open, atomic_path)."""
    sources = sorted([*(REPO / "analysis").rglob("*.py"), *(REPO / "workflow" / "scripts").glob("*.py"),
                      *(REPO / "workflow" / "plugins").rglob("*.py")])
    sources = [path for path in sources if path != REPO / "analysis" / "runtime" / "atomic.py"]
    assert len(sources) > 80
    found = [hit for path in sources for hit in direct_writes(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert found == [], "write these through analysis.runtime.atomic:\n" + "\n".join(found)
