"""Stops the embedded PostgreSQL of `debito run` when the process that started it dies, even
by SIGKILL: pg_ctl runs the server apart from its caller, so a killed supervisor would leave
it running. `python -m debito.postgres_watch DATA_DIR PARENT_PID`, started by the supervisor
before the server: it gets SIGTERM when its parent dies (PR_SET_PDEATHSIG) and then asks the
server whose pid `postmaster.pid` holds for PostgreSQL's fast shutdown (SIGINT)."""
import os
import signal
import sys
import time
from pathlib import Path

from debito.supervisor import end_with

SHUTDOWN_WAIT = 30  # seconds for the server to end after SIGINT, then SIGQUIT (immediate shutdown)


def server_pid(data_dir):
    """The postmaster's pid from the first line of `postmaster.pid`, or None."""
    try:
        return int((Path(data_dir) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None


def stop_server(data_dir):
    pid = server_pid(data_dir)
    if pid is None:
        return
    for sig, wait in ((signal.SIGINT, SHUTDOWN_WAIT), (signal.SIGQUIT, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if server_pid(data_dir) != pid:  # the server removes its pid file as it ends
                return
            time.sleep(0.1)


def main(data_dir, parent):
    signal.signal(signal.SIGTERM, lambda *_: (stop_server(data_dir), sys.exit(0)))
    end_with(parent)  # SIGTERM when the parent dies; exits at once if it has died already
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
