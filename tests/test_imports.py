"""No import cycle inside hubfw/: read from the source with `ast`, nothing is imported.

Every import statement counts, wherever it stands: at the top of a module, inside a function
(a lazy import), under `if TYPE_CHECKING:` or in a `try`. A lazy or type-only import hides a
cycle from the interpreter, not from the design, so it is a dependency like any other.

How an import becomes an edge between hubfw modules:
- `import a.b.c` depends on `a.b.c` (or on the longest prefix of it that is a hubfw module);
- `from a.b import c` depends on `a.b.c` when that is a hubfw module or package, else on `a.b`
  (c is then a name defined in, or re-exported by, `a.b`);
- relative imports are resolved against the importing module's package first.

A package's `__init__` counts only where it is named: importing `hubfw.cbke.certificates` is no
edge to `hubfw.cbke`, although Python runs that `__init__` first. What the `__init__` itself
imports (its re-exports from its submodules) are its edges, so a submodule that imports a name
from its own package's `__init__`, which re-exports that submodule, is a cycle:
`hubfw.x -> hubfw.x.y -> hubfw.x`. Import from the defining module instead.

Each cycle is reported once per strongly connected part of the graph and module in it, as the
shortest way back to that module, written from its alphabetically first module: `a -> b -> a`.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module and package under `root / package`, by dotted name."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, name: str, is_package: bool,
              known: Mapping[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _longest_known(alias.name, known)
        return
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        yield submodule if submodule in known else _longest_known(source, known)


def _longest_known(dotted: str, known: Mapping[str, Path]) -> str:
    parts = dotted.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def import_graph(known: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules among `known` that it imports anywhere in its source."""
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(_imported(node, name, path.name == "__init__.py", known))
        graph[name] = {target for target in targets if target in known and target != name}
    return graph


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; the parts of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    parts = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1:
                        parts.append(sorted(part))
    return sorted(parts)


def _shortest_cycle(graph: Mapping[str, set[str]], start: str, within: set[str]) -> list[str]:
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph[node] & within):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    raise AssertionError(f"{start} is on no cycle")


def cycles(graph: Mapping[str, set[str]]) -> list[str]:
    """The cycles of the graph, as `a -> b -> a`."""
    found: list[str] = []
    for part in _strongly_connected(graph):
        for start in part:
            cycle = _shortest_cycle(graph, start, set(part))
            first = cycle.index(min(cycle))
            cycle = cycle[first:] + cycle[:first]
            text = " -> ".join([*cycle, cycle[0]])
            if text not in found:
                found.append(text)
    return found


def test_hubfw_has_no_import_cycle() -> None:
    found = cycles(import_graph(modules(ROOT, "hubfw")))
    assert not found, "import cycles in hubfw/:\n" + "\n".join(found)


def _write(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_finds_cycles_hidden_in_lazy_type_only_and_relative_imports(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "from pkg.core import Thing\n",
        "pkg/core.py": "def make():\n    from pkg import helpers\n    return helpers\n\nclass Thing:\n    pass\n",
        "pkg/helpers.py": "from .core import Thing\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/typed.py": ("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                             "    from ..sub.other import Other\n"),
        "pkg/sub/other.py": "import pkg.sub.typed\nimport os\n",
        "pkg/reexported.py": "from pkg import Thing\n",
        "pkg/fine.py": "from pkg.sub import typed\nfrom pkg.core import Thing\nimport pkg.sub.other as other\n",
    })
    graph = import_graph(modules(tmp_path, "pkg"))
    assert graph["pkg.fine"] == {"pkg.sub.typed", "pkg.core", "pkg.sub.other"}
    assert graph["pkg.reexported"] == {"pkg"}
    assert cycles(graph) == [
        "pkg.core -> pkg.helpers -> pkg.core",  # via the lazy import in a function
        "pkg.sub.other -> pkg.sub.typed -> pkg.sub.other",  # via a relative import under TYPE_CHECKING
    ]
    _write(tmp_path, {"pkg/core.py": "from pkg.reexported import Thing\n"})
    assert cycles(import_graph(modules(tmp_path, "pkg"))) == [
        "pkg -> pkg.core -> pkg.reexported -> pkg",  # through a re-exporting __init__
        "pkg.sub.other -> pkg.sub.typed -> pkg.sub.other",
    ]


def test_an_acyclic_package_passes(tmp_path: Path) -> None:
    _write(tmp_path, {"pkg/__init__.py": "from pkg.a import A\n", "pkg/a.py": "from pkg import b\nA = b.B\n",
                      "pkg/b.py": "B = 1\n"})
    assert cycles(import_graph(modules(tmp_path, "pkg"))) == []
