"""A text PostgreSQL cannot store (a NUL, a lone surrogate: schemathesis found both giving a
500) is refused by every input schema as a 422 on its field, nested or not."""
import pytest

from common.errors import Invalid
from common.schemas import load
from contracts.mandates import MandateImportIn, SubscriberIn


@pytest.mark.parametrize("schema, payload, field", [
    (SubscriberIn, {"name": "A", "customer_reference": "x\x00y"}, "customer_reference"),
    (SubscriberIn, {"name": "\udad9z", "customer_reference": "C-1"}, "name"),
    (MandateImportIn, {"subscriber": {"name": "A\x00", "customer_reference": "C"}}, "subscriber"),
])
def test_unstorable_text_is_refused_on_its_field(schema, payload, field):
    with pytest.raises(Invalid) as refused:
        load(schema, payload)
    assert field in refused.value.fields


def test_ordinary_text_still_passes():
    assert load(SubscriberIn, {"name": "Zoë Ødegård", "customer_reference": "C-1"})["name"] == "Zoë Ødegård"
