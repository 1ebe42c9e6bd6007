"""A real SMTP server (aiosmtpd) in a process of its own, delivering into a
Maildir: `python smtp_server.py PORT MAILDIR [USER PASSWORD]`.

A process, not a thread: under eventlet every thread shares the one OS thread
whose asyncio loop Playwright already holds."""
import mailbox
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def serve(port, maildir, user=None, password=None):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login.decode(), auth_data.password.decode()) == (user, password))

    options = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True} if user else {}
    controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


@contextmanager
def smtp_server(tmp_path, user=None, password=None):
    """Start the server; yields (port, Maildir)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    maildir = Path(tmp_path) / "maildir"
    args = [sys.executable, __file__, str(port), str(maildir)] + ([user, password] if user else [])
    process = subprocess.Popen(args)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the SMTP server did not start")
                time.sleep(0.1)
        yield port, mailbox.Maildir(str(maildir), create=True)
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], *sys.argv[3:5])
