"""runtime.leadership: replicas competing for one (fake) Lease on one fake monotonic clock.

Who leads, when a holder stops acting (a partition, a hung API server), how soon a standby
takes over after a crash or a release, and that of two standbys racing only one wins.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from modelguard.core.api import KillSwitchStatus, ModelDeploymentStatus, Phase
from modelguard.core.leader import Election, Timings
from modelguard.runtime import telemetry
from modelguard.runtime.leadership import Leadership
from tests.unit.fake_leases import LeaseStore

WALL = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class FakeMonotonic:
    """Time moves only in run_until(), from one sleeper's wake-up to the next."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    async def run_until(self, end: float) -> None:
        await settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            if not future.done():
                future.set_result(None)
            await settle()
        self.now = max(self.now, end)

    async def advance(self, seconds: float) -> None:
        await self.run_until(self.now + seconds)


class Replica:
    """One operator's election, with what its scheduler was told."""

    def __init__(self, name: str, store: LeaseStore, clock: FakeMonotonic) -> None:
        self.name = name
        self.events: list[tuple[str, float]] = []  # ("lead" | "lose", time)
        self._clock = clock
        self.leadership = Leadership(
            store.client(name),
            Election(name, Timings()),
            on_lead=lambda: self.events.append(("lead", clock.now)),
            on_lose=self._lose,
            clock=clock,
            wall=lambda: WALL,
            sleep=clock.sleep,
        )

    async def _lose(self) -> None:
        self.events.append(("lose", self._clock.now))

    def leading(self) -> bool:
        return self.leadership.leading()


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@asynccontextmanager
async def replicas(
    store: LeaseStore, clock: FakeMonotonic, *names: str
) -> AsyncIterator[list[Replica]]:
    started = [Replica(name, store, clock) for name in names]
    tasks = []
    for replica in started:
        tasks.append(replica.leadership.start())
        await settle()  # in order: the first one named creates the Lease
    try:
        yield started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_first_replica_leads_the_other_waits(clock: FakeMonotonic) -> None:
    store = LeaseStore()
    async with replicas(store, clock, "a", "b") as (a, b):
        await clock.advance(60)
        assert a.leading()
        assert not b.leading()
        assert a.events == [("lead", 1000.0)]
        assert b.events == []
        assert store.holder() == "a"
        # a renewed every retry period; b never wrote.
        renewals = [t for who, t in store.writes if who == "a"]
        assert len(renewals) == 31
        assert {who for who, _ in store.writes} == {"a"}


async def test_the_gauge_follows_leadership(clock: FakeMonotonic) -> None:
    store = LeaseStore()
    async with replicas(store, clock, "a"):
        await clock.advance(1)
        assert REGISTRY.get_sample_value("modelguard_leader") == 1
        rolled_back = ModelDeploymentStatus(
            phase=Phase.ROLLED_BACK, kill_switch=KillSwitchStatus(engaged=True)
        )
        telemetry.observe("ns", "m", rolled_back)
        store.cut.add("a")
        await clock.advance(11)
        assert REGISTRY.get_sample_value("modelguard_leader") == 0
        # The per-object series are the leader's: a standby reports none, so an alert
        # the new leader resolved does not go on firing from here.
        engaged = {"namespace": "ns", "name": "m"}
        assert REGISTRY.get_sample_value("modelguard_kill_switch_engaged", engaged) is None
        info = {**engaged, "phase": "RolledBack", "version": ""}
        assert REGISTRY.get_sample_value("modelguard_info", info) is None


async def test_a_crashed_leader_is_replaced_within_lease_duration(clock: FakeMonotonic) -> None:
    """A SIGKILL: the holder's loop just stops, nothing is released."""
    store = LeaseStore()
    async with replicas(store, clock, "a", "b") as (a, b):
        await clock.advance(7.3)
        assert a.leadership._task is not None
        a.leadership._task.cancel()
        killed = clock.now
        await clock.advance(20)
        assert store.holder() == "b"
        [(what, took_over)] = b.events
        assert what == "lead"
        # a last renewed at 1006 (every 2 s from 1000): b takes over no later than 15 s
        # after that renewal, and not before a would have stopped (1016).
        assert 1016.0 <= took_over <= 1006.0 + 15.0
        assert took_over - killed <= 15.0


