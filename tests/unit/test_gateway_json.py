"""gateway.api.json_object: the one place where the gateway puts JSON text a service wrote
(a list page rendered by PostgreSQL) into its answer, unparsed, beside values it encodes."""
import json

from gateway.api import JsonText, json_object


def test_a_page_text_goes_in_as_it_is_and_the_other_values_are_encoded():
    items = '[{"id": "PM2", "label": "Cours \\u00ab 1 \\u00bb"}, {"id": "PM1", "label": "a \\"quote\\""}]'
    text = json_object({"items": JsonText(items), "next_cursor": 'PM1"'})
    assert items in text
    assert json.loads(text) == {"items": [{"id": "PM2", "label": "Cours « 1 »"}, {"id": "PM1", "label": 'a "quote"'}],
                                "next_cursor": 'PM1"'}


def test_a_plain_string_is_a_string_not_json_text():
    assert json.loads(json_object({"items": "[]", "next_cursor": None})) == {"items": "[]", "next_cursor": None}


def test_a_subscriber_with_its_plans_and_payments_as_text():
    subscriber = {"id": "SB1", "name": "Émilie O'Neil", "mandates": [{"id": "MD1", "has_scan": False}]}
    text = json_object(dict(subscriber, plans=JsonText("[]"), payments=JsonText('[{"id": "PM1", "amount": 1250}]')))
    assert json.loads(text) == dict(subscriber, plans=[], payments=[{"id": "PM1", "amount": 1250}])
