"""A real SMTP server (aiosmtpd) in a process of its own, delivering into a
Maildir: `python smtp_server.py PORT MAILDIR [USER PASSWORD]`.

A process, not a thread: under eventlet every thread shares the one OS thread
whose asyncio loop Playwright already holds."""
import mailbox
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
    from harness.ports import free_port, wait_listening  # not at the top: this file also runs as a script

    port = free_port()
    maildir = Path(tmp_path) / "maildir"
    args = [sys.executable, __file__, str(port), str(maildir)] + ([user, password] if user else [])
    process = subprocess.Popen(args)
    try:
        wait_listening(port, process, "SMTP server")
        yield port, mailbox.Maildir(str(maildir), create=True)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], *sys.argv[3:5])
