"""Metrics source on Prometheus: instant queries over aiohttp, on the event loop.

A query holds no thread: waiting for Prometheus is a suspended coroutine and a socket.
So a Prometheus that accepts connections and never answers holds only its own resources
(at most `connections` sockets per endpoint, see adapters/prometheus_pool.py), never a
worker thread that a Kubernetes call or the kill switch needs. Every failure is turned
into a QueryResult with an error, never an exception: a Prometheus outage must make
checks Inconclusive, not crash a handler.

The error says which failure it was, because the user acts differently on each: a
timeout (Prometheus overloaded, or the query too heavy), an answer that is not JSON (a
proxy or login page in front of Prometheus), bad PromQL (fix the check), or no answer at
all (Prometheus down, wrong URL). Every answer is checked here (status, content type,
then the JSON's shape) before it is parsed, so each case has its own branch.

Credentials (the bearer token, a user:password in the URL) travel in the request only:
never in an error, a log line or a repr. `where` shows the URL with its password masked.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import re
import socket
import ssl
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from modelguard.core.ports import QueryResult

#: How many connections to one Prometheus a pooled client opens at most by default.
CONNECTIONS = 16


class PrometheusClient:
    """The HTTP side of one Prometheus endpoint URL: one aiohttp session (its connection
    pool, bounded, kept alive across queries) shared by every bearer token that queries
    that URL. A token is a request header, not connection state, so sharing the
    connections mixes nothing: answers are told apart by the pool's flight keys. (Basic
    auth is a user:password in the URL, hence a client of its own.)

    The session is opened on the first query, in the running loop, and closed by
    `close()`. Queries wait for a free connection in a semaphore of their own, so a
    query's timeout counts from the moment it is sent, not while it waits its turn
    (as the thread pool before it did); a kill-switch interrupt cancels either wait.
    """

    def __init__(
        self,
        url: str,
        *,
        connections: int = CONNECTIONS,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        # A user:password in the URL is basic auth, and wins over a bearer token, as it
        # did with requests; the request URL goes without it (aiohttp refuses both).
        self._basic = (
            _basic_auth(unquote(parts.username), unquote(parts.password or ""))
            if parts.username is not None
            else None
        )
        self._url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self._proxy = _env_proxy(parts.scheme, parts.hostname or "")
        self.where = f"Prometheus at {redact(url)}"
        self._connections = connections
        self._on_request = on_request
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None or self._slots is None:
            # limit: the connection pool's bound (the semaphore keeps us under it anyway,
            # this is the backstop). trust_env off: with it aiohttp reads ~/.netrc in a
            # worker thread on every request; the proxy variables are read once instead.
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
            self._slots = asyncio.Semaphore(self._connections)
        return self._session, self._slots

    async def query(
        self, promql: str, at: datetime | None, limit: float, token: str | None = None
    ) -> QueryResult:
        """One GET /api/v1/query, given `limit` seconds once sent. Never raises (but
        CancelledError)."""
        session, slots = self._open()
        # Prometheus takes the evaluation time as Unix seconds (fractions allowed).
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        headers = None
        if self._basic is not None:
            headers = {"Authorization": self._basic}
        elif token:
            headers = {"Authorization": f"Bearer {token}"}
        async with slots:
            if self._on_request is not None:
                self._on_request()
            try:
                async with (
                    asyncio.timeout(limit),
                    session.get(
                        f"{self._url}/api/v1/query",
                        params=params,
                        headers=headers,
                        proxy=self._proxy,
                    ) as response,
                ):
                    status = response.status
                    content_type = response.headers.get("Content-Type", "")
                    body = await response.read()
                    charset = response.charset
            except TimeoutError:
                return QueryResult(error=f"{self.where} timed out after {limit:g}s")
            except aiohttp.ClientError as exc:
                return QueryResult(error=f"{self.where} unreachable: {connection_cause(exc)}")
        return self.answer(status, content_type, body, charset)

    def answer(
        self, status: int, content_type: str, body: bytes, charset: str | None = None
    ) -> QueryResult:
        """What an HTTP answer of Prometheus (or of whatever stands at its URL) means."""
        if status != 200 or "json" not in content_type.lower():
            answer = BadAnswer(status, content_type, _decode(body, charset))
            return QueryResult(
                error=describe_answer(self.where, answer), invalid_query=is_bad_promql(answer)
            )
        try:
            data = json.loads(body)
        except ValueError as exc:  # labelled JSON, but not
            return QueryResult(error=f"{self.where} answered with broken JSON: {_short(str(exc))}")
        try:
            result = data["data"]["result"]
        except (KeyError, TypeError):  # JSON, but no data.result in it
            return QueryResult(error=f"{self.where} answered JSON that is not a query result")
        return parse_result(result)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class PrometheusMetrics:
    """One Prometheus endpoint as a MetricsSource on its own (tests, tools): every query
    opens and closes its own session, so it works from any event loop, one after the
    other (asyncio.run per query). The operator uses the pooled sources of
    adapters/prometheus_pool.py instead."""

    def __init__(self, url: str, timeout_seconds: float, token: str | None = None) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._token = token

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        client = PrometheusClient(self._url, connections=1)
        try:
            return await client.query(promql, at, self._timeout, self._token)
        finally:
            await client.close()

    def close(self) -> None:
        """Nothing stays open between queries."""


def _env_proxy(scheme: str, host: str) -> str | None:
    """The proxy HTTP(S)_PROXY names for this host unless NO_PROXY exempts it, as
    requests (hence prometheus-api-client) chose it."""
    if not host or urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(scheme)


def _basic_auth(user: str, password: str) -> str:
    """The Authorization header of basic auth (latin-1, as requests encoded it)."""
    pair = f"{user}:{password}"
    try:
        raw = pair.encode("latin-1")
    except UnicodeEncodeError:
        raw = pair.encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def redact(url: str) -> str:
    """The URL with the password of its user:password@ part (basic auth) masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class BadAnswer:
    """Prometheus (or whatever answers at its URL) sent something other than a result."""

    def __init__(self, status: int, content_type: str, body: str) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _error_body(answer: BadAnswer) -> dict[str, Any] | None:
    """Prometheus' JSON error answer ({"status": "error", ...}), if that is what it is."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("status") == "error" else None


def is_bad_promql(answer: BadAnswer) -> bool:
    """Prometheus refused the query itself (errorType bad_data): the check is wrong."""
    body = _error_body(answer)
    return body is not None and body.get("errorType") == "bad_data"


def describe_answer(where: str, answer: BadAnswer) -> str:
    """What an answer other than a result means, in Prometheus' own words if it has any."""
    body = _error_body(answer)
    if body is not None:
        kind, text = str(body.get("errorType") or ""), str(body.get("error") or "").strip()
        if kind == "bad_data":
            return f"bad PromQL: {_short(text)}"
        return f"{where} failed the query (HTTP {answer.status}, {kind or 'error'}): {_short(text)}"
    what = answer.content_type.split(";")[0].strip() or "no content type"
    return (
        f"{where} answered with non-JSON (HTML?): HTTP {answer.status}, {what}: "
        f"{_short(_text_of(answer.body), 160) or 'empty body'}"
    )


