"""A list page has one read path (issue 17, point 9): no service answers a list both as rows
(`list_x`) and as JSON text (`list_x_json`), and every list RPC the gateway, the exports and
the debito command name is one a service answers. Read from the source with the ast module."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("mandates", "plans", "payments", "signing", "reporting")
CALLERS = [*sorted((ROOT / "gateway" / "gateway").glob("*.py")), ROOT / "services" / "reporting" / "reporting" /
           "exports.py", ROOT / "debito" / "demo.py"]


def rpc_names(service):
    """The names of the service class's methods decorated with @rpc."""
    tree = ast.parse((ROOT / "services" / service / service / "service.py").read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            and any(isinstance(d, ast.Name) and d.id == "rpc" for d in node.decorator_list)}


def named_lists(path):
    """The `list_…` names a module writes as text (call("payments", "list_payments_json", …),
    Section("mandates", "list_mandates_json", …)) or as an attribute (cluster.payments.list_…)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("list_"):
            yield node.value
        elif isinstance(node, ast.Attribute) and node.attr.startswith("list_") and isinstance(
                node.value, ast.Attribute) and node.value.attr in SERVICES:
            yield node.attr


def test_no_list_is_answered_both_as_rows_and_as_json_text():
    both = {service: sorted(name for name in rpc_names(service) if name + "_json" in rpc_names(service))
            for service in SERVICES}
    assert both == {service: [] for service in SERVICES}


def test_every_list_rpc_named_by_a_caller_exists():
    answered = set().union(*(rpc_names(service) for service in SERVICES))
    named = {name for path in CALLERS for name in named_lists(path)}
    assert {"list_mandates_json", "list_payments_json", "list_plans_json", "list_r_transactions_json"} <= named
    assert sorted(named - answered) == []
