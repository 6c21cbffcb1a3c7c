"""The layout's one direction of dependencies, checked on the source: no import cycles in the layer or
in aupctl, and each layer imports only what is below it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"aup": ROOT / "layers" / "aup" / "aup", "aupctl": ROOT / "aupctl"}
# What each layer of the domain package may import at module level (itself included).
ALLOWED = {
    # The ladder reads the policy document, whose models build on the domain's vocabulary:
    # domain.models <- policy <- domain.engine (no module of the policy imports the engine).
    "aup.domain.engine": {"aup.domain", "aup.policy"},
    "aup.domain": {"aup.domain"},
    "aup.policy": {"aup.domain", "aup.policy"},
    "aup.detectors": {"aup.domain", "aup.policy", "aup.detectors"},
    "aup.adapters": {"aup.domain", "aup.adapters"},
    "aup.usecases": {"aup.domain", "aup.policy", "aup.detectors", "aup.usecases", "aup.adapters"},
}


def module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, modules: frozenset[str] = frozenset()) -> set[str]:
    """Modules imported when the module is imported: not inside functions nor ``if TYPE_CHECKING``.
    ``from pkg import sub`` names the submodule when ``pkg.sub`` is one of ``modules``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules
                found.update(subs)
                if len(subs) < len(node.names):
                    found.add(node.module)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(pkg, root, p): p for pkg, root in PACKAGES.items() for p in root.rglob("*.py")}
    names = frozenset(modules)
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        # Importing a submodule runs its package first: an edge to one's own package is not a cycle.
        edges[name] = {
            m
            for m in top_level_imports(path, names)
            if m in modules and m != name and not name.startswith(m + ".")
        }
    return edges


def test_there_is_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_is_below_it(layer):
    bad = []
    for name, imported in graph().items():
        if name != layer and not name.startswith(layer + "."):
            continue
        if layer == "aup.domain" and name == "aup.domain.engine":
            continue  # its own entry above
        for m in imported:
            if m.startswith("aup.") and not any(m == a or m.startswith(a + ".") for a in ALLOWED[layer]):
                bad.append(f"{name} imports {m}")
            if m.startswith(("aup.bootstrap", "aupctl")):
                bad.append(f"{name} imports {m}")
    assert not bad, bad


def test_imports_are_read_as_python_runs_them(tmp_path):
    (tmp_path / "a.py").write_text("from x import b\nfrom x.c import f\n")
    (tmp_path / "b.py").write_text("import x.a\nif TYPE_CHECKING:\n    import x.c\n")
    assert top_level_imports(tmp_path / "a.py", frozenset({"x.b", "x.c"})) == {"x.b", "x.c"}
    assert top_level_imports(tmp_path / "b.py") == {"x.a"}
