"""The layout's rules that code can check: no module imports a module that imports it
back, directly or through others (imports inside functions count: they cycle as well); and
the README's Layout section stays true: every path it names exists, and it names every
package and every module of the command line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("apiservice", "adapter", "autoscaler", "surge", "bench", "tests")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The first-party modules `name` imports, wherever in the file the import stands (the
    project imports absolutely: `from a.b import c` is module a.b.c if there is one, else
    a name of a.b)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    assert len(modules) > 80
    assert _cycles(graph) == []


def test_the_check_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _layout_rows() -> list[tuple[list[str], list[str]]]:
    """The README's Layout table: each row's paths (first cell) and the names its
    description gives in backquotes."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Layout\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line.strip("|").split(" | ", 1) for line in section.splitlines()]
    return [
        (re.findall(r"`([^`]+)`", where), re.findall(r"`([^`\s]+)`", what))
        for where, what in (row for row in rows if len(row) == 2 and "`" in row[0])
    ]


def test_every_path_the_layout_names_exists() -> None:
    rows = _layout_rows()
    assert rows
    for wheres, names in rows:
        for where in wheres:
            assert (ROOT / where).exists(), where
        folders = [ROOT / w for w in wheres if (ROOT / w).is_dir()]
        for name in names:
            if "/" in name or name.endswith((".py", ".yaml", ".proto")):
                # Named from the root, or anywhere below the row's folders.
                tail = "/" + name.rstrip("/")
                found = (ROOT / name).exists() or any(
                    f"/{p.relative_to(ROOT)}".endswith(tail)
                    for f in folders
                    for p in f.rglob(Path(name).name)
                )
                assert found, f"{name} (row {wheres})"


def test_every_package_and_every_command_module_is_in_the_layout() -> None:
    rows = _layout_rows()
    firsts = {where.rstrip("/") for wheres, _ in rows for where in wheres}
    assert set(PACKAGES) | {"deploy", "docs"} <= firsts
    surge_row = next(names for wheres, names in rows if wheres == ["surge/"])
    modules = {p.name for p in (ROOT / "surge").glob("*.py")} - {"__init__.py", "__main__.py"}
    assert modules - set(surge_row) == set()
