"""A real local OAuth2 token endpoint (and GCE metadata token route) for GeoInfer's GCS auth tests.

    python token_server.py --port P --write-key-file PATH [--expires-in 3600]
        [--client-email sa@test.iam.gserviceaccount.com]
        [--refresh-token R --client-id C --client-secret S] [--also-accept-aud URL]

At start a fresh RSA-2048 key pair is generated and PATH is written (mode 0600) as a Google
service-account key JSON whose token_uri is http://127.0.0.1:P/token. The server keeps only
the PUBLIC key for verification, exactly as Google's endpoint would. --port 0 picks a free
port (the key file then names it).

  POST /token  (application/x-www-form-urlencoded)
      grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT
          The JWT must be three unpadded base64url segments; header alg RS256 (kid, if
          present, == private_key_id); RS256 (PKCS#1 v1.5 + SHA-256) signature valid for the
          public key; claims iss == client_email, aud == token_uri (or an --also-accept-aud
          value; Google's google-auth always sends https://oauth2.googleapis.com/token), scope containing
          https://www.googleapis.com/auth/devstorage..., |iat - now| <= 300 s, exp > now,
          exp - iat <= 3600.
      grant_type=refresh_token&refresh_token=R&client_id=C&client_secret=S
          checked against the flags.
      Success: 200 {"access_token": "ya29.test-<n>", "expires_in": E, "token_type": "Bearer"}
      (n increases across every grant). Failure: 400 {"error": "invalid_grant",
      "error_description": "<why>"} (or invalid_request / unsupported_grant_type).
  GET /computeMetadata/v1/instance/service-accounts/default/token
      needs `Metadata-Flavor: Google` (else 403); answers the same token JSON.
      (.../default/, .../default/email and /computeMetadata/v1/project/project-id answer too,
      enough for google-auth's compute_engine.Credentials with GCE_METADATA_HOST set.)
  GET /log  {"issued": [{"grant", "token"}...], "rejected": [{"grant", "why"}...]}

Prints `ready` on stdout once listening.
"""
import argparse
import base64
import json
import os
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE_PREFIX = "https://www.googleapis.com/auth/devstorage"
METADATA_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
METADATA_EMAIL = "/computeMetadata/v1/instance/service-accounts/default/email"
METADATA_PROJECT = "/computeMetadata/v1/project/project-id"
METADATA_ACCOUNT = "/computeMetadata/v1/instance/service-accounts/default/"  # ?recursive=true, read by google-auth
CLOCK_SKEW = 300  # seconds allowed between iat and now
MAX_LIFETIME = 3600  # exp - iat upper bound, as Google enforces

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--write-key-file", required=True)
parser.add_argument("--expires-in", type=int, default=3600)
parser.add_argument("--client-email", default="sa@test.iam.gserviceaccount.com")
parser.add_argument("--refresh-token")
parser.add_argument("--client-id")
parser.add_argument("--client-secret")
parser.add_argument("--also-accept-aud", action="append", default=[], metavar="URL",
                    help="another accepted JWT aud, e.g. https://oauth2.googleapis.com/token, which "
                         "Google's own google-auth library always sends whatever token_uri says")
args = parser.parse_args()

