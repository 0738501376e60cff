"""Real registries for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1.

Three flavours, each a separate registry process with its own config file and storage in
a temp dir: open (anonymous push/pull), htpasswd Basic auth, and token auth, where a small
token issuer here (an http.server) signs RS256 JWTs with a key and self-signed certificate
made at test time; the registry trusts that certificate through `rootcertbundle`, so the
Bearer flow is checked end to end by the registry itself.

FaultProxy sits in front of a registry and injects what a real network does now and then:
500s, connections dropped in the middle of a blob, 404s, corrupted bytes, Range ignored.

The pytest fixtures built on these live in tests/support/registry_fixtures.py (load it with
`pytest_plugins = ["tests.support.registry_fixtures"]`).
"""
from __future__ import annotations

import base64
import datetime
import http.client
import http.server
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.parse

from tests.support.bundle import REPO

REGISTRY_BIN = "/usr/bin/docker-registry"
USER, PASSWORD = "pyrt", "s3cret-pw"
IDENTITY_TOKEN = "pyrt-test-identity-token"      # the token issuer's refresh token for USER
SERVICE, ISSUER = "pyrt-test-registry", "pyrt-test-issuer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(workdir: str, stem: str, common_name: str, ip: str | None = None):
    """A fresh RSA key and self-signed CA certificate (for IP, if given), written as
    WORKDIR/STEM.pem and WORKDIR/STEM.key; returns (key, cert)."""
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    if ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
    cert = b.sign(key, hashes.SHA256())
    with open(os.path.join(workdir, f"{stem}.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(workdir, f"{stem}.key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return key, cert


def _wait_http(host: str, timeout: float = 15.0, tls: bool = False) -> None:
    import ssl
    deadline = time.monotonic() + timeout
    while True:
        try:
            if tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                c = http.client.HTTPSConnection(host, timeout=2, context=ctx)
            else:
                c = http.client.HTTPConnection(host, timeout=2)
            c.request("GET", "/v2/")
            c.getresponse().read()
            c.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Registry:
    """One docker-registry process. auth: None, "htpasswd" or "token" (with a TokenIssuer);
    tls: serve https with a self-signed certificate (its PEM at .cert_path)."""

    def __init__(self, workdir: str, auth: str | None = None, issuer: "TokenIssuer | None" = None,
                 tls: bool = False):
        self.dir = workdir
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {workdir}/data", "  delete:", "    enabled: true",
                 "http:", f"  addr: {self.host}", f"  secret: {secrets.token_hex(16)}"]
        if tls:
            make_cert(workdir, "registry-tls", "pyrt test registry", ip="127.0.0.1")
            self.cert_path = os.path.join(workdir, "registry-tls.pem")
            lines += ["  tls:", f"    certificate: {self.cert_path}", f"    key: {workdir}/registry-tls.key"]
        if auth == "htpasswd":
            import bcrypt
            with open(os.path.join(workdir, "htpasswd"), "w") as f:
                f.write(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
            lines += ["auth:", "  htpasswd:", "    realm: pyrt-test", f"    path: {workdir}/htpasswd"]
        elif auth == "token":
            assert issuer is not None
            lines += ["auth:", "  token:", f"    realm: {issuer.url}/token", f"    service: {SERVICE}",
                      f"    issuer: {ISSUER}", f"    rootcertbundle: {issuer.cert_path}"]
        self.config = os.path.join(workdir, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(workdir, "registry.log"), "w")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            _wait_http(self.host, tls=tls)
        except OSError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# -- token issuer -----------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """GET /token?service=...&scope=repository:NAME:ACTIONS -> {"token": JWT}.

    With valid Basic credentials every requested action is granted; anonymously only `pull`
    of repositories in `public`; wrong credentials get 401. POST /token with the OAuth2
    refresh-token grant and IDENTITY_TOKEN grants as USER (access_token in the answer). `requests` counts calls, so a
    test can see tokens being cached.
    """

    def __init__(self, workdir: str):
        from cryptography.hazmat.primitives import serialization
        self.key, self.cert = make_cert(workdir, "token-cert", "pyrt test token issuer")
        self.cert_der = self.cert.public_bytes(serialization.Encoding.DER)
        self.cert_path = os.path.join(workdir, "token-cert.pem")
        self.public: set[str] = set()
        self.requests = 0
        self.scopes: list[str] = []
        self.posts: list[dict] = []         # the forms of OAuth2 (identity token) requests
        # Misbehaviour on request: `reply` = (status, body bytes) answers the next token requests
        # as given (a malformed or refusing token server); `expired_for` = seconds: the tokens
        # signed now are already that many seconds past their `exp` (the registry's clock-skew
        # leeway decides when it starts refusing them).
        self.reply: tuple[int, bytes] | None = None
        self.expired_for = 0
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                issuer.requests += 1
                if issuer.reply is not None:
                    status, body = issuer.reply
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user = None
                hdr = self.headers.get("Authorization", "")
                if hdr.startswith("Basic "):
                    u, _, p = base64.b64decode(hdr[6:]).decode().partition(":")
                    if (u, p) != (USER, PASSWORD):
                        return self.refuse()
                    user = u
                self.grant(user, q.get("scope", []))

            def do_POST(self):
                # OAuth2 refresh-token grant: how an identity token is traded for a token.
                issuer.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                issuer.posts.append(form)
                if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [IDENTITY_TOKEN]:
                    return self.refuse()
                self.grant(USER, form.get("scope", []), oauth=True)

            def refuse(self):
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def grant(self, user, scopes, oauth=False):
                access = []
                for scope in scopes:
                    issuer.scopes.append(scope)
                    parts = scope.split(":")
                    if len(parts) != 3:
                        continue
                    typ, repo, actions = parts
                    granted = actions.split(",") if user else (["pull"] if repo in issuer.public and "pull" in actions else [])
                    if granted:
                        access.append({"type": typ, "name": repo, "actions": granted})
                key = "access_token" if oauth else "token"
                body = json.dumps({key: issuer.sign(user or "", access), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, subject: str, access: list[dict]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        now = int(time.time()) - (self.expired_for + 300 if self.expired_for else 0)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(sig)}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- fault injection --------------------------------------------------------------------------
class FaultProxy:
    """An HTTP proxy in front of UPSTREAM that misbehaves on request.

    faults: list of dicts {"match": substring of the path, "kind": ..., "times": n}, consumed
    in order: kinds "500", "404", "drop" (send half the body, then close), "corrupt" (flip one
    byte of the body), ("status", code, {header: value}) (that status with those headers and a
    registry-style JSON error, e.g. 403, 429 with Retry-After, 401 with another scheme), "norange"
    (ignore the Range header, send the whole blob), "slow"
    (sleep 0.05 s per 64 kB), "stall" (half the body, then nothing until the client hangs up), "401basic" (a Basic challenge), ("redirect", host) (307 to the
    same path on HOST), ("body", content-type, bytes) answered as is, or ("trickle", seconds)
    (the body one byte every SECONDS, until the client hangs up). `log` records (method, path, Range header, status) per request.
    """

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.faults: list[dict] = []
        self.log: list[tuple] = []
        self.auth_seen: list[tuple[str, bool]] = []      # (path, had an Authorization header)
        self.times: list[tuple[str, float]] = []         # (path, time.monotonic()) of each request
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy._handle(self)

            def do_HEAD(self):
                proxy._handle(self)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass        # a client that went away mid-body (the Ctrl-C test) is expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _take(self, path: str) -> str | None:
        with self._lock:
            for f in self.faults:
                if f["match"] in path and f.get("times", 1) > 0:
                    f["times"] = f.get("times", 1) - 1
                    return f["kind"]
        return None

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        kind = self._take(h.path)
        rng = h.headers.get("Range")
        self.auth_seen.append((h.path, "Authorization" in h.headers))
        self.times.append((h.path, time.monotonic()))
        if isinstance(kind, tuple) and kind[0] == "status":
            _, code, extra = kind
            body = b'{"errors":[{"code":"INJECTED","message":"injected status"}]}'
            h.send_response(code)
            for k, v in extra.items():
                h.send_header(k, v)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            self.log.append((h.command, h.path, rng, code))
            return
        if kind == "401basic" or (isinstance(kind, tuple) and kind[0] == "redirect"):
            h.send_response(401 if kind == "401basic" else 307)
            if kind == "401basic":
                h.send_header("WWW-Authenticate", 'Basic realm="pyrt-fault"')
            else:
                h.send_header("Location", f"http://{kind[1]}{h.path}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            self.log.append((h.command, h.path, rng, 401 if kind == "401basic" else 307))
            return
        if isinstance(kind, tuple) and kind[0] != "trickle":
            # ("body", content type, bytes): a canned answer, e.g. a schema 1 or oversized manifest.
            _, ctype, body = kind
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            self.log.append((h.command, h.path, rng, 200))
            return
        if kind in ("500", "404"):
            body = b'{"errors":[{"code":"INJECTED","message":"injected fault"}]}'
            h.send_response(int(kind))
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            self.log.append((h.command, h.path, rng, int(kind)))
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        if kind == "norange":
            headers.pop("Range", None)
        c = http.client.HTTPConnection(self.upstream, timeout=30)
        c.request(h.command, h.path, headers=headers)
        r = c.getresponse()
        # Follow the registry's own redirects here so the client sees one hop.
        body = r.read()
        c.close()
        self.log.append((h.command, h.path, rng, r.status))
        h.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if kind == "stall":
            # Half the body, then silence (a server that hangs mid-blob), until the client leaves.
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.connection.settimeout(30)
            try:
                h.connection.recv(1)
            except OSError:
                pass
            h.close_connection = True
            return
        if isinstance(kind, tuple) and kind[0] == "trickle":
            try:
                for i in range(len(body)):
                    h.wfile.write(body[i:i + 1])
                    h.wfile.flush()
                    time.sleep(kind[1])
            except OSError:
                pass            # the client gave up, as it should
            h.close_connection = True
            return
        if kind == "drop":
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind == "corrupt" and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if kind == "slow":
            for i in range(0, len(body), 65536):
                h.wfile.write(body[i:i + 65536])
                time.sleep(0.05)
            return
        h.wfile.write(body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- images -----------------------------------------------------------------------------------
def _builder():
    spec = importlib.util.spec_from_file_location("build_images", os.path.join(REPO, "rootfs-tools", "build-images.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


builder = _builder()


def skopeo_inspect(ref: str, *args: str) -> dict:
    out = subprocess.run(builder.skopeo("inspect", "--tls-verify=false", *args, f"docker://{ref}"),
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)

