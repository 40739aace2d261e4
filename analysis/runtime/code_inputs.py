"""The code a workflow script runs: its ``analysis`` modules and reference files, found from its imports.

Snakemake reruns a rule when one of its inputs is newer than its outputs. Declaring a rule's script, every
module of the package the script reaches through its imports (directly or through other modules), and every
reference or schema file those modules name, makes an edit to any of them rerun exactly the rules that use
it. :class:`ImportGraph` reads the imports with :mod:`ast` (nothing is imported or executed), so it is cheap
enough to run when Snakemake builds its DAG; each file is parsed once per graph, and with a cache file once
per version of its text (the Snakefile keeps one under ``.cache/``: every Snakemake command reads the graph).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from analysis.runtime import atomic

__all__ = ["ImportGraph", "ImportResolutionError"]


class ImportResolutionError(ValueError):
    """An import of the package names a module that does not exist, or a script uses a relative import."""


class ImportGraph:
    """The imports between scripts and the modules of one package, with the data files the modules name.

    Parameters
    ----------
    package_dir : path
        The package's folder (holding ``__init__.py``); its name is the package's import name.
    data_dirs : iterable of path, optional
        Folders of data files the package reads (reference tables, schemas). A module depends on such a
        file when one of its string literals (docstrings aside) is the file's name or ends with
        ``/<name>``, e.g. ``REFERENCE_DIR / "published_composite.csv"``.
    cache_file : path, optional
        A JSON file keeping what each file's parse found, keyed by the sha256 of its text, for the
        next graph (:meth:`save` writes it). A parse also depends on which modules and data files exist
        and on this module's code, so the whole cache is dropped when either changes. A cache that cannot
        be read is ignored.

    Notes
    -----
    Resolved forms: ``import pkg.a.b`` (``pkg``, ``pkg.a``, ``pkg.a.b``: importing a submodule runs its
    parents' ``__init__``), ``from pkg.a import b`` (``pkg.a`` and, when ``b`` is a submodule, ``pkg.a.b``),
    relative imports inside the package (``from . import b``, ``from ..a import b``), at any depth of the
    file (imports inside functions count: they run when the function does). Imports of other packages are
    ignored. Modules reached through ``importlib.import_module`` with a computed name are not seen.
    """

    def __init__(self, package_dir: str | Path, data_dirs: Iterable[str | Path] = (), cache_file: str | Path | None = None) -> None:
        self.package_dir = Path(package_dir).resolve()
        if not (self.package_dir / "__init__.py").is_file():
            raise ImportResolutionError(f"{self.package_dir} is not a package: it has no __init__.py")
        self.package = self.package_dir.name
        self.data_files = {
            path.name: path.resolve() for folder in data_dirs for path in sorted(Path(folder).iterdir()) if path.is_file()
        }
        self._direct: dict[Path, tuple[frozenset[str], frozenset[Path]]] = {}
        self._cache_file = Path(cache_file) if cache_file is not None else None
        # what a parse depends on besides the file's text: which modules and data files exist, and this code
        layout = sorted(str(path) for path in self.package_dir.rglob("*.py")) + sorted(str(path) for path in self.data_files.values())
        self._layout = hashlib.sha256("\n".join(layout).encode("utf-8") + Path(__file__).read_bytes()).hexdigest()
        self._cached = self._read_cache()
        self._new_entries = False

    def module_path(self, name: str) -> Path | None:
        """The file of module ``name`` (a dotted name inside the package), or None when there is none."""
        parts = name.split(".")
        if parts[0] != self.package:
            return None
        base = self.package_dir.joinpath(*parts[1:])
        for candidate in (base / "__init__.py", base.with_suffix(".py") if len(parts) > 1 else None):
            if candidate is not None and candidate.is_file():
                return candidate
        return None

    def module_name(self, path: Path) -> str | None:
        """The dotted name of a file inside the package, or None for a file outside it (a script)."""
        try:
            relative = path.resolve().relative_to(self.package_dir)
        except ValueError:
            return None
        parts = [self.package, *relative.with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def closure(self, script: str | Path) -> list[Path]:
        """Everything ``script`` runs: itself, then the package modules it reaches, then the data files.

        Parameters
        ----------
        script : path
            A Python file (a workflow script or a module of the package).

        Returns
        -------
        list of Path
            Absolute paths: ``script``, the reached modules sorted by path (a submodule's parent packages'
            ``__init__.py`` included), the data files they name sorted by path.

        Raises
        ------
        ImportResolutionError
            ``script`` does not exist, or it or a reached module imports a package module that does not
            exist, or a script outside the package uses a relative import.
        """
        script = Path(script).resolve()
        if not script.is_file():
            raise ImportResolutionError(f"{script}: no such script")
        seen: set[Path] = set()
        data: set[Path] = set()
        pending = [script]
        while pending:
            path = pending.pop()
            modules, files = self._imports(path)
            data |= files
            for name in modules:
                module = self.module_path(name)
                if module not in seen and module != script:
                    seen.add(module)
                    pending.append(module)
        return [script, *sorted(seen), *sorted(data)]

    def save(self) -> None:
        """Write the parses made so far to the cache file (atomically), when there is one and something was parsed.

        A cache that cannot be written (a read-only checkout) is left as it is: the next graph parses again.
        """
        if self._cache_file is None or not self._new_entries:
            return
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self._cache_file, {"layout": self._layout, "files": self._cached})
        except OSError:
            return
        self._new_entries = False

    def _read_cache(self) -> dict:
        if self._cache_file is None:
            return {}
        try:
            record = json.loads(self._cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(record, dict) or record.get("layout") != self._layout or not isinstance(record.get("files"), dict):
            return {}
        return record["files"]

    def _imports(self, path: Path) -> tuple[frozenset[str], frozenset[Path]]:
        if path not in self._direct:
            source = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
            entry = self._cached.get(str(path))
            if isinstance(entry, dict) and entry.get("sha256") == digest:
                self._direct[path] = (frozenset(entry["modules"]), frozenset(Path(file) for file in entry["files"]))
            else:
                modules, files = self._direct[path] = self._parse(path, source)
                self._cached[str(path)] = {"sha256": digest, "modules": sorted(modules), "files": sorted(str(file) for file in files)}
                self._new_entries = True
        return self._direct[path]

    def _parse(self, path: Path, source: str) -> tuple[frozenset[str], frozenset[Path]]:
        tree = ast.parse(source, filename=str(path))
        own = self.module_name(path)
        modules: set[str] = set()
        for node in _statements(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    modules |= self._with_parents(alias.name, path, node)
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(node, own, path)
                if base is None:
                    continue
                modules |= self._with_parents(base, path, node)
                # `from pkg.a import b` imports the submodule pkg.a.b when b is one, else a name of pkg.a
                modules |= {f"{base}.{alias.name}" for alias in node.names if self.module_path(f"{base}.{alias.name}")}
        named = [name for name in self.data_files if name in source]
        return frozenset(modules), frozenset(self._data_files(tree, named))

    def _absolute(self, node: ast.ImportFrom, own: str | None, path: Path) -> str | None:
        """The absolute module name an ImportFrom reads from, or None when it is outside the package."""
        if node.level == 0:
            return node.module if node.module and node.module.split(".")[0] == self.package else None
        if own is None:
            raise ImportResolutionError(f"{path}, line {node.lineno}: relative import outside the package {self.package}")
        package = own if path.name == "__init__.py" else own.rpartition(".")[0]
        parts = package.split(".")
        if node.level - 1 >= len(parts):
            raise ImportResolutionError(f"{path}, line {node.lineno}: relative import beyond the package {self.package}")
        parts = parts[: len(parts) - (node.level - 1)]
        return ".".join(parts + ([node.module] if node.module else []))

    def _with_parents(self, name: str, path: Path, node: ast.stmt) -> set[str]:
        parts = name.split(".")
        if parts[0] != self.package:
            return set()
        if self.module_path(name) is None:
            raise ImportResolutionError(f"{path}, line {node.lineno}: imports {name}, which is not a module of {self.package_dir}")
        return {".".join(parts[: end + 1]) for end in range(len(parts))}

    def _data_files(self, tree: ast.Module, names: list[str]) -> set[Path]:
        """The data files among ``names`` (those the source mentions) that a string literal names."""
        if not names:
            return set()
        # bare string statements are docstrings or notes: they do not make a module read a file
        notes = {id(node.value) for node in _statements(tree) if isinstance(node, ast.Expr)}
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in notes:
                found |= {self.data_files[name] for name in names if node.value == name or node.value.endswith("/" + name)}
        return found


def _statements(tree: ast.AST) -> Iterable[ast.stmt]:
    """Every statement of ``tree`` at any depth (function and class bodies, branches, handlers), in
    source order; expressions are not entered, which keeps the walk a fraction of :func:`ast.walk`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        children = [
            child
            for _, value in ast.iter_fields(node)
            if isinstance(value, list)
            for child in value
            if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case)
        ]
        stack.extend(reversed(children))
