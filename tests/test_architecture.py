"""The layout's rules, checked on the source: no import circle in ``syndicate/`` (lazy
imports in a function and ``TYPE_CHECKING`` imports count too) and no module over
``MAX_LINES`` lines (issue 19). Reads the source files; imports none of them.

``python -m tests.test_architecture`` prints every circle and the largest modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import pytest

MAX_LINES = 800

PACKAGE = Path(__file__).resolve().parent.parent / "syndicate"

Kind = Literal["top", "lazy", "type"]
# module -> imported module -> how (the first such import: kind and line).
Graph = dict[str, dict[str, tuple[Kind, int]]]


def module_files(package: Path) -> dict[str, Path]:
    """Every module under ``package`` by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, Kind]]:
    """Every import statement of a module, wherever it is, and how it runs."""

    def walk(node: ast.AST, kind: Kind) -> Iterator[tuple[ast.Import | ast.ImportFrom, Kind]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                yield from walk(statement, "type")
            for statement in node.orelse:
                yield from walk(statement, kind)
            return
        inner: Kind = kind
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and kind == "top":
            inner = "lazy"
        for child in ast.iter_child_nodes(node):
            yield from walk(child, inner)

    yield from walk(tree, "top")


def import_graph(package: Path) -> Graph:
    """Which module of ``package`` imports which, top-level, lazy or type-only.

    ``from a.b import c`` is an import of the module ``a.b.c`` if there is one, else of
    ``a.b``: a package's face counts as one module, whose own imports (type-only ones
    included) lead on to its submodules.
    """
    modules = module_files(package)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {name: {} for name in modules}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node, kind in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = here[: len(here) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                found = resolve(target)
                if found is not None and found != name and found not in graph[name]:
                    graph[name][found] = (kind, node.lineno)
    return graph


def cycles(graph: Mapping[str, Mapping[str, object]], limit: int = 100) -> list[list[str]]:
    """The import circles of ``graph``, each once, from its least module (at most
    ``limit``)."""
    found: list[list[str]] = []
    for start in sorted(graph):
        _circles_back(graph, [start], found, limit)
    return found


def _circles_back(
    graph: Mapping[str, Mapping[str, object]], path: list[str], found: list[list[str]], limit: int
) -> None:
    """Every circle going on from ``path`` back to its first module through greater ones."""
    start = path[0]
    for nxt in sorted(graph.get(path[-1], {})):
        if len(found) >= limit:
            return
        if nxt == start:
            found.append([*path, start])
        elif nxt > start and nxt not in path:
            _circles_back(graph, [*path, nxt], found, limit)


def describe(cycle: list[str], graph: Graph) -> str:
    """``a -(lazy, line 3)-> b -(top, line 9)-> a``."""
    out = cycle[0]
    for a, b in zip(cycle, cycle[1:], strict=False):
        kind, line = graph[a][b]
        out += f" -({kind}, line {line})-> {b}"
    return out


def test_no_import_circle() -> None:
    graph = import_graph(PACKAGE)
    found = list(cycles(graph, limit=10_000))
    assert not found, "import circles:\n" + "\n".join(describe(c, graph) for c in found)


def test_no_module_over_the_size_limit() -> None:
    over = {
        name: lines
        for name, path in module_files(PACKAGE).items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not over, f"modules over {MAX_LINES} lines (split them by concern): {over}"


# -- the checker finds what it must ---------------------------------------------------------


def _package(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


@pytest.mark.parametrize(
    ("back", "kind"),
    [
        ("from .. import a\n", "top"),
        ("import pkg.a\n", "top"),
        ("def f():\n    from ..a import x\n    return x\n", "lazy"),
        ("class C:\n    def m(self):\n        import pkg.a\n", "lazy"),
        ("import typing\nif typing.TYPE_CHECKING:\n    from ..a import x\n", "type"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import a\n", "type"),
    ],
)
def test_every_kind_of_import_closes_a_circle(tmp_path: Path, back: str, kind: str) -> None:
    """``pkg.a`` imports ``pkg.sub.b``, which imports ``pkg.a`` back, so or so."""
    files = {"__init__.py": "", "a.py": "from .sub.b import y\n", "sub/__init__.py": ""}
    package = _package(tmp_path, files | {"sub/b.py": back})
    graph = import_graph(package)
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
    assert graph["pkg.sub.b"]["pkg.a"][0] == kind


def test_a_runtime_branch_beside_type_checking_is_no_type_import(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "import typing\nif not typing.TYPE_CHECKING:\n    from . import b\n",
            "b.py": "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    import pkg.a\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"]["pkg.b"][0] == "top" and graph["pkg.b"]["pkg.a"][0] == "top"


def test_one_way_imports_and_a_face_are_no_circle(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "from .a import x\n",  # the face imports its modules
            "a.py": "from .b import y\nx = y\n",
            "b.py": "import os\nfrom collections import abc\ny = 1\n",
        },
    )
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a": ("top", 1)}, "pkg.a": {"pkg.b": ("top", 1)}, "pkg.b": {}}
    assert cycles(graph) == []


def test_every_circle_is_listed_once(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from . import b, c\n",
            "b.py": "from . import a\n",
            "c.py": "from . import b\n",
        },
    )
    assert cycles(import_graph(package)) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.a", "pkg.c", "pkg.b", "pkg.a"],
    ]


if __name__ == "__main__":
    graph = import_graph(PACKAGE)
    for cycle in cycles(graph, limit=10_000):
        print(describe(cycle, graph))
    sizes = {
        n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in module_files(PACKAGE).items()
    }
    for name, lines in sorted(sizes.items(), key=lambda item: -item[1])[:10]:
        print(f"{lines:6d} {name}")
