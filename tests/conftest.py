"""Test harness: eventlet first (nameko and psycopg2 run green), then the
real RabbitMQ and PostgreSQL the suite talks to.

RabbitMQ: AMQP_URI (default the local one) and its management API
(RABBIT_API_URI, default http://guest:guest@localhost:15672), for the vhost
nameko's fixtures make per test. PostgreSQL: TEST_DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres), or the embedded PostgreSQL
(var/test-postgres/) when none answers there: the suite creates its own databases
and drops them. When RabbitMQ is unreachable and Docker is not, the suite stops
naming what is missing.
"""
import eventlet

eventlet.monkey_patch()

from psycogreen.eventlet import patch_psycopg  # noqa: E402

patch_psycopg()

import os  # noqa: E402
import warnings  # noqa: E402

import pytest  # noqa: E402

from harness.infrastructure import Infrastructure  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

# Every process a test starts is ended with it; none outlives the run (harness/processes.py).
pytest_plugins = ["harness.processes"]


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the long reliability tests (marked slow)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="a long reliability run: give --slow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    # nameko's plugin reads --amqp-uri / --rabbit-api-uri; let the environment set them.
    if os.environ.get("AMQP_URI") and config.getoption("RABBIT_AMQP_URI").startswith("pyamqp://guest:guest@localhost"):
        config.option.RABBIT_AMQP_URI = os.environ["AMQP_URI"]
    if os.environ.get("RABBIT_API_URI"):
        config.option.RABBIT_API_URI = os.environ["RABBIT_API_URI"]


@pytest.fixture(scope="session")
def infrastructure(request):
    infra = Infrastructure.find(request.config)
    yield infra
    infra.close()


@pytest.fixture(scope="session")
def rabbit_manager(infrastructure):
    """nameko's management client, on the broker the suite found."""
    return infrastructure.rabbit_manager()


@pytest.fixture(scope="session")
def postgres_database(infrastructure):
    """A PostgreSQL database of the suite's own, dropped at the end: the service tests'.
    No cluster runs on it: a running service's outbox relay would publish their events."""
    with infrastructure.database("debito_test") as url:
        yield url


@pytest.fixture(scope="session")
def rules_database(infrastructure):
    """The rule tests' database, dropped at the end: each owner's schema migrated on first use."""
    from harness.transactions import MigratedDatabase

    with infrastructure.database("debito_rules") as url:
        database = MigratedDatabase(url)
        yield database
        database.close()


@pytest.fixture
def db_session(rules_database):
    """`db_session("payments")`: a session on that owner's schema in one transaction, rolled
    back after the test (harness.transactions)."""
    from harness.transactions import Sessions

    sessions = Sessions(rules_database)
    yield sessions
    sessions.close()


@pytest.fixture(scope="session")
def cluster_database(infrastructure):
    """The `cluster`'s PostgreSQL database, dropped at the end. Its own: its services run
    until the session ends, and their outbox relays take every committed event of the
    database they run on (one taken from a service test's outbox went to the cluster's
    vhost, and the test waited for it in vain)."""
    with infrastructure.database("debito_cluster") as url:
        yield url


@pytest.fixture(scope="session")
def cluster(infrastructure, cluster_database, tmp_path_factory):
    """The five services, the scheduler and the gateway, as `make run` starts
    them, on the real broker (a vhost of their own) and PostgreSQL."""
    from harness.cluster import Cluster

    with Cluster.start(infrastructure, cluster_database, tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="session")
def bank_cluster(infrastructure, tmp_path_factory):
    """A second cluster for tests that walk the clock through the bank cycle:
    `collect --as-of` touches every merchant, so they keep their own data."""
    from harness.cluster import Cluster

    with infrastructure.database("debito_bank") as url:
        with Cluster.start(infrastructure, url, tmp_path_factory.mktemp("bank")) as running:
            yield running
