"""Metrics source on Prometheus, via prometheus-api-client.

The client is synchronous (requests), so each query runs in a worker thread to keep
kopf's event loop free: in the bounded executor the runtime gives every source, never
the one Kubernetes calls use. A Prometheus that accepts connections and never answers
holds each thread for the whole timeout; in a pool of its own that only slows other
evaluations, it cannot starve the kill switch's patches. Every failure is turned into a
QueryResult with an error, never an exception: a Prometheus outage must make checks
Inconclusive, not crash a handler.

The error says which failure it was, because the user acts differently on each: a
timeout (Prometheus overloaded, or the query too heavy), an answer that is not JSON (a
proxy or login page in front of Prometheus), bad PromQL (fix the check), or no answer at
all (Prometheus down, wrong URL). prometheus-api-client blurs these: with retries off,
urllib3 reports a read timeout as "max retries exceeded", which requests turns into a
ConnectionError; a non-JSON body raises requests' JSONDecodeError, a RequestException;
and a non-200 answer becomes an exception whose text is the Python repr of the body. So
the session checks each answer itself (a response hook) before the client parses it.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from modelguard.core.ports import QueryResult


class _BadAnswerError(Exception):
    """Prometheus (or whatever answers at its URL) sent something other than a result."""

    def __init__(self, status: int, content_type: str, body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.content_type = content_type
        self.body = body


def _check_answer(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """requests response hook: only a 200 JSON answer reaches the client's parser."""
    content_type = response.headers.get("Content-Type", "")
    if response.status_code == 200 and "json" in content_type.lower():
        return response
    raise _BadAnswerError(response.status_code, content_type, response.text)


class PrometheusMetrics:
    """One Prometheus endpoint; implements modelguard.core.ports.MetricsSource."""

    def __init__(
        self,
        url: str,
        timeout_seconds: float,
        token: str | None = None,
        *,
        executor: Executor | None = None,
    ) -> None:
        """executor: where the blocking queries run (None: asyncio's default executor)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        session = requests.Session()
        session.hooks["response"].append(_check_answer)
        # No client-side retries: the evaluation interval is the retry loop, and a retry
        # storm against a struggling Prometheus would only stretch a tick past its interval.
        # read=False: a read timeout is raised as such, not as "max retries exceeded" (a
        # ConnectionError), so it can be told apart from a refused connection.
        self._client = PrometheusConnect(
            url=url.rstrip("/"),
            headers=headers,
            retry=Retry(total=0, read=False),
            timeout=timeout_seconds,
            session=session,
        )
        self._url = url
        self._timeout = timeout_seconds
        self._executor = executor

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._query, promql, at)

    def _query(self, promql: str, at: datetime | None = None) -> QueryResult:
        where = f"Prometheus at {self._url}"
        # Prometheus takes the evaluation time as Unix seconds (fractions allowed).
        params = None if at is None else {"time": f"{at.timestamp():.3f}"}
        try:
            data = self._client.custom_query(query=promql, params=params)
        except _BadAnswerError as answer:
            return QueryResult(
                error=describe_answer(where, answer), invalid_query=is_bad_promql(answer)
            )
        except requests.Timeout:
            return QueryResult(error=f"{where} timed out after {self._timeout:g}s")
        except requests.JSONDecodeError as exc:  # labelled JSON, but not
            return QueryResult(error=f"{where} answered with broken JSON: {_short(str(exc))}")
        except requests.RequestException as exc:
            return QueryResult(error=f"{where} unreachable: {connection_cause(exc)}")
        except (KeyError, TypeError):  # JSON, but no data.result in it
            return QueryResult(error=f"{where} answered JSON that is not a query result")
        return parse_result(data)

    def close(self) -> None:
        self._client.close()


def _error_body(answer: _BadAnswerError) -> dict[str, Any] | None:
    """Prometheus' JSON error answer ({"status": "error", ...}), if that is what it is."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("status") == "error" else None


def is_bad_promql(answer: _BadAnswerError) -> bool:
    """Prometheus refused the query itself (errorType bad_data): the check is wrong."""
    body = _error_body(answer)
    return body is not None and body.get("errorType") == "bad_data"


def describe_answer(where: str, answer: _BadAnswerError) -> str:
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
    """A short cause for a failed connection, read off the exception chain (urllib3 wraps
    the socket error two or three levels deep, in a long repr)."""
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
        if isinstance(current, ConnectionResetError):
            return "connection reset"
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            args = [a for a in current.args if isinstance(a, BaseException)]
            nested = args[0] if args else (current.__cause__ or current.__context__)
        current = nested
    text = str(error).lower()
    if "refused" in text:
        return "connection refused"
    if "remotedisconnected" in text or "without response" in text:
        return "connection closed without an answer"
    return _short(" ".join(str(error).split()), 200)


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
