"""A fault-injecting reverse proxy for the GCS JSON API, for GeoInfer's upload/retry tests.

    python fault_proxy.py --port P --upstream http://127.0.0.1:U

Every request (GET, HEAD, POST, PUT, PATCH, DELETE) is forwarded to the upstream emulator
with its headers and whole body, and the upstream answer (status, headers, body) comes back.
A `Location` (or `X-Goog-Upload-URL`) header that points at the upstream host:port is
rewritten to point at this proxy, so resumable-upload session URIs keep going through it.
Answers are always re-framed with Content-Length, and HTTP/1.1 keep-alive is honoured,
because the Swift client reuses connections.

Control endpoints (same port, never logged, never matched by rules):

  POST /__proxy/script   JSON list of rules (or one rule), appended to a queue. A rule is
                         {"method": "PUT", "path_contains": "upload_id", "action": {...},
                          "times": 1}
                         method / path_contains / times / skip are optional (path_contains is
                         matched against the raw path including the query; times defaults to 1;
                         skip lets that many matching requests through before the rule acts).
                         Each matching request consumes one use of the FIRST matching rule.
                         Actions:
                           {"cut_after": N}          read up to N bytes of the request body,
                                                     forward nothing, then reset the connection
                                                     (SO_LINGER 0) with no response
                           {"status": 503, "retry_after": 2}
                                                     read the whole body, answer that status
                                                     with a small JSON error (and Retry-After),
                                                     forward nothing
                           {"corrupt": true}         flip one bit of the body (64 bytes from its
                                                     end) and forward it
                           {"drop_response": true}   forward normally, then reset the connection
                                                     instead of sending the upstream answer
                                                     (a lost final response)
  POST /__proxy/offline  until /__proxy/online, every request is answered by resetting the
  POST /__proxy/online   connection at once (nothing read, nothing forwarded)
  GET  /__proxy/log      JSON list of every non-control request, in order:
                         {"method", "path", "authorization", "content_range", "body_bytes",
                          "outcome"}; body_bytes is what the proxy read of the request body;
                         outcome is "forwarded:<status>", "cut", "status:<code>", "dropped",
                         "offline" or "upstream_error:<message>"
  GET  /__proxy/rules    the rules still queued
  POST /__proxy/reset    clear rules, log and offline mode

Prints `ready` on stdout once listening.
"""
import argparse
import http.client
import json
import os
import socket
import struct
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9023")
parser.add_argument("--timeout", type=float, default=120.0, help="upstream timeout in seconds")
args = parser.parse_args()

upstream = urllib.parse.urlsplit(args.upstream)
if upstream.scheme != "http" or not upstream.port:
    sys.exit("--upstream must look like http://HOST:PORT")
UP_HOST, UP_PORT = upstream.hostname, upstream.port
# Host names under which the upstream may refer to itself in a Location header.
UP_ALIASES = {UP_HOST, "127.0.0.1", "localhost", "0.0.0.0", "[::1]", "::1"}

# Hop-by-hop headers are never copied between the two connections; the proxy frames its
# own messages (always with Content-Length).
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    "expect", "content-length",
    "server", "date",  # send_response() writes the proxy's own
}

lock = threading.Lock()
rules = []  # queued rules, each a dict with a remaining "times" count
log = []  # one entry per non-control request
state = {"offline": False}


def rule_matches(rule, method, path):
    want = rule.get("method")
    if want and want.upper() != method:
        return False
    needle = rule.get("path_contains")
    if needle and needle not in path:
        return False
    return True


