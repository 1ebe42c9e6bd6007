"""Who may import whom (issue 17, point 7): the gateway imports no module of a service, a
service imports no other service, and the contracts every process shares import none.

Two views of the same rule: every import statement of the tree, read with the ast module
(an import inside a function counts), and a fresh interpreter in which the forbidden
packages cannot be imported at all, that imports every module of the package under test."""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("mandates", "plans", "payments", "signing", "reporting")
OTHERS = SERVICES + ("sandbox_bank", "debito")  # the bank plays the bank; debito runs them all
SOURCES = {"gateway": ROOT / "gateway" / "gateway", "contracts": ROOT / "contracts", "common": ROOT / "common",
           **{name: ROOT / "services" / name / name for name in SERVICES}}


def imported_packages(tree):
    """The top-level package of every module an `import` or `from … import` of `tree` names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.partition(".")[0]


def forbidden_imports(package):
    """{file: sorted forbidden packages} of `package`'s source tree."""
    forbidden = set(OTHERS) - {package}
    found = {}
    for path in sorted(SOURCES[package].rglob("*.py")):
        names = set(imported_packages(ast.parse(path.read_text(), str(path)))) & forbidden
        if names:
            found[str(path.relative_to(ROOT))] = sorted(names)
    return found


def test_the_walk_sees_an_import_inside_a_function():
    tree = ast.parse("def f():\n    from payments.models import Payment\n    import mandates.schemas\n")
    assert sorted(imported_packages(tree)) == ["mandates", "payments"]


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_no_import_across_a_boundary(package):
    assert forbidden_imports(package) == {}


# A meta path finder that refuses the forbidden packages, then every module of the package
# imported: what a process of its own would load, and all of it.
IMPORT_ALL = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys

    forbidden = set(sys.argv[2].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in forbidden:
                raise ImportError(f"{name} is not in this process's image")
            return None

    sys.meta_path.insert(0, Refuse())
    package = importlib.import_module(sys.argv[1])
    names = [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    for name in names:
        importlib.import_module(name)
    loaded = sorted({name.partition(".")[0] for name in sys.modules} & forbidden)
    assert not loaded, loaded
    print(len(names))
""")


def import_all(package, forbidden):
    return subprocess.run([sys.executable, "-c", IMPORT_ALL, package, ",".join(forbidden)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("package", ("gateway", "contracts") + SERVICES)
def test_every_module_imports_without_the_others(package):
    result = import_all(package, sorted(set(OTHERS) - {package}))
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) > 0


def test_an_import_of_a_refused_package_fails():
    """The refusal itself works: signing's modules cannot load without signing."""
    result = import_all("signing", ["signing"])
    assert result.returncode != 0
    assert "not in this process's image" in result.stderr
