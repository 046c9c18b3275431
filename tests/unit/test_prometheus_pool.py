"""The shared Prometheus pool against a small real HTTP server on loopback (aiohttp's):
single flight (one request serves every ask of one key, never a different key's ask),
errors shared by one flight's waiters only, pinned "now", connection reuse and bounds.

The server answers each query with a number derived from what was asked (query, time,
token), so a test can tell whose answer each ask received.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from modelguard.adapters.prometheus_pool import PrometheusPool
from modelguard.core.ports import QueryResult

T = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


class Prom:
    """A loopback Prometheus stand-in; `hold` (when set) makes every answer wait for it,
    `fail` makes answers 503 Prometheus errors while it is set."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.peers: set[object] = set()
        self.in_flight = 0
        self.most_in_flight = 0
        self.hold: asyncio.Event | None = None
        self.fail = False
        self.transports: list[asyncio.BaseTransport] = []
        self.url = ""

    def value(self, query: str, at: str, auth: str) -> float:
        digest = hashlib.sha256(f"{query}|{at}|{auth}".encode()).digest()
        return int.from_bytes(digest[:4]) / 2**32

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.requests.append({**params, "auth": request.headers.get("Authorization", "")})
        assert request.transport is not None
        self.peers.add(request.transport.get_extra_info("peername"))
        self.transports.append(request.transport)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.in_flight -= 1
        if self.fail:
            return web.json_response(
                {"status": "error", "errorType": "unavailable", "error": "busy"}, status=503
            )
        value = self.value(
            params["query"], params.get("time", ""), request.headers.get("Authorization", "")
        )
        return web.json_response(
            {
                "status": "success",
                "data": {
                    "resultType": "vector",
                    "result": [{"metric": {}, "value": [1, str(value)]}],
                },
            }
        )

    def expected(self, query: str, at: float, token: str | None = None) -> float:
        return self.value(query, f"{at:.3f}", f"Bearer {token}" if token else "")


