"""Every evaluation's Prometheus queries through one shared pool: pooled connections per
endpoint, and identical queries of one tick answered by one HTTP request.

Why. An evaluation used to open a new HTTP session (a TCP, maybe TLS, handshake) for
its handful of queries, and a fleet whose checks come from one template asks the same
question many times a second: `vector(0.97)`, a gateway's error rate, the stable arm of
a comparison. Here:

- one client (connection pool, bounded) per endpoint URL, kept for the operator's life
  and closed on shutdown (`close`); a bearer token is a header of each request, so a
  rotated token needs no new connections;
- single flight: a query is keyed by (endpoint, credential, timeout, PromQL,
  evaluation time). While a request for a key is in flight, every other ask of that key
  waits for it; its answer, when it is a result (not an error), also answers asks of
  the key that come within the next `tick` seconds. An error is given to the waiters of
  that one request only, never kept: the next ask tries again;
- "now" is pinned: a query without a time is sent at the current time rounded down to
  `tick` (1 s by default), so that the checks of one object, and objects evaluated in
  the same second, ask for the same instant and can share. An answer is therefore never
  for a different time than the one its key names, and at most `tick` older than the
  moment it was asked for (Prometheus' own scrape interval is usually 15 s or more).

The credential is part of the key as a SHA-256 digest: an answer given to one bearer
token is never served to another (a multi-tenant proxy in front of Prometheus answers
per token), and no key, repr or log line holds the token itself.

If nobody waits for a flight any more (every asker was interrupted by the kill switch),
its request is cancelled: the connection goes back to the pool at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from modelguard.adapters.prometheus import CONNECTIONS, PrometheusClient
from modelguard.core.ports import QueryResult

#: (endpoint, credential digest, timeout, PromQL, evaluation time as Unix seconds)
FlightKey = tuple[str, str, float, str, float]


@dataclass
class _Flight:
    task: asyncio.Task[QueryResult]
    waiters: int = 0


@dataclass
class PoolStats:
    """What the pool did, for the operator's metrics and the benchmarks."""

    queries: int = 0  # asked by evaluations
    requests: int = 0  # HTTP requests actually sent
    clients: int = 0  # endpoints with a client


class PrometheusPool:
    """The operator's Prometheus clients; `source` is the runtime's MetricsFactory."""

    def __init__(
        self,
        *,
        connections: int = CONNECTIONS,
        tick: float = 1.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_query: Callable[[], None] | None = None,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        """tick: the resolution of "now" and how long a result answers its key (0: no
        sharing, every query sent as asked). on_query/on_request: counters to bump per
        query asked and per HTTP request sent."""
        self._connections = connections
        self._tick = tick
        self._clock = clock
        self._monotonic = monotonic
        self._on_query = on_query
        self._on_request = on_request
        self._clients: dict[str, PrometheusClient] = {}
        self._flights: dict[FlightKey, _Flight] = {}
        self._answers: dict[FlightKey, tuple[float, QueryResult]] = {}
        self._next_sweep = 0.0
        self.stats = PoolStats()

    def source(self, url: str, timeout: float, token: str | None) -> PooledSource:
        """A MetricsSource for one evaluation; closing it closes nothing shared."""
        return PooledSource(self, url, timeout, token)

    def client(self, url: str) -> PrometheusClient:
        """The one client of the endpoint `url` (a user:password in it, basic auth, makes
        it another endpoint; a bearer token is a header of each request)."""
        client = self._clients.get(url)
        if client is None:
            client = PrometheusClient(url, connections=self._connections, on_request=self._sent)
            self._clients[url] = client
            self.stats.clients = len(self._clients)
        return client

    async def query(
        self, url: str, limit: float, token: str | None, promql: str, at: datetime | None
    ) -> QueryResult:
        self.stats.queries += 1
        if self._on_query is not None:
            self._on_query()
        client = self.client(url)
        if self._tick <= 0:
            return await client.query(promql, at, limit, token)
        when = self._pin(at)
        key: FlightKey = (url, _digest(token), limit, promql, when.timestamp())
        kept = self._answers.get(key)
        if kept is not None and kept[0] > self._monotonic():
            return kept[1]
        flight = self._flights.get(key)
        if flight is None:
            task = asyncio.create_task(client.query(promql, when, limit, token))
            flight = self._flights[key] = _Flight(task)
            task.add_done_callback(lambda done: self._landed(key, flight, done))
        flight.waiters += 1
        try:
            # shield: an asker interrupted (cancelled) leaves the request to the others.
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                # Nobody wants the answer any more: free the connection now. A later ask
                # of the key starts a flight of its own.
                if self._flights.get(key) is flight:
                    del self._flights[key]
                flight.task.cancel()

    def _pin(self, at: datetime | None) -> datetime:
        if at is not None:
            return at
        now = self._clock()
        return datetime.fromtimestamp(math.floor(now / self._tick) * self._tick, UTC)

    def _sent(self) -> None:
        self.stats.requests += 1
        if self._on_request is not None:
            self._on_request()

    def _landed(self, key: FlightKey, flight: _Flight, task: asyncio.Task[QueryResult]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        now = self._monotonic()
        if now >= self._next_sweep:
            # Forget what has expired, at most once a tick (a sweep per answer would cost
            # a fleet's worth of keys each time): the memo holds about two ticks' answers.
            for old in [k for k, (until, _) in self._answers.items() if until <= now]:
                del self._answers[old]
            self._next_sweep = now + self._tick
        if task.cancelled() or task.exception() is not None:
            return
        result = task.result()
        if result.error is None:  # an error is never kept: the next ask tries again
            self._answers[key] = (now + self._tick, result)

    async def close(self) -> None:
        """Cancel what is in flight and close every client (the operator's shutdown)."""
        for flight in list(self._flights.values()):
            flight.task.cancel()
        self._flights.clear()
        self._answers.clear()
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


class PooledSource:
    """One evaluation's view of the pool (implements core.ports.MetricsSource)."""

    def __init__(self, pool: PrometheusPool, url: str, timeout: float, token: str | None):
        self._pool = pool
        self._url = url
        self._timeout = timeout
        self._token = token

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        return await self._pool.query(self._url, self._timeout, self._token, promql, at)

    def close(self) -> None:
        """The connections belong to the pool: nothing to release per evaluation."""

    def __repr__(self) -> str:  # never the token
        return f"PooledSource({self._pool.client(self._url).where})"


def _digest(token: str | None) -> str:
    return "" if token is None else hashlib.sha256(token.encode()).hexdigest()
