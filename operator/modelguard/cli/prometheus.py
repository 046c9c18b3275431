"""The CLI's own Prometheus client: range queries for backtest, instant ones for lint.

Its own, not the operator's adapter (modelguard.adapters.prometheus), because the CLI
never imports the operator's adapters or runtime (an import-linter contract): the adapter
is built for the operator's needs (instant queries in a bounded executor, every failure a
result). A backtest needs range queries, and it must stop on an outage rather than
replay a week of Inconclusive. It speaks the HTTP API through requests (a product
dependency) instead of prometheus-api-client because the answer's errorType is what
tells bad PromQL (replayed as the operator would see it: InvalidQuery) from an outage,
and that client turns error answers into the repr of their body.

Prometheus refuses a range query of more than 11,000 points per series ("exceeded
maximum resolution of 11,000 points per timeseries"): a week at 30 s is 20,161 points,
so a window is fetched in chunks of at most CHUNK_POINTS, on the same step grid, and the
chunks' series are joined by their labels.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from modelguard.cli.errors import CliError, connection_cause
from modelguard.core.ports import QueryResult
from modelguard.core.promresult import reduce_instant, sample_value
from modelguard.core.replay import Recorded, Series

CHUNK_POINTS = 10_000


def read_token(path: str | None) -> str | None:
    """A bearer token from a file (--token-file), as the operator reads it from a Secret."""
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CliError(f"--token-file {path}: {exc.strerror or exc}") from exc


class BadQueryError(Exception):
    """Prometheus refused the query itself (errorType bad_data)."""


class PrometheusClient:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 60.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._progress = progress or (lambda _: None)
        self.range_requests = 0  # HTTP query_range calls made (chunks counted)
        self.range_queries = 0  # rendered queries fetched

    def _get(self, path: str, params: dict[str, str]) -> Any:
        shown = _without_userinfo(self.url)
        where = f"Prometheus at {shown}"
        try:
            response = self._session.get(f"{self.url}{path}", params=params, timeout=self._timeout)
        except requests.Timeout as exc:
            raise CliError(f"{where} timed out after {self._timeout:g}s") from exc
        except requests.RequestException as exc:
            # requests quotes the whole URL, user:password@ included: never print it.
            cause = connection_cause(exc).replace(self.url, shown)
            raise CliError(f"{where} unreachable: {cause}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            kind = response.headers.get("Content-Type", "no content type")
            raise CliError(
                f"{where} answered HTTP {response.status_code} with non-JSON ({kind})"
            ) from exc
        if response.status_code == 200 and body.get("status") == "success":
            return body["data"]
        if body.get("errorType") == "bad_data":
            raise BadQueryError(f"bad PromQL: {body.get('error', '')}")
        if response.status_code in (401, 403):
            raise CliError(
                f"{where} refused the request (HTTP {response.status_code}): check --token-file"
            )
        raise CliError(
            f"{where} failed the query (HTTP {response.status_code}, "
            f"{body.get('errorType', 'error')}): {body.get('error', '')}"
        )

    def query_range(self, promql: str, start: datetime, end: datetime, step: timedelta) -> Recorded:
        """The query at every step from start to end, chunked under Prometheus' limit."""
        seconds = step.total_seconds()
        points = math.floor((end - start).total_seconds() / seconds) + 1
        chunks = math.ceil(points / CHUNK_POINTS)
        self.range_queries += 1
        self._progress(
            f"range query {self.range_queries} ({chunks} request{'s' * (chunks > 1)}): {promql}"
        )
        joined: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for chunk in range(chunks):
            first = chunk * CHUNK_POINTS
            last = min(points, first + CHUNK_POINTS) - 1
            params = {
                "query": promql,
                "start": f"{start.timestamp() + first * seconds:.3f}",
                "end": f"{start.timestamp() + last * seconds:.3f}",
                "step": f"{seconds:g}",
            }
            self.range_requests += 1
            try:
                data = self._get("/api/v1/query_range", params)
            except BadQueryError as exc:
                return Recorded(error=str(exc), invalid_query=True)
            for series in data.get("result") or []:
                key = tuple(sorted((series.get("metric") or {}).items()))
                joined.setdefault(key, []).extend(
                    (float(t), sample_value(v)) for t, v in series["values"]
                )
        return Recorded(tuple(Series.of(dict(k), pts) for k, pts in joined.items()))

    def query(self, promql: str) -> QueryResult:
        """An instant query now, reduced as the operator reduces it (one series, a number)."""
        try:
            data = self._get("/api/v1/query", {"query": promql})
        except BadQueryError as exc:
            return QueryResult(error=str(exc), invalid_query=True)
        return reduce_instant(data)

    def retention(self) -> timedelta | None:
        """How far back the server keeps data (None: it does not say)."""
        try:
            data = self._get("/api/v1/status/runtimeinfo", {})
        except (CliError, BadQueryError):
            return None
        return parse_retention(str(data.get("storageRetention") or ""))

    def close(self) -> None:
        self._session.close()


_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_retention(text: str) -> timedelta | None:
    """Prometheus' "15d" (or "15d or 10GiB"): the time part, None when there is none."""
    head = text.split(" or ", maxsplit=1)[0].strip()
    if len(head) < 2 or head[-1] not in _UNITS or not head[:-1].isdigit():
        return None
    return timedelta(seconds=int(head[:-1]) * _UNITS[head[-1]])


def _without_userinfo(url: str) -> str:
    """The URL as it may be shown: a `user:password@` in it is a credential."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