def _text_of(body: str) -> str:
    """The words of an HTML error page (its title and headings), not its markup."""
    without_code = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", body)
    return " ".join(re.sub(r"<[^>]*>", " ", without_code).split())


def connection_cause(error: BaseException) -> str:
    """A short cause for a failed connection, read off the exception chain (aiohttp
    wraps the socket error, and its own repr names the connection key), never the
    exception's long text when a cause is known."""
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "connection closed without an answer"
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "unknown host"
        if isinstance(current, ssl.SSLError):
            return f"TLS: {current.reason or current}"
        if isinstance(current, ConnectionResetError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNRESET
        ):
            return "connection reset"
        if isinstance(current, OSError) and current.errno == errno.ECONNREFUSED:
            return "connection refused"
        nested = getattr(current, "os_error", None)
        if not isinstance(nested, BaseException):
            args = [a for a in current.args if isinstance(a, BaseException)]
            nested = args[0] if args else (current.__cause__ or current.__context__)
        current = nested
    text = str(error).lower()
    if "refused" in text:
        return "connection refused"
    if "disconnected" in text or "without response" in text:
        return "connection closed without an answer"
    return _short(" ".join(str(error).split()), 200) or type(error).__name__


def parse_result(data: Any) -> QueryResult:
    """Reduce an instant-query result (vector or scalar) to one value."""
    if isinstance(data, list) and len(data) == 2 and not isinstance(data[0], dict):
        return QueryResult(value=_number(data[1]), series=1)  # scalar: [time, "value"]
    if not isinstance(data, list):
        return QueryResult(error=f"unexpected result type {type(data).__name__}")
    if len(data) != 1:
        return QueryResult(series=len(data))
    sample = data[0].get("value") if isinstance(data[0], dict) else None
    if not isinstance(sample, list) or len(sample) != 2:
        return QueryResult(error="result is not an instant vector (range query?)")
    return QueryResult(value=_number(sample[1]), series=1)


def _number(text: Any) -> float | None:
    # NaN and infinities pass through: the core judges them Inconclusive, with the value.
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