lock = threading.Lock()
issued = []
rejected = []
counter = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def issue(self, grant, extra=()):
        with lock:
            counter[0] += 1
            token = "ya29.test-%d" % counter[0]
            issued.append({"grant": grant, "token": token})
        self.send_json(200, {"access_token": token, "expires_in": args.expires_in, "token_type": "Bearer"}, extra)

    def reject(self, grant, why, error="invalid_grant", status=400):
        with lock:
            rejected.append({"grant": grant, "why": why})
        self.send_json(status, {"error": error, "error_description": why})

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/log":
            with lock:
                snapshot = {"issued": list(issued), "rejected": list(rejected)}
            return self.send_json(200, snapshot)
        if path in (METADATA_TOKEN, METADATA_EMAIL, METADATA_PROJECT, METADATA_ACCOUNT):
            if self.headers.get("Metadata-Flavor") != "Google":
                with lock:
                    rejected.append({"grant": "metadata", "why": "missing Metadata-Flavor: Google"})
                body = b"Missing required header: Metadata-Flavor"
                self.send_response(403)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            flavor = [("Metadata-Flavor", "Google")]
            if path == METADATA_TOKEN:
                return self.issue("metadata", flavor)
            if path == METADATA_ACCOUNT:
                return self.send_json(200, {"aliases": ["default"], "email": args.client_email,
                                            "scopes": ["https://www.googleapis.com/auth/devstorage.read_write"]}, flavor)
            text = (args.client_email if path == METADATA_EMAIL else "test-project").encode()
            self.send_response(200)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Type", "application/text")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path != "/token":
            return self.send_json(404, {"error": "not_found"})
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return self.reject("?", "Content-Type must be application/x-www-form-urlencoded, got %r" % ctype,
                               "invalid_request")
        try:
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True).items()}
        except (ValueError, UnicodeDecodeError) as e:
            return self.reject("?", "unparseable form body: %s" % e, "invalid_request")
        grant = form.get("grant_type")
        if grant == JWT_BEARER:
            why = verify_assertion(form.get("assertion", ""))
            if why:
                return self.reject("jwt-bearer", why)
            return self.issue("jwt-bearer")
        if grant == "refresh_token":
            if not (args.refresh_token and args.client_id and args.client_secret):
                return self.reject("refresh_token", "refresh_token grant not configured on this server")
            for field, want in (("client_id", args.client_id), ("client_secret", args.client_secret),
                                ("refresh_token", args.refresh_token)):
                if form.get(field) != want:
                    return self.reject("refresh_token", "%s does not match" % field,
                                       "invalid_client" if field != "refresh_token" else "invalid_grant")
            return self.issue("refresh_token")
        return self.reject(str(grant), "unsupported grant_type %r" % grant, "unsupported_grant_type")


def b64url_decode(segment):
    """Strict unpadded base64url (RFC 7515 section 2)."""
    if "=" in segment:
        raise ValueError("base64url segment is padded with '='")
    if any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in segment):
        raise ValueError("segment is not base64url (uses + / or other characters)")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_assertion(assertion):
    """Return None when the JWT is acceptable, else a human-readable reason."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return "assertion is not a three-part JWT"
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as e:
        return "malformed JWT: %s" % e
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "JWT header and claims must be JSON objects"
    if header.get("alg") != "RS256":
        return "header alg must be RS256, got %r" % header.get("alg")
    if "kid" in header and header["kid"] != KEY_ID:
        return "header kid %r does not match private_key_id" % header["kid"]
    try:
        PUBLIC_KEY.verify(signature, (parts[0] + "." + parts[1]).encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return "invalid RS256 signature"
    if claims.get("iss") != args.client_email:
        return "iss %r != client_email" % claims.get("iss")
    if claims.get("aud") != TOKEN_URI and claims.get("aud") not in args.also_accept_aud:
        return "aud %r != token_uri %r" % (claims.get("aud"), TOKEN_URI)
    scope = claims.get("scope")
    if not isinstance(scope, str) or not any(s.startswith(SCOPE_PREFIX) for s in scope.split()):
        return "scope %r lacks %s" % (scope, SCOPE_PREFIX)
    iat, exp = claims.get("iat"), claims.get("exp")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (iat, exp)):
        return "iat and exp must be numbers"
    now = time.time()
    if abs(now - iat) > CLOCK_SKEW:
        return "iat %s is more than %d s from now (%d)" % (iat, CLOCK_SKEW, now)
    if exp <= now:
        return "exp %s is not in the future" % exp
    if exp - iat > MAX_LIFETIME:
        return "exp - iat = %s exceeds %d" % (exp - iat, MAX_LIFETIME)
    return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


httpd = Server(("127.0.0.1", args.port), Handler)
PORT = httpd.server_address[1]
TOKEN_URI = "http://127.0.0.1:%d/token" % PORT

# Fresh key pair each run; only the public half stays in memory for verification.
_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_KEY = _private.public_key()
KEY_ID = secrets.token_hex(20)
key_json = {
    "type": "service_account",
    "project_id": "test-project",
    "private_key_id": KEY_ID,
    "private_key": _private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode(),
    "client_email": args.client_email,
    "client_id": str(secrets.randbelow(10**21 - 10**20) + 10**20),
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": TOKEN_URI,
    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
    + urllib.parse.quote(args.client_email),
    "universe_domain": "googleapis.com",
}
del _private
fd = os.open(args.write_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.fchmod(fd, 0o600)  # also when the file already existed with wider permissions
with os.fdopen(fd, "w") as f:
    json.dump(key_json, f, indent=2)

print("ready", flush=True)
try:
    httpd.serve_forever()
except KeyboardInterrupt:
    pass
