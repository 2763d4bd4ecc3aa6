"""The import structure, read from the source: the core depends on no plugin, and nothing imports in a circle.

Every import statement counts, also those inside functions and `importlib.import_module("...")` calls
with a literal name: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(path.parent.name for path in PROJECT.glob("*/__init__.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(path): path
    for package in PACKAGES
    for path in (PROJECT / package).rglob("*.py")
    if "__pycache__" not in path.parts
}


def _resolve(name: str) -> str | None:
    """The project module an imported name refers to (the longest known prefix), or None if external."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _imports(module: str) -> set[str]:
    """Project modules `module` imports; `from pkg import sub` counts as importing `pkg.sub`."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names += [f"{base}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append(str(node.args[0].value))
    return {target for target in map(_resolve, names) if target is not None and target != module}


GRAPH = {module: _imports(module) for module in MODULES}


def test_the_scan_sees_the_project() -> None:
    assert {"fedrec", "attacks", "strategies", "datasets", "server_app", "client_app", "app_config"} <= set(PACKAGES)
    assert "fedrec.config" in GRAPH["attacks.threat"], "the scan must see ordinary imports"
    assert "strategies.krum" in GRAPH["strategies.bulyan"]


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name.split(".")[0] == "fedrec"))
def test_the_core_imports_nothing_outside_fedrec(module: str) -> None:
    outside = sorted(target for target in GRAPH[module] if target.split(".")[0] != "fedrec")
    assert not outside, f"{module} imports {outside}"


def test_no_module_imports_itself_through_a_circle() -> None:
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)
