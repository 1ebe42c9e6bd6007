"""The same hygiene in every service (issue 17, point 11): a helper every service needs is
written once, in common, and a value the wire carries is defined once, in the contracts."""
import ast
from datetime import date
from pathlib import Path

import pytest

from common.errors import Invalid
from common.schemas import iso_date

ROOT = Path(__file__).resolve().parents[2]
TREES = ("common", "contracts", "gateway/gateway", "debito", "services")


def definitions(name):
    """Where `name` is defined (a def, a class, an assignment) in the code the processes run."""
    found = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                    found.append(str(path.relative_to(ROOT)))
                elif isinstance(node, ast.Assign) and any(
                        isinstance(target, ast.Name) and target.id == name for target in node.targets):
                    found.append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("name, where", [
    ("iso_date", "common/schemas.py"), ("FREQUENCIES", "contracts/plans.py"), ("MAX_AMOUNT", "contracts/plans.py"),
    ("Cents", "contracts/plans.py"), ("REASONS", "contracts/payments.py"), ("LANGS", "contracts/signing.py")])
def test_defined_once(name, where):
    assert definitions(name) == [where]


def test_iso_date_reads_a_day_and_names_the_field_it_refuses():
    assert iso_date("2027-01-04", "as_of") == date(2027, 1, 4)
    for wrong in ("04/01/2027", None, ""):
        with pytest.raises(Invalid) as refused:
            iso_date(wrong, "collected_on")
        assert refused.value.fields == {"collected_on": "an ISO date (YYYY-MM-DD)"}
