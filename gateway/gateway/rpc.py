"""A thread-safe pool of standalone nameko RPC proxies.

A proxy is not thread-safe: a request checks one out, uses it, and gives it
back; one that failed on the connection is dropped and replaced lazily. A broker that
cannot be reached is a 503 (`Unavailable`) within seconds, never a 500 nor a hang: an
idle proxy whose connection the broker closed (a restart) is replaced before use, and a
connection lost during a call drops the proxy and answers 503.
"""
import queue
import select
import threading
from contextlib import contextmanager

from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy, SingleThreadedReplyListener

from common.errors import Unavailable

CONNECTION_ERRORS = (OSError, ConnectionError, OperationalError, RpcTimeout)


class RpcPool:
    def __init__(self, amqp_uri, size=16, timeout=30):
        self.config = {"AMQP_URI": amqp_uri}
        self.timeout = timeout
        self._idle = queue.LifoQueue()
        self._slots = queue.Queue()
        for _ in range(size):
            self._slots.put(None)

    def _open(self, timeout):
        context = Proxy(self.config, timeout=timeout)
        return context, context.start()

    @contextmanager
    def proxy(self):
        """Check out a cluster proxy: `with pool.proxy() as rpc: rpc.mandates.ping()`."""
        self._slots.get()
        try:
            context, cluster = self._checkout()
            try:
                yield cluster
            except RpcTimeout:
                _close(context)
                raise
            except CONNECTION_ERRORS as error:
                _close(context)
                raise Unavailable(f"the message broker is unreachable: {error}") from None
            except BaseException:
                self._idle.put((context, cluster))
                raise
            else:
                self._idle.put((context, cluster))
        finally:
            self._slots.put(None)

    def _checkout(self):
        while True:
            try:
                context, cluster = self._idle.get_nowait()
            except queue.Empty:
                break
            if _idle_connection_intact(context):
                return context, cluster
            _close(context)  # the broker closed it: publishing on it would retry for seconds first
        try:
            return self._open(self.timeout)
        except CONNECTION_ERRORS as error:
            raise Unavailable(f"the message broker is unreachable: {error}") from None

    @contextmanager
    def short_lived(self, timeout):
        """A proxy of its own with a short reply timeout (health checks)."""
        try:
            context, cluster = self._open(timeout)
        except CONNECTION_ERRORS as error:
            raise Unavailable(f"the message broker is unreachable: {error}") from None
        try:
            yield cluster
        finally:
            _close(context)

    def close(self):
        while True:
            try:
                context, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            _close(context)


class ReplyListener(SingleThreadedReplyListener):
    """nameko's reply listener of a standalone proxy, which tells which kombu connection its
    replies come on: the proxy's start() sets it up in the calling thread."""
    started = threading.local()

    def setup(self):
        super().setup()
        ReplyListener.started.connection = self.queue_consumer.connection


class Proxy(ClusterRpcProxy):
    """A cluster proxy that knows its reply connection (nameko keeps its listener to itself)."""

    def __init__(self, config, timeout):
        super().__init__(config, timeout=timeout, reply_listener_cls=ReplyListener)
        self.reply_connection = None

    def start(self):
        cluster = super().start()
        self.reply_connection = ReplyListener.started.connection
        return cluster


def _idle_connection_intact(context):
    """An idle proxy's reply connection has nothing to read (no heartbeats, no call pending):
    anything readable there is the broker's Close frame or the end of the socket."""
    connection = context.reply_connection
    if not connection.connected:  # kombu's own view: closed, or never opened
        return False
    try:
        readable, _, _ = select.select([connection.connection.sock], [], [], 0)
    except Exception:  # noqa: BLE001 - no socket, a closed one: not intact
        return False
    return not readable


def _close(context):
    try:
        context.stop()
    except Exception:  # closing a broken connection must not mask the real error
        pass


def call(service, method, *args, **kwargs):
    """Call `service.method` through the app's pool (one proxy per call)."""
    from flask import current_app

    with current_app.extensions["debito.rpc"].proxy() as cluster:
        return getattr(getattr(cluster, service), method)(*args, **kwargs)


def call_together(calls):
    """[(service, method, *args)] sent at once on one proxy, their answers in order: the
    page waits for the slowest call, not for the sum. Every reply is read before the
    first error is raised, so the proxy goes back to the pool with nothing pending."""
    from flask import current_app

    with current_app.extensions["debito.rpc"].proxy() as cluster:
        pending = [getattr(getattr(cluster, service), method).call_async(*args)
                   for service, method, *args in calls]
        answers, errors = [], []
        for reply in pending:
            try:
                answers.append(reply.result())
            except CONNECTION_ERRORS:
                raise
            except Exception as error:  # noqa: BLE001 - raised below, after the other replies
                answers.append(None)
                errors.append(error)
        if errors:
            raise errors[0]
        return answers
