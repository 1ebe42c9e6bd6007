"""Serve the gateway with eventlet's WSGI server (green threads, like the services)."""
import eventlet

eventlet.monkey_patch()

import logging  # noqa: E402

from eventlet import wsgi  # noqa: E402

from common.config import env  # noqa: E402


def main():
    logging.basicConfig(level=env("LOG_LEVEL", "INFO"),
                        format="%(asctime)s gateway %(levelname)s %(name)s: %(message)s")
    from gateway.app import create_app

    app = create_app()
    host, port = env("GATEWAY_HOST", "127.0.0.1"), int(env("GATEWAY_PORT", "8000"))
    listener = eventlet.listen((host, port))
    logging.getLogger("gateway").info("listening on http://%s:%s", host, port)
    wsgi.server(listener, app, log=logging.getLogger("gateway.access"), log_output=False)


if __name__ == "__main__":
    main()
