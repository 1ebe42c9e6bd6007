"""No import cycles in any service, and no import placed inside a function to avoid one
(issue 17, point 2). Read with the ast module: a function-level import of a project module
fails; one of a third-party module is allowed with a comment on its line or the line above
saying why it must stay lazy. The module-level imports of each package form no cycle."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("mandates", "plans", "payments", "signing", "reporting")
PACKAGES = {"common": ROOT / "common", "contracts": ROOT / "contracts",
            **{name: ROOT / "services" / name / name for name in SERVICES}}
PROJECT = set(PACKAGES) | {"gateway", "debito", "sandbox_bank"}


def _modules(package):
    """{dotted name: path} of the package's modules."""
    root = PACKAGES[package]
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(node, module="", is_package=False):
    """The dotted names an import statement of `module` names (for `from a import b`: a.b
    and a; a relative one is read from `module`)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parts = parts[:len(parts) - node.level + is_package]
        base = ".".join(parts + ([base] if base else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def function_level_imports(source):
    """(line, first name, commented) of each import inside a function of `source`."""
    lines = source.splitlines()
    found = []
    for function in ast.walk(ast.parse(source)):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    text, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    top = "." if getattr(node, "level", 0) else _imported(node)[0].split(".")[0]
                    found.append((node.lineno, top,
                                  "#" in text or above.startswith("#")))
    return found


def test_the_walk_sees_a_function_level_import_and_its_comment():
    source = ("import json\n\ndef f():\n    from common import clock\n    import lxml  # why\n\n"
              "def g():\n    # slow to load, and only for the rare case\n    import fpdf\n    return fpdf\n")
    assert function_level_imports(source) == [(4, "common", False), (5, "lxml", True), (9, "fpdf", True)]


@pytest.mark.parametrize("package", SERVICES)
def test_no_import_inside_a_function_but_a_commented_third_party_one(package):
    for name, path in _modules(package).items():
        for line, top, commented in function_level_imports(path.read_text()):
            where = f"{path.relative_to(ROOT)}:{line}"
            assert top not in PROJECT | {"."}, f"{where}: a project module imported in a function; import it at the top"
            assert commented, f"{where}: a third-party import in a function, no comment saying why it is lazy"


def import_graph(package):
    """{module: the package's modules it imports at module level}."""
    modules = _modules(package)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inner = {id(node) for function in functions for node in ast.walk(function)}
        graph[name] = {imported for node in ast.walk(tree)
                       if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in inner
                       for imported in _imported(node, name, path.name == "__init__.py") if imported in modules and imported != name}
        graph[name] -= {parent for parent in graph[name] if name.startswith(parent + ".")}  # its own package
    return graph


def cycle(graph):
    """A cycle of `graph` as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for following in sorted(graph[node]):
            if state.get(following) == "open":
                return path[path.index(following):] + [following]
            if following not in state:
                found = visit(following, path + [following])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_cycle_search_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("package", list(PACKAGES))
def test_no_import_cycle(package):
    assert cycle(import_graph(package)) is None
