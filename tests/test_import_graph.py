"""The package's import graph has no cycles, between modules or between packages.

Every ``import`` in ``layerkit/`` counts, at module level or inside a function (a function-local
import hides a cycle from Python but not from the design); ``if TYPE_CHECKING:`` blocks do not.
A package's lazy exports (``_EXPORTS = {name: module}`` in its ``__init__``) are imports of
those modules, and ``from package import name`` is an import of the module defining ``name``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "layerkit"


def _module_files() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _is_type_checking(node: ast.If) -> bool:
    return any(
        isinstance(n, ast.Name) and n.id == "TYPE_CHECKING"
        or isinstance(n, ast.Attribute) and n.attr == "TYPE_CHECKING"
        for n in ast.walk(node.test)
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _import_nodes(ast.Module([child], [])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _import_nodes(node)


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "_EXPORTS" and isinstance(value, ast.Dict):
            return {
                ast.literal_eval(k): ast.literal_eval(v)
                for k, v in zip(value.keys, value.values)
                if k is not None
            }
    return {}


TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}
EXPORTS = {name: _lazy_exports(tree) for name, tree in TREES.items()}


def _resolve(module: str, level: int, importer: str) -> str:
    if level:
        base = importer.split(".")
        if not MODULES[importer].name == "__init__.py":
            base.pop()
        base = base[: len(base) - (level - 1)]
        module = ".".join([*base, module] if module else base)
    return module


def module_edges() -> dict[str, set[str]]:
    """``module -> modules of layerkit it imports``."""
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, tree in TREES.items():
        targets: set[str] = set(EXPORTS[name].values())
        for node in _import_nodes(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            module = _resolve(node.module or "", node.level, name)
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in MODULES:
                    targets.add(sub)
                elif alias.name in EXPORTS.get(module, {}):
                    targets.add(EXPORTS[module][alias.name])
                else:
                    targets.add(module)
        edges[name] = {t for t in targets if t in MODULES and t != name}
    return edges


def _unit(module: str) -> str:
    """The package a module belongs to: ``layerkit.spec.models`` -> ``layerkit.spec``."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for source, targets in module_edges().items():
        unit = _unit(source)
        edges.setdefault(unit, set()).update(_unit(t) for t in targets if _unit(t) != unit)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_walker_sees_function_local_imports_and_lazy_exports() -> None:
    edges = module_edges()
    # function-local: the CLI imports the application layer inside its command functions
    assert "layerkit.run" in edges["layerkit.cli.train"]
    # lazy exports of a package's __init__ are edges of that __init__
    assert "layerkit.spec.loader" in edges["layerkit.spec"]
    assert "layerkit.run" in edges["layerkit"]


def test_find_cycle_reports_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_cycle_between_modules() -> None:
    cycle = find_cycle(module_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycle_between_packages() -> None:
    cycle = find_cycle(package_edges())
    assert cycle is None, "package import cycle: " + " -> ".join(cycle or [])


def test_the_layers_point_one_way() -> None:
    """cli -> run -> {spec, training, network, data}; the core never imports the application."""
    edges = package_edges()
    for lower in ("layerkit.spec", "layerkit.training", "layerkit.network", "layerkit.layers", "layerkit.data"):
        assert "layerkit.run" not in edges[lower], lower
        assert "layerkit.cli" not in edges[lower], lower
    assert "layerkit.spec" not in edges["layerkit.training"]
    # the spec models import the train: section's model, which imports nothing of layerkit's
    assert module_edges()["layerkit.training.config"] <= {"layerkit._validation"}
