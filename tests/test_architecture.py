"""The package's layering (docs/architecture.md): imports only go down the pipeline, and no loop.

Read from the source with ``ast``: every ``import`` and ``from … import`` of a coldbench module,
at module level or inside a function (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "coldbench"
# The pipeline, bottom to top. A module may import from its own layer and the layers below it.
LAYERS = ("(shared helpers)", "data", "engine", "methods", "training", "report", "studies", "cli", "testing")
SHARED = {"__init__", "atomic_io", "choices", "config", "errors", "excerpt", "paths", "progress", "registry"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    """The layer of a coldbench module: its folder's, or 0 for the shared helpers at the top level."""
    head = module.split(".")[1] if "." in module else "__init__"
    if head in SHARED:
        return 0
    assert head in LAYERS, f"{module}: not in any layer; add its folder to LAYERS (docs/architecture.md)"
    return LAYERS.index(head)


def imports(module: str) -> set[str]:
    """The coldbench modules that ``module`` imports (``from coldbench import x``: x, where it is one)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "coldbench"}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("coldbench")
        ):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    unknown = found - set(MODULES)
    assert not unknown, f"{module} imports modules that do not exist: {sorted(unknown)}"
    return found - {module}


GRAPH = {module: imports(module) for module in MODULES}


def test_every_module_sits_in_a_layer_and_every_folder_says_what_it_owns():
    for module, path in MODULES.items():
        layer(module)
        if path.name == "__init__.py" and module != "coldbench":
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            assert docstring and len(docstring.split()) >= 12, f"{module}: a folder needs a docstring"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_pipeline(module):
    upward = sorted(target for target in GRAPH[module] if layer(target) > layer(module))
    assert not upward, f"{module} (layer {LAYERS[layer(module)]}) imports upward: {upward}"


def test_no_import_loop():
    """No module reaches itself through imports (a package's __init__ re-exporting its own is no loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert not loops, f"import loops: {loops}"


def test_the_checks_see_an_upward_import_and_a_loop(monkeypatch):
    """The layering checks can fail: a data module importing the report, and a two-module loop."""
    monkeypatch.setitem(
        GRAPH, "coldbench.data.prepared", GRAPH["coldbench.data.prepared"] | {"coldbench.report.runs"}
    )
    with pytest.raises(AssertionError, match="imports upward"):
        test_imports_go_down_the_pipeline("coldbench.data.prepared")
    monkeypatch.setitem(
        GRAPH, "coldbench.report.runs", GRAPH["coldbench.report.runs"] | {"coldbench.data.prepared"}
    )
    with pytest.raises(AssertionError, match="import loops"):
        test_no_import_loop()
