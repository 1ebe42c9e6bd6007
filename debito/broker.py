"""Is RabbitMQ there? One clear paragraph when it is not, instead of a traceback."""
from kombu import Connection

from common.config import amqp_uri


def broker_problem(uri=None, timeout=3):
    """None when the broker at `uri` accepts a connection, else what went wrong."""
    uri = uri or amqp_uri()
    try:
        with Connection(uri, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as error:  # any failure to connect is reported, not raised
        return f"{type(error).__name__}: {error}"
    return None


def unreachable_message(uri, problem):
    safe = uri.split("@")[-1]
    return (
        f"RabbitMQ is not reachable at {safe} ({problem}).\n"
        "Debito's services talk through RabbitMQ. Start one, then run this again:\n"
        "  - on Debian or Ubuntu: sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached\n"
        "  - with Docker: docker compose up -d rabbitmq\n"
        "or point AMQP_URI at a running broker (amqp://user:password@host:5672/vhost)."
    )
