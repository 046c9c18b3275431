"""Metrics source on Prometheus, via prometheus-api-client.

The client is synchronous (requests), so each query runs in a worker thread to keep
kopf's event loop free: in the bounded executor the runtime gives every source, never
the one Kubernetes calls use. A Prometheus that accepts connections and never answers
holds each thread for the whole timeout; in a pool of its own that only slows other
evaluations, it cannot starve the kill switch's patches. Every failure is turned into a
QueryResult with an error, never an exception: a Prometheus outage must make checks
Inconclusive, not crash a handler.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from modelguard.core.ports import QueryResult


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
        # No client-side retries: the evaluation interval is the retry loop, and a retry
        # storm against a struggling Prometheus would only stretch a tick past its interval.
        self._client = PrometheusConnect(
            url=url.rstrip("/"), headers=headers, retry=Retry(total=0), timeout=timeout_seconds
        )
        self._url = url
        self._executor = executor

    async def query(self, promql: str) -> QueryResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._query, promql)

    def _query(self, promql: str) -> QueryResult:
        try:
            data = self._client.custom_query(query=promql)
        except PrometheusApiClientException as exc:
            return QueryResult(error=f"Prometheus rejected the query: {_short(str(exc))}")
        except requests.Timeout:
            return QueryResult(error=f"Prometheus at {self._url} timed out")
        except requests.RequestException as exc:
            return QueryResult(error=f"Prometheus at {self._url} unreachable: {_short(str(exc))}")
        except ValueError as exc:  # a proxy answering HTML instead of JSON
            return QueryResult(error=f"Prometheus at {self._url} sent no JSON: {_short(str(exc))}")
        return parse_result(data)

    def close(self) -> None:
        self._client.close()


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
