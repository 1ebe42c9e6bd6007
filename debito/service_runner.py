"""Runs one nameko service the way `nameko run --config CONFIG module:Class` does (the same
YAML with ${VAR:default}, the same LOGGING), with one difference: it stops when asked.

nameko's own `run` answers SIGTERM with a graceful stop only, and that stop waits for the
service's AMQP consumers, which kombu keeps reconnecting while the broker or the vhost is
gone: a service told to stop then never did. Here SIGTERM (or Ctrl-C) starts the same
graceful stop and arms a deadline: a stop still running `STOP_DEADLINE` seconds later ends
the process with one line on stderr and exit code 1.

    python -m debito.service_runner --config services/plans/config.yml plans.service:PlansService
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402 (before kombu and nameko import socket, as `nameko run` does)

import argparse  # noqa: E402
import logging  # noqa: E402
import logging.config  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

STOP_DEADLINE = 8  # seconds: a container manager's SIGKILL comes at 10


def main(argv=None):
    parser = argparse.ArgumentParser(prog="debito.service_runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the service's nameko YAML config")
    parser.add_argument("service", help="module:Class of the nameko service")
    args = parser.parse_args(argv)

    from nameko.cli.run import import_service
    from nameko.runners import ServiceRunner

    from common.config import load_config

    config = load_config(args.config)
    if "LOGGING" in config:
        logging.config.dictConfig(config["LOGGING"])
    else:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    services = import_service(args.service)
    name = ", ".join(getattr(cls, "name", cls.__name__) for cls in services)

    runner = ServiceRunner(config)
    for service_cls in services:
        runner.add_service(service_cls)

    stopping = []

    def stop(signum, _frame):
        # A signal handler runs on eventlet's main loop: the stop itself runs in a green thread.
        if stopping:
            return
        stopping.append(signum)
        signal.alarm(STOP_DEADLINE)
        eventlet.spawn_n(runner.stop)

    def too_late(_signum, _frame):
        # os.write, not logging: the handler may run while a green thread holds logging's lock
        os.write(2, f"debito: {name} did not stop within {STOP_DEADLINE}s of "
                    f"{signal.Signals(stopping[0]).name} (broker unreachable?): exiting now\n".encode())
        os._exit(1)

    signal.signal(signal.SIGALRM, too_late)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.start()  # may wait for the broker: a signal meanwhile is answered all the same
    waiter = eventlet.spawn(runner.wait)
    while True:
        try:
            waiter.wait()
            break
        except InterruptedError:  # a signal arrived while the main loop waited on a socket
            continue
    signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
