"""A real webhook receiver for the tests: verifies every request with the reference
`standardwebhooks` package (an implementation independent of GeoInfer's) and answers as told.

    python webhook_receiver.py --port P --secret whsec_... [--prototype-secret S] [--script 500,500,200]

--prototype-secret also checks the original prototype's scheme, as its receiver did:
`X-Signature: sha256=<hex HMAC-SHA256(S, "{X-Signature-Timestamp}." + body)>` with
`X-Signature-Version: v1` (recorded as `prototype_valid`, printed as `Signature valid: True/False`).

--script lists the answers to successive POSTs; once it runs out every POST gets 200. Items:
  200, 410, 500, …      that status
  503+ra=2              that status with `Retry-After: 2`
  302                   a redirect to /redirected (which must never be requested)
  sleep=3               wait 3 s, then 200 (a slow receiver)
GET /_log returns every request received, in order, as JSON.
"""
import argparse
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--secret", action="append", required=True)
parser.add_argument("--script", default="")
parser.add_argument("--prototype-secret", default=None)
args = parser.parse_args()

lock = threading.Lock()
script = [s for s in args.script.split(",") if s]
receipts = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path != "/_log":
            self.send_response(404)
            self.end_headers()
            return
        with lock:
            body = json.dumps(receipts).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified_by = None
        errors = []
        for i, secret in enumerate(args.secret):
            try:
                Webhook(secret).verify(body, headers)
                verified_by = i
                break
            except WebhookVerificationError as e:
                errors.append(str(e))
        prototype_valid = None
        if args.prototype_secret is not None:
            timestamp = headers.get("x-signature-timestamp", "")
            expected = "sha256=" + hmac.new(args.prototype_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
            prototype_valid = (headers.get("x-signature-version") == "v1"
                               and hmac.compare_digest(expected, headers.get("x-signature", "")))
            print(f"Signature valid: {prototype_valid}", flush=True)
        with lock:
            action = script.pop(0) if script else "200"
        status, extra, delay = 200, {}, 0.0
        if action.startswith("sleep="):
            delay = float(action.split("=", 1)[1])
        else:
            code, _, opt = action.partition("+")
            status = int(code)
            if opt.startswith("ra="):
                extra["Retry-After"] = opt[3:]
            if 300 <= status < 400:
                extra["Location"] = "/redirected"
        receipt = {
            "path": self.path, "at": time.time(), "answer": status, "delay": delay,
            "webhook_id": headers.get("webhook-id"), "webhook_timestamp": headers.get("webhook-timestamp"),
            "webhook_signature": headers.get("webhook-signature"), "content_type": headers.get("content-type"),
            "verified_by": verified_by, "verify_errors": errors, "body": body.decode("utf-8", "replace"),
            "prototype_valid": prototype_valid,
        }
        with lock:
            receipts.append(receipt)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):
            pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print("ready", flush=True)
server.serve_forever()