@pytest.fixture
async def prom() -> AsyncIterator[Prom]:
    server = Prom()
    app = web.Application()
    app.router.add_get("/api/v1/query", server.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    if server.hold is not None:
        server.hold.set()
    await runner.cleanup()


class Clocks:
    def __init__(self) -> None:
        self.wall = T + 0.25
        self.mono = 100.0


def pool_for(clocks: Clocks, **kwargs: float) -> PrometheusPool:
    return PrometheusPool(clock=lambda: clocks.wall, monotonic=lambda: clocks.mono, **kwargs)  # type: ignore[arg-type]


async def held_until_waiting(
    prom: Prom, asks: list[asyncio.Task[QueryResult]], requests: int
) -> None:
    """Let the asks reach the server (`requests` of them in flight), then answer."""
    for _ in range(200):
        if prom.in_flight >= requests and all(not a.done() for a in asks):
            await asyncio.sleep(0.05)  # every ask has had its turn to join
            break
        await asyncio.sleep(0.01)
    assert prom.hold is not None
    prom.hold.set()


async def test_identical_asks_share_one_request_and_its_answer(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks)
    prom.hold = asyncio.Event()
    sources = [pool.source(prom.url, 5, None) for _ in range(10)]  # ten objects' evaluations
    asks = [asyncio.create_task(s.query("vector(0.97)")) for s in sources]
    await held_until_waiting(prom, asks, 1)
    results = await asyncio.gather(*asks)
    await pool.close()

    assert len(prom.requests) == 1
    # "now" pinned to the second: the request names it, and every ask got its answer.
    assert prom.requests[0]["time"] == f"{T:.3f}"
    assert {r.value for r in results} == {prom.expected("vector(0.97)", T)}
    assert (pool.stats.queries, pool.stats.requests) == (10, 1)


async def test_a_different_query_time_token_or_timeout_is_a_request_of_its_own(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks)
    prom.hold = asyncio.Event()
    earlier = datetime.fromtimestamp(T - 600, UTC)
    asked = [
        (pool.source(prom.url, 5, None), "a", None),
        (pool.source(prom.url, 5, None), "b", None),
        (pool.source(prom.url, 5, None), "a", earlier),
        (pool.source(prom.url, 5, "token-1"), "a", None),
        (pool.source(prom.url, 5, "token-2"), "a", None),
        (pool.source(prom.url, 7, None), "a", None),
    ]
    asks = [asyncio.create_task(s.query(q, at)) for s, q, at in asked]
    await held_until_waiting(prom, asks, len(asked))
    results = await asyncio.gather(*asks)
    await pool.close()

    assert len(prom.requests) == len(asked)
    expected = [
        prom.expected("a", T),
        prom.expected("b", T),
        prom.expected("a", T - 600),
        prom.expected("a", T, "token-1"),
        prom.expected("a", T, "token-2"),
        prom.expected("a", T),  # another timeout: another flight, the same question
    ]
    assert [r.value for r in results] == expected


async def test_a_failure_reaches_that_flights_waiters_only_and_is_not_kept(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks)
    prom.hold, prom.fail = asyncio.Event(), True
    source = pool.source(prom.url, 5, None)
    asks = [asyncio.create_task(source.query("up")) for _ in range(3)]
    await held_until_waiting(prom, asks, 1)
    failed = await asyncio.gather(*asks)
    assert len(prom.requests) == 1
    assert all(r.error is not None and "HTTP 503" in r.error for r in failed)

    prom.fail = False  # the same key, the same tick: asked again, not answered from memory
    again = await source.query("up")
    await pool.close()
    assert len(prom.requests) == 2
    assert (again.error, again.value) == (None, prom.expected("up", T))


async def test_a_result_answers_its_key_for_one_tick_then_is_asked_again(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks, tick=1.0)
    source = pool.source(prom.url, 5, None)
    first = await source.query("up")
    clocks.wall += 0.5  # the same second: the same key
    clocks.mono += 0.5
    assert await source.query("up") == first
    assert len(prom.requests) == 1

    clocks.wall += 1  # the next second: a new instant, a new request
    clocks.mono += 1
    later = await source.query("up")
    assert len(prom.requests) == 2
    assert later.value == prom.expected("up", T + 1)

    pinned = datetime.fromtimestamp(T - 60, UTC)
    await source.query("up", pinned)
    clocks.mono += 1.5  # an explicit time: kept one tick only, asked again after it
    await source.query("up", pinned)
    await pool.close()
    assert len(prom.requests) == 4


async def test_an_interrupted_asker_leaves_the_answer_to_the_others(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks)
    prom.hold = asyncio.Event()
    source = pool.source(prom.url, 5, None)
    asks = [asyncio.create_task(source.query("up")) for _ in range(3)]
    for _ in range(200):
        if prom.in_flight:
            break
        await asyncio.sleep(0.01)
    asks[0].cancel()  # the kill switch interrupts one object's evaluation
    await asyncio.sleep(0.05)
    prom.hold.set()
    rest = await asyncio.gather(*asks[1:])
    await pool.close()
    assert asks[0].cancelled()
    assert all(r.value == prom.expected("up", T) for r in rest)
    assert len(prom.requests) == 1


async def test_a_flight_nobody_waits_for_is_cancelled_and_not_joined(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks, connections=1)
    prom.hold = asyncio.Event()  # the first request hangs for good
    source = pool.source(prom.url, 5, None)
    ask = asyncio.create_task(source.query("up"))
    for _ in range(200):
        if prom.in_flight:
            break
        await asyncio.sleep(0.01)
    hung, prom.hold = prom.hold, None  # later requests are answered at once
    ask.cancel()
    for _ in range(200):  # the request is dropped: its connection closed
        if all(t.is_closing() for t in prom.transports):
            break
        await asyncio.sleep(0.01)
    assert all(t.is_closing() for t in prom.transports)
    # A new flight of the key, not the cancelled one; and through the one connection slot,
    # so the cancelled request gave it back.
    again = await asyncio.wait_for(source.query("up"), 2)
    hung.set()
    await pool.close()
    assert again.value == prom.expected("up", T)
    assert len(prom.requests) == 2


async def test_evaluations_reuse_the_endpoints_connections(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks, tick=0)  # no sharing: every query is a request
    for i in range(5):  # five evaluations, one after the other, each its own source
        source = pool.source(prom.url, 5, f"token-{i % 2}")
        assert (await source.query(f"q{i}")).error is None
        source.close()
    assert pool.stats.clients == 1
    await pool.close()
    assert len(prom.requests) == 5
    assert len(prom.peers) == 1, "a new connection per evaluation"


async def test_connections_to_an_endpoint_are_bounded(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks, connections=2)
    prom.hold = asyncio.Event()
    source = pool.source(prom.url, 5, None)
    asks = [asyncio.create_task(source.query(f"q{i}")) for i in range(6)]
    await asyncio.sleep(0.3)
    assert prom.in_flight == 2  # the others wait their turn, not on a socket
    prom.hold.set()
    results = await asyncio.gather(*asks)
    await pool.close()
    assert prom.most_in_flight == 2
    assert [r.value for r in results] == [prom.expected(f"q{i}", T) for i in range(6)]


async def test_a_wait_for_a_connection_is_not_counted_in_the_query_timeout(prom: Prom) -> None:
    clocks = Clocks()
    pool = pool_for(clocks, connections=1)
    prom.hold = asyncio.Event()
    source = pool.source(prom.url, 1, None)
    first = asyncio.create_task(source.query("q1"))
    second = asyncio.create_task(source.query("q2"))
    await asyncio.sleep(1.5)  # q1 runs out its 1 s; q2 waited, and now has its own 1 s
    prom.hold.set()
    one, two = await asyncio.gather(first, second)
    await pool.close()
    assert one.error == f"Prometheus at {prom.url} timed out after 1s"
    assert (two.error, two.value) == (None, prom.expected("q2", T))


async def test_no_credential_in_errors_or_reprs(prom: Prom) -> None:
    pool = PrometheusPool()
    port = prom.url.rsplit(":", 1)[1]
    source = pool.source(f"http://alice:s3cret@127.0.0.1:{port}/nowhere", 5, "t0ken")
    result = await source.query("up")
    await pool.close()
    assert result.error is not None
    assert result.error.startswith(f"Prometheus at http://alice:***@127.0.0.1:{port}/nowhere ")
    for text in (result.error, repr(source), repr(pool.stats)):
        assert "s3cret" not in text and "t0ken" not in text
    assert prom.requests == []  # /nowhere/api/v1/query: not the query route


async def test_basic_auth_in_the_url_is_sent_as_such(prom: Prom) -> None:
    pool = PrometheusPool()
    port = prom.url.rsplit(":", 1)[1]
    source = pool.source(f"http://alice:s3cret@127.0.0.1:{port}", 5, None)
    result = await source.query("up")
    await pool.close()
    assert result.error is None
    [request] = prom.requests
    assert request["auth"] == "Basic YWxpY2U6czNjcmV0"  # alice:s3cret
