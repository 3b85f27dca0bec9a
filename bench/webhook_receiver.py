"""A webhook receiver in its own process, for the tests and the bench: it verifies every request's
signature with the `standardwebhooks` library and appends what it got to a JSON Lines file.

    python -m bench.webhook_receiver PORT SECRET OUT [--fail-first N] [--hang] [--slow S]

--fail-first N: answer 500 to the first N requests; --hang: never answer; --slow S: wait S
seconds before answering. Prints "ready" once it listens.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("secret")
    parser.add_argument("out", type=Path)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0)
    options = parser.parse_args()
    verifier = Webhook(options.secret)
    lock = threading.Lock()
    calls = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with lock:
                calls[0] += 1
                call = calls[0]
            try:
                payload = verifier.verify(body, dict(self.headers.items()))
                verified = True
            except WebhookVerificationError:
                payload, verified = {"events": []}, False
            fail = call <= options.fail_first
            record = {
                "call": call,
                "at": time.time(),
                "webhook_id": self.headers.get("webhook-id"),
                "verified": verified,
                # None: never answered (--hang)
                "answered": None if options.hang else 500 if fail else 200 if verified else 400,
                "events": payload["events"],
            }
            with lock, options.out.open("a") as out:
                out.write(json.dumps(record) + "\n")
            if options.hang:
                time.sleep(3600)
            if options.slow:
                time.sleep(options.slow)
            self.send_response(int(record["answered"]))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
