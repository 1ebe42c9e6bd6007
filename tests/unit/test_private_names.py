"""No library's private internals, nor another module's (issue 17, point 10): no
`from x import _name`, and no `x._name` but on `self`, `cls` or `super()` (a class's own, and
the hooks a subclass of marshmallow's Field overrides). The names SQLAlchemy and namedtuple
document with a leading underscore, so as not to clash with a row's fields, are public."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREES = ("common", "contracts", "gateway/gateway", "debito", "services/mandates/mandates",
         "services/plans/plans", "services/payments/payments", "services/signing/signing",
         "services/reporting/reporting")
DOCUMENTED = {"_mapping", "_asdict", "_replace", "_fields", "_make",  # Row._mapping, namedtuple's methods
              "_exit",  # os._exit: the documented exit without clean-up (a service past its stop deadline)
              "_Element", "_ElementTree"}  # lxml's documented element and tree classes


def private(name):
    return name.startswith("_") and not name.endswith("__") and name not in DOCUMENTED


def own(node):
    return (isinstance(node, ast.Name) and node.id in ("self", "cls")) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super")


def private_uses(source):
    """The private names of others that `source` uses, as source text, in the order written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            found += [(node.lineno, node.col_offset, f"from {node.module} import {alias.name}")
                      for alias in node.names if private(alias.name)]
        elif isinstance(node, ast.Attribute) and private(node.attr) and not own(node.value):
            found.append((node.lineno, node.end_col_offset, ast.unparse(node)))
    return [text for _, _, text in sorted(found)]


def test_the_walk_finds_each_kind_of_use():
    source = ("from common.money import _require_cents\nfrom marshmallow import fields\nimport kombu\n"
              "def f(context, kind, row):\n"
              "    a = context._reply_listener.queue_consumer.connection._connection.sock\n"
              "    b = kind._serialize is fields.String._serialize, row._mapping, schema._hooks\n")
    assert private_uses(source) == [
        "from common.money import _require_cents",
        "context._reply_listener", "context._reply_listener.queue_consumer.connection._connection",
        "kind._serialize", "fields.String._serialize", "schema._hooks"]


def test_a_class_uses_its_own_private_names_and_overrides_its_base_class_hooks():
    source = ("_cache = {}\nclass Text(fields.String):\n    def _deserialize(self, value):\n"
              "        return super()._deserialize(value), self._y, cls._z, _cache\n")
    assert private_uses(source) == []


@pytest.mark.parametrize("tree", TREES)
def test_no_private_name_of_another_module(tree):
    for path in sorted((ROOT / tree).rglob("*.py")):
        assert private_uses(path.read_text()) == [], str(path.relative_to(ROOT))
