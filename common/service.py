"""What every Debito nameko service has: its database and a `ping`, and `rpc`: nameko's,
with `DebitoError` (a call's refusal: 404, 422…) expected, so that the log keeps tracebacks
for faults (common/logs.py), and replies that wait for a restarted broker (below)."""
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, LOGIN_METHOD_CONFIG_KEY
from nameko.constants import SERIALIZER_CONFIG_KEY
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from sqlalchemy import text

from common import clock
from common.database import Database
from common.errors import DebitoError


class _PatientPublisher(Publisher):
    # about a minute of tries (nameko's default: three within kombu's 4 s connect timeout): the
    # first for a connection (kombu's default channel), the second for the publish once connected
    transport_options = {"max_retries": 30, "interval_start": 1, "interval_step": 1, "interval_max": 2,
                         "connect_retries_timeout": 60}
    retry_policy = {"max_retries": 30, "interval_start": 1, "interval_step": 1, "interval_max": 2}


class _PatientResponder(Responder):
    publisher_cls = _PatientPublisher


class _PatientRpcConsumer(RpcConsumer):
    """nameko's, but a reply waits up to a minute for the broker: a reply nameko cannot publish
    kills the whole container, so a broker restart took down every service with a call in
    flight. The request, unacknowledged on the lost connection, is delivered again anyway."""

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _PatientResponder(config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
                                      config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
                                      ssl=config.get(AMQP_SSL_CONFIG_KEY),
                                      login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)  # a no-op when its connection was lost
        return result, exc_info


class _Rpc(Rpc):
    rpc_consumer = _PatientRpcConsumer()


rpc = _Rpc.decorator(expected_exceptions=DebitoError)


class DebitoService:
    db = Database()

    @rpc
    def ping(self, check_database=False):
        """Answers without touching the database unless asked (health checks do),
        with the day the service's clock reads."""
        if check_database:
            self.db.execute(text("SELECT 1"))
        return {"service": self.name, "status": "ok", "today": clock.today().isoformat()}
