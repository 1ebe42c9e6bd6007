"""`make test` names what it cannot reach instead of failing obscurely; PostgreSQL it
does without (the embedded server: tests/unit/test_embedded_postgres.py)."""
from harness.infrastructure import Infrastructure


def test_an_unreachable_broker_is_named():
    missing = Infrastructure.missing("amqp://guest:guest@127.0.0.1:1/", "http://guest:guest@127.0.0.1:2")
    assert len(missing) == 1
    assert missing[0].startswith("RabbitMQ at 127.0.0.1:1 (AMQP_URI)")


def test_broker_without_management_api_is_named():
    missing = Infrastructure.missing("amqp://guest:guest@127.0.0.1:5672/", "http://guest:guest@127.0.0.1:2")
    assert len(missing) == 1
    assert "management API" in missing[0] and "RABBIT_API_URI" in missing[0]