async def test_a_partitioned_leader_stops_at_its_renew_deadline(clock: FakeMonotonic) -> None:
    store = LeaseStore()
    async with replicas(store, clock, "a", "b") as (a, b):
        await clock.advance(4)  # renewed at 1000, 1002, 1004
        store.cut.add("a")
        await clock.advance(9.9)
        assert a.leading()  # 1013.9: the last renewal started at 1004
        await clock.advance(0.2)
        assert not a.leading()  # 1014.1: judged on the spot
        await clock.advance(0.1)
        assert a.events == [("lead", 1000.0), ("lose", 1014.0)]
        await clock.advance(30)
        [(_, took_over)] = b.events
        assert took_over >= 1014.0 + 3.0  # the 3 s margin of core.leader's argument
        assert store.holder() == "b"
        # Back from the partition, a sees b holding it and stays a standby.
        store.cut.discard("a")
        await clock.advance(30)
        assert not a.leading()
        assert b.leading()
        assert a.events[-1][0] == "lose"


async def test_a_hung_api_server_cannot_keep_a_leader_acting(clock: FakeMonotonic) -> None:
    """Calls that never return: the loop's next turn never comes, but leading() is judged
    on the clock, so the reconciler's gate closes at the deadline all the same."""
    store = LeaseStore()
    async with replicas(store, clock, "a") as (a,):
        await clock.advance(2)  # renewals at 1000 and 1002
        store.hung.add("a")
        await clock.advance(9.9)
        assert a.leading()
        await clock.advance(0.2)
        assert not a.leading()


async def test_a_hung_renewal_times_out_at_the_deadline() -> None:
    """On the real clock, with short timings: the call is abandoned when the renew
    deadline passes, and the scheduler is paused then (not when the call ends)."""
    store = LeaseStore()
    lost = asyncio.Event()

    async def lose() -> None:
        lost.set()

    leadership = Leadership(
        store.client("a"),
        Election("a", Timings(lease_duration=1.5, renew_deadline=0.5, retry_period=0.1)),
        on_lead=lambda: None,
        on_lose=lose,
    )
    task = leadership.start()
    try:
        await asyncio.sleep(0.05)
        assert leadership.leading()
        store.hung.add("a")
        started = time.monotonic()
        await asyncio.wait_for(lost.wait(), timeout=10)
        assert time.monotonic() - started <= 10
        assert not leadership.leading()
        assert not store.release.is_set()  # the call is still hanging: lost anyway
    finally:
        store.release.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_graceful_stop_hands_over_within_a_retry_period(clock: FakeMonotonic) -> None:
    store = LeaseStore()
    async with replicas(store, clock, "a", "b") as (a, b):
        await clock.advance(5)
        await a.leadership.stop()
        stopped = clock.now
        assert store.record is not None
        assert (store.record.holder, store.record.duration) == ("", 1.0)
        assert not a.leading()
        await clock.advance(5)
        [(_, took_over)] = b.events
        assert took_over - stopped <= 2.0
        assert store.holder() == "b"


async def test_two_standbys_racing_for_a_released_lease_one_wins(clock: FakeMonotonic) -> None:
    store = LeaseStore()
    async with replicas(store, clock, "a", "b", "c") as (a, b, c):
        await clock.advance(3)
        await a.leadership.stop()
        await clock.advance(10)
        leaders = [r.name for r in (b, c) if r.leading()]
        assert len(leaders) == 1
        assert store.holder() == leaders[0]
        assert store.record is not None
        assert store.record.transitions == 1


async def test_a_restart_under_the_same_identity_takes_the_lease_back_at_once(
    clock: FakeMonotonic,
) -> None:
    """A container restarted in its pod keeps the pod name: it needs no expiry."""
    store = LeaseStore()
    async with replicas(store, clock, "a") as (first,):
        await clock.advance(3)
        assert first.leadership._task is not None
        first.leadership._task.cancel()
    async with replicas(store, clock, "a") as (again,):
        await clock.advance(0)
        assert again.events == [("lead", clock.now)]


async def test_after_an_outage_the_lease_is_taken_back_within_the_failure_retry(
    clock: FakeMonotonic,
) -> None:
    """Every call fails for 25 s (the API server is down): the leader stops at its renew
    deadline, retries every 0.5 s meanwhile, and leads again within 0.5 s of the server
    answering, not a retry period (2 s) later."""
    store = LeaseStore()
    async with replicas(store, clock, "a") as (a,):
        await clock.advance(1)
        store.cut.add("a")
        await clock.advance(25)
        assert not a.leading()
        back = clock.now
        store.cut.discard("a")
        await clock.advance(0.5)
        assert a.leading()
        assert a.events[-1][0] == "lead"
        assert a.events[-1][1] - back <= 0.5
