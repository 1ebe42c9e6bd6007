"""A local fake of Twilio's REST API for messages, in a process of its own:
`python twilio_fake.py PORT`. It answers POST
/2010-04-01/Accounts/<sid>/Messages.json as Twilio does (201 and the message
JSON with its `sid`) after checking the HTTP basic auth, records each request,
and on demand answers Twilio's error JSON {code, message, more_info, status}.

Control: GET /_requests (what was posted, in order), POST /_fail with
{"status", "code", "message"} (every next message fails), POST /_ok.
A process, not a thread: under eventlet every thread shares the one OS thread."""
import base64
import json
import secrets
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests

PATH_PREFIX = "/2010-04-01/Accounts/"


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.failure = None


def handler_for(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status, payload):
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self):
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self):
            if self.path == "/_requests":
                with state.lock:
                    return self._answer(200, state.requests)
            self._answer(404, {"code": 20404, "message": "The requested resource was not found",
                               "status": 404})

        def do_POST(self):
            body = self._body()
            if self.path == "/_fail":
                with state.lock:
                    state.failure = json.loads(body)
                return self._answer(200, {})
            if self.path == "/_ok":
                with state.lock:
                    state.failure = None
                return self._answer(200, {})
            if not (self.path.startswith(PATH_PREFIX) and self.path.endswith("/Messages.json")):
                return self._answer(404, {"code": 20404, "message": "The requested resource was not found",
                                          "status": 404})
            account = self.path[len(PATH_PREFIX):-len("/Messages.json")]
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            auth = self.headers.get("Authorization", "")
            user = base64.b64decode(auth[6:]).decode().split(":", 1)[0] if auth.startswith("Basic ") else None
            with state.lock:
                state.requests.append({"account": account, "auth_user": user, "form": form,
                                       "content_type": self.headers.get("Content-Type"),
                                       "user_agent": self.headers.get("User-Agent")})
                failure = state.failure
            if user != account:
                return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401,
                                          "more_info": "https://www.twilio.com/docs/errors/20003"})
            if failure:
                status = failure.get("status", 400)
                return self._answer(status, {"code": failure.get("code", 21211),
                                             "message": failure.get("message", "Invalid 'To' Phone Number"),
                                             "more_info": f"https://www.twilio.com/docs/errors/{failure.get('code', 21211)}",
                                             "status": status})
            sid = "SM" + secrets.token_hex(16)
            now = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
            self._answer(201, {
                "sid": sid, "account_sid": account, "to": form.get("To"), "from": form.get("From"),
                "body": form.get("Body"), "status": "queued", "num_segments": "1", "direction": "outbound-api",
                "api_version": "2010-04-01", "date_created": now, "date_updated": now, "date_sent": None,
                "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
                "messaging_service_sid": None, "num_media": "0",
                "uri": f"{PATH_PREFIX}{account}/Messages/{sid}.json", "subresource_uris": {}})

    return Handler


def serve(port):
    ThreadingHTTPServer(("127.0.0.1", port), handler_for(State())).serve_forever()


class TwilioFake:
    def __init__(self, url):
        self.url = url

    def requests(self):
        return requests.get(f"{self.url}/_requests", timeout=5).json()

    def fail_with(self, status, code, message):
        requests.post(f"{self.url}/_fail", json={"status": status, "code": code, "message": message},
                      timeout=5).raise_for_status()

    def succeed(self):
        requests.post(f"{self.url}/_ok", timeout=5).raise_for_status()


@contextmanager
def twilio_fake():
    """Start the fake; yields a TwilioFake whose `url` is the API base URL."""
    from harness.ports import free_port, wait_listening  # not at the top: this file also runs as a script

    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, str(port)])
    try:
        wait_listening(port, process, "Twilio fake")
        yield TwilioFake(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
