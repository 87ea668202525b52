"""The HTTP transport every SDK call goes through.

A :class:`Client` knows the server's URL and the API key, keeps a few
keep-alive connections, puts a timeout on every call and retries with backoff
only what is safe to send twice: idempotent calls (GET, PUT and the read-only or
content-addressed POSTs the SDK marks as such) after a connection failure or a
503, and any call whose connection could not even be opened.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import random
import select
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Iterable, Mapping

from nullspace._version import __version__
from nullspace.config import resolve_api_key, resolve_api_url
from nullspace.errors import ConnectionError, InvalidArgumentError, TimeoutError, error_from_response
from nullspace.redaction import redact

__all__ = ["Client", "Response", "StreamResponse", "resolve_client", "quote_segment"]

_IDEMPOTENT_METHODS = {"GET", "HEAD", "PUT", "OPTIONS"}
_RETRY_STATUSES = {502, 503, 504}
# Failures of the connection itself (as opposed to the server's answer).
_CONNECTION_ERRORS = (OSError, http.client.HTTPException)


def quote_segment(value: str) -> str:
    """``value`` as ONE path segment: ``acme/web:stable`` → ``acme%2Fweb%3Astable``."""
    return urllib.parse.quote(value, safe="")


@dataclass
class Response:
    """A complete answer: status, headers and the body bytes."""

    status: int
    headers: Message  # case-insensitive lookups: headers.get("Retry-After")
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body) if self.body else None


@dataclass
class StreamResponse:
    """An open streaming answer (SSE or NDJSON); read it line by line, then close it."""

    status: int
    headers: Message
    _response: http.client.HTTPResponse
    _conn: http.client.HTTPConnection
    _closed: bool = field(default=False)

    def readline(self) -> bytes:
        """The next line (with its newline), or ``b""`` at the end of the stream.

        Raises the socket's own errors (timeouts, resets): the stream layer
        decides whether to reconnect.
        """
        return self._response.readline()

    def close(self) -> None:
        """Closes the connection (a stream's connection is never reused)."""
        if not self._closed:
            self._closed = True
            try:
                self._response.close()
            finally:
                self._conn.close()

    def __enter__(self) -> "StreamResponse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client:
    """A connection to one nullspaced server.

    Args:
        api_url: the server (default ``$NULLSPACE_API_URL``, then
            ``http://127.0.0.1:7070``). ``http`` or ``https``; a path prefix is kept.
        api_key: sent as ``Authorization: Bearer …`` (default ``$NULLSPACE_API_KEY``).
            Never shown by ``repr`` or in errors.
        timeout: seconds any one call may take to connect or to receive data.
        max_retries: how often a safe call is tried again after a connection
            failure or a 502/503/504.
        retry_backoff: the first wait between tries, in seconds (doubling, with
            jitter, at most 5 s).
        stream_timeout: seconds of silence after which a log stream is considered
            dead and re-opened (the server sends a ping every 15 s).

    A client is thread-safe and may be shared; ``close()`` drops its idle
    connections (it is also a context manager).
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.25,
        stream_timeout: float = 60.0,
    ) -> None:
        self.api_url = resolve_api_url(api_url)
        self._api_key = resolve_api_key(api_key)
        parts = urllib.parse.urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgumentError(
                f"api_url must be an http:// or https:// URL, got {self.api_url!r}", field="api_url"
            )
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.stream_timeout = stream_timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured (the key itself is never exposed)."""
        return self._api_key is not None

    def __repr__(self) -> str:
        key = ", api_key=***" if self._api_key else ""
        return f"Client(api_url={self.api_url!r}{key})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the idle keep-alive connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ---- requests -----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        idempotent: bool | None = None,
        secrets: Iterable[str] = (),
    ) -> Response:
        """Sends one request and returns the answer; raises the matching
        :class:`~nullspace.errors.NullspaceError` for a status >= 400.

        ``idempotent`` overrides the method's default (GET/PUT are, POST/DELETE
        are not) for deciding whether the call may be sent again. ``secrets``
        are values to redact from any error text.
        """
        secrets = list(secrets)
        body, hdrs = self._body_and_headers(json, data, content_type, headers)
        url = self._url(path, query)
        safe = idempotent if idempotent is not None else method in _IDEMPOTENT_METHODS
        attempt = 0
        while True:
            try:
                resp = self._send_once(method, url, body, hdrs, timeout, safe)
            except _Retry as r:
                if attempt >= self.max_retries:
                    raise self._connection_error(method, path, r.cause, secrets, r.sent) from r.cause
                attempt += 1
                self._backoff(attempt, None)
                continue
            except socket.timeout as e:
                raise TimeoutError(
                    redact(f"{method} {path}: no answer within {self._timeout(timeout):g} s", secrets),
                    code="timeout",
                ) from e
            except _CONNECTION_ERRORS as e:  # lost after sending a call that is not safe to repeat
                raise self._connection_error(method, path, e, secrets, True) from e
            if resp.status in _RETRY_STATUSES and safe and attempt < self.max_retries:
                attempt += 1
                self._backoff(attempt, resp.headers.get("Retry-After"))
                continue
            if resp.status >= 400:
                raise error_from_response(
                    resp.status, resp.body, resp.headers, method=method, path=path, secrets=secrets
                )
            return resp

    def open_stream(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        idempotent: bool | None = None,
        read_timeout: float | None = None,
    ) -> StreamResponse:
        """Opens a streaming answer (``headers`` says SSE or NDJSON in ``Accept``).

        The connection gets ``read_timeout`` (default ``stream_timeout``) as its
        read timeout: a stream whose server sends no keep-alive pings (a
        command's output) needs one as long as the silence it may have. Status
        >= 400 raises like :meth:`request`. Opening is retried like a request;
        reading is the caller's business (see :mod:`nullspace.streams`).
        """
        secrets = list(secrets)
        body, hdrs = self._body_and_headers(json, None, None, headers)
        url = self._url(path, query)
        safe = idempotent if idempotent is not None else method in _IDEMPOTENT_METHODS
        wait = self.stream_timeout if read_timeout is None else read_timeout
        attempt = 0
        while True:
            conn = self._new_connection(wait)
            try:
                try:
                    conn.connect()
                except _CONNECTION_ERRORS as e:
                    raise _Retry(e, sent=False) from e
                conn.request(method, url, body=body, headers=hdrs)
                resp = conn.getresponse()
            except _Retry as r:
                conn.close()
                if attempt >= self.max_retries:
                    raise self._connection_error(method, path, r.cause, secrets, False) from r.cause
                attempt += 1
                self._backoff(attempt, None)
                continue
            except socket.timeout as e:
                conn.close()
                raise TimeoutError(
                    f"{method} {path}: no answer within {wait:g} s", code="timeout"
                ) from e
            except _CONNECTION_ERRORS as e:
                conn.close()
                if safe and attempt < self.max_retries:
                    attempt += 1
                    self._backoff(attempt, None)
                    continue
                raise self._connection_error(method, path, e, secrets, True) from e
            if resp.status >= 400:
                try:
                    payload = resp.read()
                except _CONNECTION_ERRORS:
                    payload = b""
                conn.close()
                if resp.status in _RETRY_STATUSES and safe and attempt < self.max_retries:
                    attempt += 1
                    self._backoff(attempt, resp.headers.get("Retry-After"))
                    continue
                raise error_from_response(
                    resp.status, payload, resp.headers, method=method, path=path, secrets=secrets
                )
            return StreamResponse(resp.status, resp.headers, resp, conn)

    # ---- internals ------------------------------------------------------------

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self._prefix + path
        if query:
            items = []
            for k, v in query.items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = "true" if v else "false"
                items.append((k, str(v)))
            if items:
                url += "?" + urllib.parse.urlencode(items)
        return url

    def _body_and_headers(
        self,
        json: Any,
        data: bytes | None,
        content_type: str | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[bytes | None, dict[str, str]]:
        hdrs = {"User-Agent": f"nullspace-python/{__version__}", "Accept": "application/json"}
        if self._api_key:
            hdrs["Authorization"] = f"Bearer {self._api_key}"
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            hdrs["Content-Type"] = "application/json"
        elif data is not None:
            body = data
            hdrs["Content-Type"] = content_type or "application/octet-stream"
        if body is not None:
            hdrs["Content-Length"] = str(len(body))
        hdrs.update(headers or {})
        return body, hdrs

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _idle_connection(self) -> http.client.HTTPConnection | None:
        # An idle connection the server has closed meanwhile is readable (EOF):
        # such a one is dropped rather than written to.
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()
            sock = conn.sock
            if sock is None:
                continue
            try:
                readable, _, _ = select.select([sock], [], [], 0)
            except (OSError, ValueError):
                readable = [sock]
            if readable:
                conn.close()
                continue
            return conn

    def _send_once(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        safe: bool,
    ) -> Response:
        t = self._timeout(timeout)
        conn = self._idle_connection()
        if conn is None:
            conn = self._new_connection(t)
            try:
                conn.connect()
            except socket.timeout:
                conn.close()
                raise
            except _CONNECTION_ERRORS as e:
                conn.close()
                raise _Retry(e, sent=False) from e  # nothing was sent: always safe to try again
        else:
            conn.timeout = t
            if conn.sock is not None:
                conn.sock.settimeout(t)
        try:
            conn.request(method, url, body=body, headers=dict(headers))
            resp = conn.getresponse()
            payload = resp.read()
        except socket.timeout:
            conn.close()
            raise
        except _CONNECTION_ERRORS as e:
            conn.close()
            if safe:
                raise _Retry(e, sent=True) from e
            raise
        if resp.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return Response(resp.status, resp.headers, payload)

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        delay = min(5.0, self.retry_backoff * (2 ** (attempt - 1)))
        delay *= 0.5 + random.random() / 2
        if retry_after:
            try:
                delay = max(delay, min(30.0, float(retry_after)))
            except ValueError:
                pass
        time.sleep(delay)

    def _connection_error(
        self, method: str, path: str, cause: BaseException, secrets: Iterable[str], sent: bool
    ) -> ConnectionError:
        why = str(cause) or type(cause).__name__
        if sent:
            text = (
                f"lost the connection to nullspace at {self.api_url} during {method} {path} "
                f"(the server may have carried it out): {why}"
            )
        else:
            text = f"cannot reach nullspace at {self.api_url} ({method} {path}): {why}"
        return ConnectionError(redact(text, secrets), code="connection_failed")


class _Retry(Exception):
    """Internal: a failure after which the same request may be sent again
    (``sent``: whether it had gone out)."""

    def __init__(self, cause: BaseException, *, sent: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.sent = sent


_default_clients: dict[tuple[str, str | None], Client] = {}
_default_lock = threading.Lock()


def resolve_client(
    client: Client | None = None, api_url: str | None = None, api_key: str | None = None
) -> Client:
    """The client an entry point uses: ``client`` if given, else one for
    ``api_url``/``api_key`` (or the environment), shared between calls so that
    connections are reused."""
    if client is not None:
        if api_url is not None or api_key is not None:
            raise InvalidArgumentError("pass either client= or api_url=/api_key=, not both", field="client")
        return client
    url = resolve_api_url(api_url)
    key = resolve_api_key(api_key)
    with _default_lock:
        c = _default_clients.get((url, key))
        if c is None:
            c = Client(url, key)
            _default_clients[(url, key)] = c
        return c

