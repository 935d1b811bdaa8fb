"""The shape of the code: imports run one way, no import circle among the modules of
``runs/`` or of ``agents/`` (imports inside functions count, ``TYPE_CHECKING`` ones do not),
and no module much over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("agents", "coordination", "markets", "physics", "runs")
MAX_LINES = 425
"""About 400: a module past this is asking to be split."""

# what each folder may import of ours (DESIGN.md: physics <- coordination, markets <- agents
# <- runs)
ALLOWED = {
    "physics": {"physics"},
    "coordination": {"coordination", "physics"},
    "markets": {"markets", "physics"},
    "agents": {"agents", "coordination", "markets", "physics"},
    "runs": set(FOLDERS) | {"api"},
    "api": set(FOLDERS) | {"api"},  # `vpp` itself: the public API over everything
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts[:2] == ["runs", "api"]:  # the `vpp` package itself
        return ".".join(["vpp", *parts[2:]])
    return ".".join(["vpp", *parts])


def _modules() -> dict[str, Path]:
    return {_module(p): p for top in FOLDERS for p in (ROOT / top).rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement, anywhere in the file but under
    ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS else "api"


def test_imports_run_one_way():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        here = _folder(name)
        for target in _imports(path):
            if target.startswith("vpp.") and target in modules:
                there = _folder(target)
                if there not in ALLOWED[here]:
                    wrong.append(f"{name} imports {target}")
    assert wrong == []


@pytest.mark.parametrize("folder", ["runs", "agents"])
def test_no_import_circle(folder):
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        if _folder(name) not in (folder, "api" if folder == "runs" else folder):
            continue
        graph.add_node(name)
        for target in _imports(path):
            if target in modules and target != name and _folder(target) == _folder(name):
                graph.add_edge(name, target)
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert circles == []


def test_no_module_much_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
