"""Each service starts on the real broker and answers its ping, with its
database reachable."""
import pytest
from nameko.testing.services import entrypoint_hook

from common.migrations import upgrade
from common.database import make_engine

SERVICES = ["mandates", "plans", "payments", "signing", "reporting"]


def service_class(name):
    module = __import__(f"{name}.service", fromlist=["service"])
    return getattr(module, name.capitalize() + "Service")


@pytest.mark.parametrize("name", SERVICES)
def test_service_answers_ping_with_its_database_and_its_clock(name, container_factory, rabbit_config,
                                                              postgres_database, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", postgres_database)
    monkeypatch.setenv("DEBITO_CLOCK_FILE", str(tmp_path / "clock"))
    (tmp_path / "clock").write_text("2027-02-03\n")
    upgrade(name, make_engine(name, postgres_database))
    container = container_factory(service_class(name), rabbit_config)
    container.start()
    with entrypoint_hook(container, "ping") as ping:
        assert ping(check_database=True) == {"service": name, "status": "ok", "today": "2027-02-03"}