def take_rule(method, path):
    """Consume one use of the first queued rule matching this request, if any."""
    with lock:
        for i, rule in enumerate(rules):
            if rule_matches(rule, method, path):
                if rule.get("skip", 0) > 0:  # let this many matching requests through first
                    rule["skip"] -= 1
                    return None
                rule["times"] -= 1
                if rule["times"] <= 0:
                    del rules[i]
                return rule.get("action") or {}
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length

    def log_message(self, *a):
        pass

    # ---------------------------------------------------------------- helpers

    def send_bytes(self, status, body=b"", headers=(), reason=None):
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        if status not in (204, 304) and not 100 <= status < 200:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj):
        self.send_bytes(status, json.dumps(obj).encode(), [("Content-Type", "application/json")])

    def read_body(self, limit=None):
        """Read the request body (Content-Length or chunked), at most `limit` bytes if given."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while limit is None or len(out) < limit:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                want = size if limit is None else min(size, limit - len(out))
                out += self.rfile.read(want)
                if want < size:  # stopped early because of the limit
                    break
                self.rfile.readline()  # CRLF after the chunk
            return bytes(out)
        length = int(self.headers.get("Content-Length") or 0)
        if limit is not None:
            length = min(length, limit)
        out = bytearray()
        while len(out) < length:
            piece = self.rfile.read(min(1 << 20, length - len(out)))
            if not piece:
                break  # client went away
            out += piece
        return bytes(out)

    def reset_connection(self):
        """Close abruptly: SO_LINGER 0 makes close() send a TCP RST, no response at all."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # Close the file descriptor itself, now: rfile/wfile keep references to the socket
        # object, so socket.close() alone would defer the real close (and the RST) until
        # the handler ends. Detaching leaves those objects harmlessly pointing at nothing.
        try:
            os.close(self.connection.detach())
        except OSError:
            pass
        self.close_connection = True

    def record(self, path, body_bytes, outcome):
        with lock:
            log.append({
                "method": self.command,
                "path": path,
                "authorization": self.headers.get("Authorization"),
                "content_range": self.headers.get("Content-Range"),
                "body_bytes": body_bytes,
                "outcome": outcome,
            })

    def rewrite_location(self, value):
        """Point a URL at this proxy when it points at the upstream host:port."""
        try:
            u = urllib.parse.urlsplit(value)
            port = u.port
        except ValueError:
            return value
        if u.scheme in ("http", "https") and port == UP_PORT and (u.hostname or "") in UP_ALIASES:
            proxy_netloc = self.headers.get("Host") or "%s:%d" % (args.host, args.port)
            return urllib.parse.urlunsplit(("http", proxy_netloc, u.path, u.query, u.fragment))
        return value

    # ---------------------------------------------------------------- control

    def control(self):
        path = urllib.parse.urlsplit(self.path).path
        body = self.read_body()
        if self.command == "POST" and path == "/__proxy/script":
            try:
                new = json.loads(body or b"[]")
            except ValueError as e:
                return self.send_json(400, {"error": "bad JSON: %s" % e})
            if isinstance(new, dict):
                new = [new]
            for r in new:
                r = dict(r)
                r["times"] = int(r.get("times", 1))
                if "action" not in r:  # tolerate the action's keys given at the top level
                    r["action"] = {k: r[k] for k in ("cut_after", "status", "retry_after", "drop_response", "corrupt") if k in r}
                with lock:
                    rules.append(r)
            with lock:
                queued = len(rules)
            return self.send_json(200, {"queued": queued})
        if self.command == "POST" and path in ("/__proxy/offline", "/__proxy/online"):
            with lock:
                state["offline"] = path.endswith("offline")
            return self.send_json(200, {"offline": state["offline"]})
        if self.command == "POST" and path == "/__proxy/reset":
            with lock:
                rules.clear()
                log.clear()
                state["offline"] = False
            return self.send_json(200, {"reset": True})
        if self.command == "GET" and path == "/__proxy/log":
            with lock:
                snapshot = list(log)
            return self.send_json(200, snapshot)
        if self.command == "GET" and path == "/__proxy/rules":
            with lock:
                snapshot = list(rules)
            return self.send_json(200, snapshot)
        return self.send_json(404, {"error": "unknown control endpoint %s %s" % (self.command, path)})

    # ---------------------------------------------------------------- proxying

    def handle_any(self):
        if self.path.startswith("/__proxy/"):
            return self.control()
        path = self.path
        with lock:
            offline = state["offline"]
        if offline:
            self.record(path, 0, "offline")
            return self.reset_connection()

        action = take_rule(self.command, path)
        if action and "cut_after" in action:
            got = self.read_body(limit=int(action["cut_after"]))
            self.record(path, len(got), "cut")
            return self.reset_connection()

        body = self.read_body()
        if action and "status" in action:
            code = int(action["status"])
            headers = [("Content-Type", "application/json")]
            if action.get("retry_after") is not None:
                headers.append(("Retry-After", str(action["retry_after"])))
            err = {"error": {"code": code, "message": "injected by fault_proxy",
                             "errors": [{"reason": "injected", "message": "injected by fault_proxy"}]}}
            self.record(path, len(body), "status:%d" % code)
            return self.send_bytes(code, json.dumps(err).encode(), headers)

        if action and action.get("corrupt") and body:
            # Flip one bit of a byte before the final boundary: a transfer corrupted on the way.
            i = max(0, len(body) - 64)
            body = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1:]
        try:
            status, reason, headers, data = self.forward(body)
        except (OSError, http.client.HTTPException) as e:
            self.record(path, len(body), "upstream_error:%s" % e)
            return self.send_json(502, {"error": {"code": 502, "message": "fault_proxy: upstream failed: %s" % e}})

        if action and action.get("drop_response"):
            self.record(path, len(body), "dropped")
            return self.reset_connection()

        self.record(path, len(body), "forwarded:%d" % status)
        out = []
        for k, v in headers:
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk in ("location", "x-goog-upload-url"):
                v = self.rewrite_location(v)
            out.append((k, v))
        if self.command == "HEAD":
            # No body came back; keep the upstream's declared length.
            self.send_response(status, reason)
            for k, v in out:
                self.send_header(k, v)
            declared = [v for k, v in headers if k.lower() == "content-length"]
            if declared:
                self.send_header("Content-Length", declared[0])
            self.end_headers()
            return
        self.send_bytes(status, data, out, reason)

    def forward(self, body):
        """Send the request upstream on a fresh connection; return the whole answer."""
        conn = http.client.HTTPConnection(UP_HOST, UP_PORT, timeout=args.timeout)
        try:
            # Keep the client's Host header (transparent proxy): an upstream that builds URLs
            # from Host then already points at the proxy; others are fixed by rewrite_location.
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            if "Host" not in self.headers:
                conn.putheader("Host", "%s:%d" % (UP_HOST, UP_PORT))
            if body or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


httpd = Server((args.host, args.port), Handler)
print("ready", flush=True)
try:
    httpd.serve_forever()
except KeyboardInterrupt:
    pass
