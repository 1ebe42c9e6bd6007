"""A thread-safe pool of standalone nameko RPC proxies.

A proxy is not thread-safe: a request checks one out, uses it, and gives it
back; one that failed on the connection is dropped and replaced lazily.
"""
import queue
from contextlib import contextmanager

from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

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
        context = ClusterRpcProxy(self.config, timeout=timeout)
        return context, context.start()

    @contextmanager
    def proxy(self):
        """Check out a cluster proxy: `with pool.proxy() as rpc: rpc.mandates.ping()`."""
        self._slots.get()
        try:
            try:
                context, cluster = self._idle.get_nowait()
            except queue.Empty:
                try:
                    context, cluster = self._open(self.timeout)
                except CONNECTION_ERRORS as error:
                    raise Unavailable(f"the message broker is unreachable: {error}") from None
            try:
                yield cluster
            except CONNECTION_ERRORS:
                _close(context)
                raise
            except BaseException:
                self._idle.put((context, cluster))
                raise
            else:
                self._idle.put((context, cluster))
        finally:
            self._slots.put(None)

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
