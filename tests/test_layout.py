"""The package's layout: no import cycles between intgkit's modules.

Lower floors never import higher ones (docs/architecture.md, "Modules"), not even lazily: the
graph counts every ``import`` and ``from ... import`` of an intgkit module anywhere in a module,
inside functions and methods included, and leaves out only ``if TYPE_CHECKING:`` blocks (never
run). A lazy import inside a method hides a cycle from ``python -c "import intgkit"`` but not
from the reader, and it is what turns a move of one module into a tangle.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path

import intgkit

PACKAGE = Path(intgkit.__file__).resolve().parent

#: module -> {imported module: "path:line" of the first import of it}
Graph = dict[str, dict[str, str]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, at any depth, except in ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                if isinstance(other, ast.Import | ast.ImportFrom):
                    yield other
                yield from _imports(other)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _imports(child)


def module_imports(
    name: str, source: str, *, is_package: bool, known: set[str], where: str
) -> dict[str, str]:
    """The intgkit modules that the module ``name`` imports, each with where it does first."""
    package = name if is_package else name.rpartition(".")[0]
    top = name.split(".")[0]
    out: dict[str, str] = {}
    for node in _imports(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for a in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{a.name}"
                targets.append(sub if sub in known else target)
        for t in targets:
            if t.split(".")[0] == top and t in known and t != name:
                out.setdefault(t, f"{where}:{node.lineno}")
    return out


def import_graph(root: Path = PACKAGE) -> Graph:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    return {
        name: module_imports(
            name,
            path.read_text(encoding="utf-8"),
            is_package=path.name == "__init__.py",
            known=known,
            where=str(path.relative_to(root.parent)),
        )
        for name, path in files.items()
    }


def cycles(graph: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of modules (Tarjan, then BFS)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # recursion depth: the package's module count, far below the limit
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found: dict[frozenset[str], list[str]] = {}
    for group in groups:
        for start in sorted(group):  # the shortest cycle through each module of the group
            cycle = _shortest_cycle(graph, group, start)
            found.setdefault(frozenset(cycle), cycle)
    return sorted(found.values(), key=lambda c: (len(c), c))


def _shortest_cycle(graph: Mapping[str, Mapping[str, str]], group: set[str], start: str) -> list[str]:
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, {})):
                if w == start:
                    return [*paths[v], start]
                if w in group and w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is in a strongly connected group but on no cycle")


def describe(graph: Mapping[str, Mapping[str, str]], cycle: list[str]) -> str:
    steps = [f"{a} -> {b}  ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    return "\n    ".join(steps)


def test_the_graph_counts_lazy_imports_but_not_type_checking_ones() -> None:
    """Imports inside functions count; those under ``if TYPE_CHECKING:`` do not."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import _a\n"
        "from ._b import thing\n"
        "import pkg._c\n"
        "if TYPE_CHECKING:\n"
        "    from ._d import D\n"
        "def f():\n"
        "    class K:\n"
        "        def m(self):\n"
        "            from .sub import _e\n"
        "    from . import __version__\n"
    )
    known = {"pkg", "pkg._a", "pkg._b", "pkg._c", "pkg._d", "pkg.sub", "pkg.sub._e", "pkg._m"}
    got = module_imports("pkg._m", source, is_package=False, known=known, where="m.py")
    assert got == {
        "pkg._a": "m.py:2",
        "pkg._b": "m.py:3",
        "pkg._c": "m.py:4",
        "pkg.sub._e": "m.py:10",
        "pkg": "m.py:11",
    }


def test_cycles_are_found_and_shown() -> None:
    """A cycle, however long, is found and shown with where each import is."""
    graph = {
        "a": {"b": "a.py:1"},
        "b": {"c": "b.py:5"},
        "c": {"a": "c.py:9", "d": "c.py:10"},
        "d": {},
    }
    (cycle,) = cycles(graph)
    assert cycle == ["a", "b", "c", "a"]
    assert describe(graph, cycle).splitlines()[-1].strip() == "c -> a  (c.py:9)"
    assert cycles({"a": {"b": ""}, "b": {}}) == []


def test_intgkit_has_no_import_cycle() -> None:
    """No intgkit module imports, at any depth and however lazily, one that imports it back."""
    graph = import_graph()
    # the graph sees lazy imports (else it would prove nothing): the runner records history
    # through an import inside a method
    assert "intgkit._store.hook" in graph["intgkit._runner"]
    found = cycles(graph)
    shown = "\n  ".join(describe(graph, c) + "\n" for c in found)
    assert not found, f"{len(found)} import cycle(s) between intgkit's modules:\n  {shown}"


def test_results_pickle_by_their_modules() -> None:
    """A run's results (moved to _results) and its statuses (moved to _status) pickle and come
    back equal, run id included: what a process pool or a user's own pickle relies on."""
    import pickle

    from intgkit._results import IntegrationResults

    result = intgkit.IntegrationResult(
        "demo", "a.example", intgkit.Status.OK, (intgkit.IntegrationSection("s", [{"v": 1}]),)
    )
    results = IntegrationResults([result], run_id="r1")
    back = pickle.loads(pickle.dumps(results))
    assert back == results and back.run_id == "r1" and back[0].status is intgkit.Status.OK
    assert type(back).__module__ == "intgkit._results"
    assert intgkit.Status.__module__ == "intgkit._status"
