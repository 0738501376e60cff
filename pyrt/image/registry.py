"""A client for the distribution (registry) HTTP API v2, on http.client.

Auth follows the registry's challenge: a 401 with `WWW-Authenticate: Basic` is answered
with the user's credentials; `WWW-Authenticate: Bearer realm=...,service=...,scope=...` sends
us to the token server (anonymously, or with Basic credentials), and the token is cached per
scope until it expires. Redirects (blob downloads often go to a CDN) are followed, dropping
the Authorization header when the host changes.

Failures a retry can fix (5xx, 429, a dropped or reset connection, a short body) are retried
with exponential backoff; a blob download resumes from what is already staged, with a Range
request, when the server honours it.

A server that answers too slowly is not waited for: a body that arrives at less than
low_speed_limit bytes/s on average over low_speed_time seconds (curl's rule) fails the pull,
and so does anything still running at the deadline (issue 9.12: one byte every 5 s kept a pull
running for ever). Both are one RegistryError line, never retried.
"""
from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
import weakref

from pyrt.errors import AuthError, RegistryError
from pyrt.image import manifest as mf
from pyrt.image.auth import IDENTITY_TOKEN_USER

_CHUNK = 1 << 20
_RETRY_STATUS = {429, 500, 502, 503, 504}
_TRANSIENT = (ConnectionError, http.client.HTTPException, socket.timeout, TimeoutError)


class NotFound(RegistryError):
    """The registry answered 404 for a manifest or blob."""


class Cancelled(Exception):
    """The caller asked a running download to stop (Ctrl-C elsewhere in the pull)."""


class TooSlow(RegistryError):
    """Under the low-speed limit, or past the deadline."""


class _Pace:
    """The low-speed rule over one body: LIMIT bytes/s on average, measured in windows of TIME s."""

    def __init__(self, client: "RegistryClient", what: str):
        self.client, self.what = client, what
        self.start, self.bytes = time.monotonic(), 0

    def got(self, n: int) -> None:
        c = self.client
        c.check_deadline()
        if c.low_speed_time <= 0:
            return
        self.bytes += n
        now = time.monotonic()
        if now - self.start >= c.low_speed_time:
            if self.bytes < c.low_speed_limit * (now - self.start):
                raise c.too_slow(self.what)
            self.start, self.bytes = now, 0


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


_SMALL_BODY = 1 << 20       # an error, a redirect, a token: more than this is not read


def _read_paced(resp: http.client.HTTPResponse, limit: int, pace: "_Pace") -> bytes:
    """At most LIMIT bytes of RESP's body, read as they come, under PACE's low-speed rule."""
    parts, n = [], 0
    while n < limit:
        chunk = resp.read1(min(_CHUNK, limit - n))
        if not chunk:
            # All of it: closing the response (not the socket) lets the connection carry the
            # next request; read1 alone leaves it "not ready" (ResponseNotReady, then a retry).
            resp.close()
            break
        parts.append(chunk)
        n += len(chunk)
        pace.got(len(chunk))
    return b"".join(parts)


class _Response:
    """Status, headers and the (unread) body of one exchange."""

    def __init__(self, resp: http.client.HTTPResponse, conn, client: "RegistryClient"):
        self.resp = resp
        self.status = resp.status
        self.headers = resp.headers
        self._conn = conn
        self._client = client

    def read(self, limit: int = _SMALL_BODY) -> bytes:
        """The body (at most LIMIT bytes; a longer one leaves the connection unusable: dropped)."""
        body = _read_paced(self.resp, limit, _Pace(self._client, "a response"))
        if not self.resp.isclosed() and len(body) == limit:
            self._client._drop_conn()
        return body

    def error_text(self) -> str:
        try:
            body = self.read(65536)
            doc = json.loads(body)
            errs = doc.get("errors") or []
            return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errs) or body.decode()[:200]
        except Exception:
            return ""


