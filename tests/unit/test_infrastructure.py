"""`make test` names what it cannot reach instead of failing obscurely."""
from harness.infrastructure import Infrastructure


def test_unreachable_broker_and_database_are_named():
    missing = Infrastructure._missing("amqp://guest:guest@127.0.0.1:1/",
                                      "http://guest:guest@127.0.0.1:2",
                                      "postgresql://postgres@127.0.0.1:3/postgres")
    assert len(missing) == 2
    assert missing[0].startswith("RabbitMQ at 127.0.0.1:1 (AMQP_URI)")
    assert missing[1].startswith("PostgreSQL at postgresql://postgres@127.0.0.1:3/postgres")


def test_broker_without_management_api_is_named():
    missing = Infrastructure._missing("amqp://guest:guest@127.0.0.1:5672/",
                                      "http://guest:guest@127.0.0.1:2",
                                      "postgresql://postgres@127.0.0.1:5432/postgres")
    assert len(missing) == 1
    assert "management API" in missing[0] and "RABBIT_API_URI" in missing[0]
