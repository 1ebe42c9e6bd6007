"""Serve the gateway with eventlet's WSGI server (green threads, like the services)."""
import eventlet

eventlet.monkey_patch()

import logging  # noqa: E402

from eventlet import wsgi  # noqa: E402

from common import redact  # noqa: E402
from common.config import env  # noqa: E402


class Protocol(wsgi.HttpProtocol):
    """http.server writes a refused request's line (its query string too) straight to stderr:
    through logging instead, where IBANs are masked."""

    def log_message(self, format, *args):
        logging.getLogger("gateway.http").info("%s %s", self.address_string(), format % args)


def main():
    logging.basicConfig(level=env("LOG_LEVEL", "INFO"),
                        format="%(asctime)s gateway %(levelname)s %(name)s: %(message)s")
    redact.install()
    from gateway.app import create_app

    app = create_app()
    host, port = env("GATEWAY_HOST", "127.0.0.1"), int(env("GATEWAY_PORT", "8000"))
    listener = eventlet.listen((host, port))
    logging.getLogger("gateway").info("listening on http://%s:%s", host, port)
    wsgi.server(listener, app, log=logging.getLogger("gateway.access"), log_output=False, protocol=Protocol)


if __name__ == "__main__":
    main()