class RegistryClient:
    def __init__(self, host: str, *, credentials: tuple[str, str] | None = None, tls_verify: bool = True,
                 retries: int = 5, backoff: float = 0.25, timeout: float = 60.0,
                 low_speed_limit: int = 0, low_speed_time: float = 0, deadline: float | None = None):
        self.host = host
        self.credentials = credentials
        self.tls_verify = tls_verify
        self.retries = retries
        self.backoff = backoff
        self.low_speed_limit = low_speed_limit      # bytes/s; with low_speed_time 0 the rule is off
        self.low_speed_time = low_speed_time
        self.deadline = deadline                    # time.monotonic() value; None: none
        self.deadline_text = ""                     # how the deadline was set, for its message
        # No read waits longer than the low-speed window: silence that long is under any limit.
        self.timeout = min(timeout, low_speed_time) if low_speed_time > 0 else timeout
        self._scheme: str | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}      # scope -> (token, expiry)
        self._basic = False                                  # the registry asked for Basic
        self._ssl: ssl.SSLContext | None = None
        self._conns: weakref.WeakSet = weakref.WeakSet()      # for abort()
        self._conns_lock = threading.Lock()

    # -- pace -----------------------------------------------------------------------------------
    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TooSlow(f"pull from {self.host} did not finish in time{self.deadline_text}",
                          "raise --timeout or PYRT_PULL_TIMEOUT (0: no deadline)")

    def too_slow(self, what: str) -> TooSlow:
        return TooSlow(f"registry {self.host} sent {what} slower than {self.low_speed_limit} bytes/s "
                       f"for {self.low_speed_time:g} s",
                       "see --low-speed-limit / --low-speed-time (PYRT_PULL_LOW_SPEED_LIMIT / _TIME)")

    def _sleep(self, seconds: float) -> None:
        """A backoff pause that ends at the deadline, not after it."""
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - time.monotonic()))
        time.sleep(seconds)
        self.check_deadline()

    # -- connections --------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if self.tls_verify:
                self._ssl = ssl.create_default_context()
            else:
                # Not create_default_context(): loading the CA bundle costs ~40 ms we would not use.
                self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        return self._ssl

    def _new_conn(self, scheme: str, netloc: str):
        if scheme == "https":
            c = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._ssl_context())
        else:
            c = http.client.HTTPConnection(netloc, timeout=self.timeout)
        # Not self._lock: _detect_scheme holds that while it opens connections.
        with self._conns_lock:
            self._conns.add(c)
        return c

    def abort(self) -> None:
        """Cut every connection now (from another thread): a download blocked on a silent
        server returns at once instead of after the timeout. Used when a pull is interrupted."""
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            sock = c.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _conn(self):
        conns = self._local.__dict__.setdefault("conns", {})
        c = conns.get(self._scheme)
        if c is None:
            c = conns[self._scheme] = self._new_conn(self._scheme, self.host)
        return c

    def _retry_after_error(self, attempt: int, what: str, exc: BaseException | None) -> int:
        """After a transient failure: drop the connection, wait (exponential backoff), return the
        next attempt number; or raise RegistryError when the retries are used up."""
        self._drop_conn()
        if attempt >= self.retries:
            raise RegistryError(f"{what}: {exc or type(exc).__name__}") from None
        self._sleep(self.backoff * 2 ** attempt)
        return attempt + 1

    def _drop_conn(self) -> None:
        c = getattr(self._local, "conns", {}).pop(self._scheme, None)
        if c is not None:
            c.close()

    def _detect_scheme(self) -> None:
        """https, or, with TLS verification off (an insecure registry), http when https fails."""
        if self._scheme:
            return
        with self._lock:
            if self._scheme:
                return
            order = ["https"] if self.tls_verify else ["https", "http"]
            last = None
            for scheme in order:
                c = self._new_conn(scheme, self.host)
                try:
                    c.request("GET", "/v2/")
                    _read_paced(c.getresponse(), _SMALL_BODY, _Pace(self, "its /v2/ answer"))
                    self._scheme = scheme
                    return
                except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError) as e:
                    last = e
                finally:
                    c.close()
            hint = None
            if self.tls_verify and isinstance(last, ssl.SSLError):
                hint = "for a plain-http or self-signed local registry use --tls-verify=false"
            raise RegistryError(f"cannot reach registry {self.host}: {last}", hint)

    # -- auth ---------------------------------------------------------------------------------
    def _auth_header(self, scope: str) -> str | None:
        with self._lock:
            tok = self._tokens.get(scope)
        if tok and tok[1] > time.monotonic():
            return f"Bearer {tok[0]}"
        if self._basic and self.credentials:
            return "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        return None

    def _answer_challenge(self, header: str | None, scope: str) -> None:
        """Get what the 401's challenge asks for; raises AuthError when we cannot."""
        if not header:
            raise AuthError(f"authentication required: run pyrt login {self.host}")
        scheme, params = _parse_challenge(header)
        if scheme == "basic":
            if not self.credentials:
                raise AuthError(f"authentication required: run pyrt login {self.host}")
            self._basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise AuthError(f"registry {self.host} asks for unsupported authentication: {header}")
        self._fetch_token(params, scope)

    def _fetch_token(self, params: dict[str, str], scope: str) -> None:
        q = {}
        if params.get("service"):
            q["service"] = params["service"]
        if scope:
            q["scope"] = scope
        url = urllib.parse.urlsplit(params["realm"])
        qs = "&".join(x for x in (url.query, urllib.parse.urlencode(q)) if x)
        path = (url.path or "/") + (f"?{qs}" if qs else "")
        method, body, headers = "GET", None, {}
        if self.credentials and self.credentials[0] == IDENTITY_TOKEN_USER:
            # An identity token (docker's "<token>" user) is an OAuth2 refresh token: POST it.
            method, path = "POST", (url.path or "/") + (f"?{url.query}" if url.query else "")
            form = {"grant_type": "refresh_token", "refresh_token": self.credentials[1], "client_id": "pyrt"}
            form.update(q)
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif self.credentials:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        for attempt in range(self.retries + 1):
            c = self._new_conn(url.scheme, url.netloc)
            try:
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                answer = _read_paced(r, _SMALL_BODY, _Pace(self, "a token"))
            except _TRANSIENT as e:
                if attempt == self.retries:
                    raise RegistryError(f"token server {url.netloc} failed: {e}") from None
                self._sleep(self.backoff * 2 ** attempt)
                continue
            finally:
                c.close()
            if r.status in _RETRY_STATUS and attempt < self.retries:
                self._sleep(self.backoff * 2 ** attempt)
                continue
            break
        if r.status in (401, 403):
            if not self.credentials:
                raise AuthError(f"authentication required: run pyrt login {self.host}")
            what = "identity token" if method == "POST" else "username or password"
            raise AuthError(f"login to {self.host} refused: bad {what}")
        if r.status != 200:
            raise RegistryError(f"token server {url.netloc} answered {r.status}")
        try:
            doc = json.loads(answer)
            token = doc.get("token") or doc["access_token"]
            expires_in = doc.get("expires_in") or 60
            # a token is a non-empty string and a lifetime a number of seconds; anything else
            # is a broken token server, not a token to send on
            if not isinstance(token, str) or isinstance(expires_in, bool):
                raise ValueError
            ttl = max(int(expires_in), 60)
        except (ValueError, KeyError, AttributeError, TypeError):
            raise RegistryError(f"token server {url.netloc} sent no token") from None
        with self._lock:
            # Renew a little early so a token does not expire between check and use.
            self._tokens[scope] = (token, time.monotonic() + ttl - 10)

    # -- requests -----------------------------------------------------------------------------
    def request(self, method: str, path: str, *, scope: str = "", headers: dict | None = None) -> _Response:
        """One API call with auth, redirects and retries. The body is left unread."""
        self._detect_scheme()
        authed = False
        attempt = 0
        while True:
            self.check_deadline()
            h = dict(headers or {})
            a = self._auth_header(scope)
            if a:
                h["Authorization"] = a
            try:
                resp = self._send(method, path, h)
            except _TRANSIENT as e:
                self.check_deadline()
                attempt = self._retry_after_error(attempt, f"registry {self.host} failed", e)
                continue
            if resp.status == 401 and not authed:
                challenge = resp.headers.get("WWW-Authenticate")
                resp.read()
                self._answer_challenge(challenge, scope)
                authed = True
                continue
            if resp.status in (401, 403):
                text = resp.error_text()
                if self.credentials and resp.status == 401:
                    raise AuthError(f"login to {self.host} refused: bad username or password")
                raise AuthError(f"authentication required: run pyrt login {self.host}",
                                text or None)
            if resp.status in _RETRY_STATUS and attempt < self.retries:
                resp.read()
                delay = self.backoff * 2 ** attempt
                if resp.status == 429 and resp.headers.get("Retry-After", "").isdigit():
                    delay = max(delay, min(int(resp.headers["Retry-After"]), 30))
                self._sleep(delay)
                attempt += 1
                continue
            return resp

    def _send(self, method: str, path: str, headers: dict) -> _Response:
        c = self._conn()
        c.request(method, path, headers=headers)
        r = c.getresponse()
        redirects = 0
        while r.status in (301, 302, 303, 307, 308) and redirects < 5:
            loc = r.headers.get("Location")
            _read_paced(r, _SMALL_BODY, _Pace(self, "a redirect"))
            if not loc:
                break
            target = urllib.parse.urlsplit(urllib.parse.urljoin(f"{self._scheme}://{self.host}{path}", loc))
            h = dict(headers)
            if target.netloc != self.host:
                h.pop("Authorization", None)
            c = self._new_conn(target.scheme, target.netloc)
            c.request("GET" if method != "HEAD" else "HEAD", target.path + (f"?{target.query}" if target.query else ""), headers=h)
            r = c.getresponse()
            redirects += 1
        return _Response(r, c, self)

    # -- API ----------------------------------------------------------------------------------
    @staticmethod
    def pull_scope(repo: str) -> str:
        return f"repository:{repo}:pull"

    def ping(self) -> None:
        """GET /v2/ with auth: how login checks credentials."""
        r = self.request("GET", "/v2/", scope="")
        r.read()
        if r.status != 200:
            raise RegistryError(f"registry {self.host} answered {r.status} to /v2/")

    def _get_small(self, path: str, scope: str, limit: int, what: str, headers: dict | None = None) -> _Response:
        """GET something held in memory (a manifest, a config), at most LIMIT bytes; a body cut
        short is fetched again. Returns the response with .body set."""
        attempt = 0
        while True:
            r = self.request("GET", path, scope=scope, headers=headers)
            if r.status == 404:
                r.read()
                raise NotFound(f"{what} unknown")
            if r.status != 200:
                raise RegistryError(f"registry {self.host} answered {r.status} for {what}", r.error_text() or None)
            length = r.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                self._drop_conn()
                raise RegistryError(f"{what} too large: {length} bytes (limit {limit})")
            try:
                r.body = _read_paced(r.resp, limit + 1, _Pace(self, what))
                if length and length.isdigit() and len(r.body) < int(length):
                    raise http.client.IncompleteRead(r.body, int(length) - len(r.body))
            except _TRANSIENT as e:
                self._if_silent_too_long(e, what)
                attempt = self._retry_after_error(attempt, f"registry {self.host} failed sending {what}", e)
                continue
            if len(r.body) > limit:
                self._drop_conn()
                raise RegistryError(f"{what} too large: more than {limit} bytes")
            return r

    def _if_silent_too_long(self, e: BaseException, what: str) -> None:
        """A read timed out: with the low-speed rule on, that silence is already too slow."""
        self.check_deadline()
        if isinstance(e, (socket.timeout, TimeoutError)) and self.low_speed_time > 0:
            self._drop_conn()
            raise self.too_slow(what) from None

    def get_manifest(self, repo: str, obj: str) -> tuple[bytes, str]:
        """(bytes, media type) of a manifest or index, by tag or digest."""
        r = self._get_small(f"/v2/{repo}/manifests/{obj}", self.pull_scope(repo), mf.MAX_MANIFEST_SIZE,
                            f"manifest {repo}:{obj}", {"Accept": mf.ACCEPT})
        return r.body, (r.headers.get("Content-Type") or "").split(";")[0].strip()

    def get_blob_bytes(self, repo: str, digest: str, limit: int) -> bytes:
        """A small blob (an image config) held in memory; LIMIT is its descriptor's size."""
        return self._get_small(f"/v2/{repo}/blobs/{digest}", self.pull_scope(repo), limit, f"blob {digest}").body

    def fetch_blob(self, repo: str, digest: str, writer, *, on_bytes=None, cancel=None) -> None:
        """Stream a blob into an IngestWriter (from content.py), resuming from writer.offset.

        Dropped connections and short bodies are retried, asking for the rest with Range; a
        server that ignores Range sends everything again and the staged part is discarded.
        """
        attempt = 0
        while True:
            expected = writer.expected_size
            if expected is not None and writer.offset >= expected:
                return
            h = {"Range": f"bytes={writer.offset}-"} if writer.offset else {}
            r = self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=self.pull_scope(repo), headers=h)
            if r.status == 404:
                r.read()
                raise NotFound(f"blob unknown: {digest}")
            if r.status == 416:
                r.read()
                writer.reset()
                continue
            if r.status not in (200, 206):
                raise RegistryError(f"registry {self.host} answered {r.status} for blob {digest}",
                                    r.error_text() or None)
            if r.status == 200 and writer.offset:
                if on_bytes:
                    on_bytes(-writer.offset)
                writer.reset()
            pace = _Pace(self, f"blob {digest}")
            try:
                while True:
                    if cancel is not None and cancel.is_set():
                        self._drop_conn()
                        raise Cancelled()
                    chunk = r.resp.read1(_CHUNK)
                    if not chunk:
                        break
                    writer.write(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
                    pace.got(len(chunk))
                if r.resp.length not in (None, 0):
                    raise http.client.IncompleteRead(b"", r.resp.length)
                r.resp.close()      # the connection is free for the next blob (see _read_paced)
            except _TRANSIENT as e:
                if cancel is not None and cancel.is_set():
                    raise Cancelled() from None         # abort() cut the connection
                self._if_silent_too_long(e, f"blob {digest}")
                attempt = self._retry_after_error(attempt, f"registry {self.host} failed sending blob {digest}", e)
                continue
            if expected is not None and writer.offset < expected:
                # A body that ended early without an error (no Content-Length): ask again for the
                # rest; if it stays short, commit() reports the truncation.
                if attempt >= self.retries:
                    return
                attempt = self._retry_after_error(attempt, "", None)
                continue
            return
