"""The scheduler: its bookkeeping of what each ModelDeployment guards, the filter that
keeps watch events which changed nothing that matters from kicking reconciles, the loop
(coalescing, requeue-after, backoff) on a fake clock, and its supervision."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from modelguard.runtime.scheduler import Scheduler


async def _never(namespace: str, name: str) -> datetime | None:
    raise AssertionError("no reconcile runs in these tests")


def scheduler() -> Scheduler:
    return Scheduler(_never)


def test_guards_follow_the_latest_targets() -> None:
    s = scheduler()
    s.watch(("ns", "a"), [("deployment", "scorer"), ("service", "scorer")])
    s.watch(("ns", "b"), [("deployment", "scorer")])
    assert s.guards_of("deployment", "ns", "scorer") == {("ns", "a"), ("ns", "b")}
    assert s.guards_of("service", "ns", "scorer") == {("ns", "a")}
    assert s.guards_of("deployment", "other", "scorer") == set()

    s.watch(("ns", "a"), [("deployment", "scorer-v2")])  # targetRef edited, fallback removed
    assert s.guards_of("deployment", "ns", "scorer") == {("ns", "b")}
    assert s.guards_of("deployment", "ns", "scorer-v2") == {("ns", "a")}
    assert s.guards_of("service", "ns", "scorer") == set()

    s.forget(("ns", "b"))
    assert s.guards_of("deployment", "ns", "scorer") == set()
    assert s._watchers == {("deployment", "ns", "scorer-v2"): {("ns", "a")}}


def test_changed_reports_only_a_new_look() -> None:
    s = scheduler()
    assert s.changed("deployment", "ns", "scorer", 1)  # first sight
    assert not s.changed("deployment", "ns", "scorer", 1)  # a status-only update
    assert s.changed("deployment", "ns", "scorer", 2)  # kubectl scale: new generation
    assert not s.changed("deployment", "ns", "scorer", 2)
    assert s.changed("deployment", "other", "scorer", 2)  # per namespace and name
    s.unseen("deployment", "ns", "scorer")  # deleted: a re-created one is news
    assert s.changed("deployment", "ns", "scorer", 2)


def test_a_target_nobody_guards_any_more_is_forgotten() -> None:
    s = scheduler()
    s.watch(("ns", "a"), [("deployment", "scorer")])
    assert s.changed("deployment", "ns", "scorer", 3)
    s.watch(("ns", "a"), [])
    s.watch(("ns", "a"), [("deployment", "scorer")])
    assert s.changed("deployment", "ns", "scorer", 3)  # guarded anew: looked at anew


def test_kick_guards_queues_every_guard_now() -> None:
    s = scheduler()
    s.watch(("ns", "a"), [("deployment", "scorer")])
    s.watch(("ns", "b"), [("deployment", "scorer")])
    s.kick_guards("deployment", "ns", "scorer")
    assert set(s._due) == {("ns", "a"), ("ns", "b")}
    assert s.size == 2


# ------------------------------------------------------------------ the loop, on fake time

KEY = ("ns", "fraud")
START = datetime(2026, 1, 1, tzinfo=UTC)


async def settle() -> None:
    """Let every task that can make progress do so (nothing here waits on real I/O)."""
    for _ in range(50):
        await asyncio.sleep(0)


class FakeTime:
    """A clock that moves only when the test says so, and the scheduler's wait on it:
    the wait ends when the event is set or the clock passed its deadline."""

    def __init__(self) -> None:
        self.now = START
        self._moved = asyncio.Event()

    def clock(self) -> datetime:
        return self.now

    def offset(self) -> float:
        return (self.now - START).total_seconds()

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move time on in steps, letting the scheduler act at each one."""
        end = self.now + timedelta(seconds=seconds)
        while self.now < end:
            self.now = min(end, self.now + timedelta(seconds=step))
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()
            await settle()

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        deadline = self.now + timedelta(seconds=seconds)
        while not event.is_set() and self.now < deadline:
            waiters = [asyncio.create_task(event.wait()), asyncio.create_task(self._moved.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


async def stopped(s: Scheduler) -> None:
    # A real (short) timeout: a stop() that left something running must fail, not hang.
    await asyncio.wait_for(s.stop(), timeout=5.0)


@contextlib.asynccontextmanager
async def running(s: Scheduler) -> AsyncIterator[Scheduler]:
    s.start()
    try:
        yield s
    finally:
        await stopped(s)
    assert s.failure is None


async def test_kicks_during_a_reconcile_coalesce_into_one_more_run(fake_time: FakeTime) -> None:
    release = asyncio.Event()
    calls = 0
    active = peak = 0

    async def reconcile(namespace: str, name: str) -> datetime | None:
        nonlocal calls, active, peak
        calls += 1
        active += 1
        peak = max(peak, active)
        await release.wait()
        active -= 1
        return None

    async with running(Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)) as s:
        s.kick(KEY)
        await settle()
        assert calls == 1
        for _ in range(10):  # a burst of watch events while it runs
            s.kick(KEY)
        await settle()
        assert calls == 1  # never two at once for one object
        release.set()
        await settle()
        assert calls == 2  # the burst is one more run, right after
        await fake_time.advance(600)
        assert calls == 2  # and nothing more: the reconcile asked for no next time
        assert peak == 1


async def test_a_reconcile_runs_again_when_it_asks_and_not_before(fake_time: FakeTime) -> None:
    runs: list[float] = []

    async def reconcile(namespace: str, name: str) -> datetime | None:
        runs.append(fake_time.offset())
        return fake_time.now + timedelta(seconds=30)

    async with running(Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)) as s:
        s.kick(KEY)
        await settle()
        await fake_time.advance(29)
        assert runs == [0]
        await fake_time.advance(1)
        assert runs == [0, 30]
        await fake_time.advance(45)
        assert runs == [0, 30, 60]
        s.kick(KEY)  # a watch event does not wait for the next due time
        await settle()
        assert runs == [0, 30, 60, 75]
        await fake_time.advance(29)
        assert runs == [0, 30, 60, 75]  # the kicked run set the next due time: 75 + 30
        await fake_time.advance(1)
        assert runs == [0, 30, 60, 75, 105]


async def test_failed_reconciles_back_off_up_to_the_cap_and_reset_after_success(
    fake_time: FakeTime,
) -> None:
    outcomes = ["fail"] * 5 + ["ok"] + ["fail"] * 2 + ["done"]
    runs: list[float] = []

    async def reconcile(namespace: str, name: str) -> datetime | None:
        runs.append(fake_time.offset())
        outcome = outcomes.pop(0)
        if outcome == "fail":
            raise RuntimeError("API unreachable")
        return fake_time.now + timedelta(seconds=1) if outcome == "ok" else None

    s = Scheduler(reconcile, max_backoff=10.0, clock=fake_time.clock, wait=fake_time.wait)
    async with running(s):
        s.kick(KEY)
        await settle()
        await fake_time.advance(120)
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    # 2, 4, 8 s, then capped at 10; the success asks for 1 s and resets: 2, 4 s again.
    assert gaps == [2, 4, 8, 10, 10, 1, 2, 4]
    assert outcomes == []
    assert s._failures == {}


async def test_kick_guards_reconciles_each_guard_once(fake_time: FakeTime) -> None:
    runs: list[tuple[str, str]] = []

    async def reconcile(namespace: str, name: str) -> datetime | None:
        runs.append((namespace, name))
        return None

    async with running(Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)) as s:
        s.watch(("ns", "a"), [("deployment", "scorer"), ("service", "scorer")])
        s.watch(("ns", "b"), [("deployment", "scorer")])
        s.watch(("ns", "c"), [("deployment", "other")])
        s.kick_guards("deployment", "ns", "scorer")
        s.kick_guards("deployment", "elsewhere", "scorer")
        await settle()
        assert sorted(runs) == [("ns", "a"), ("ns", "b")]
        s.kick_guards("service", "ns", "scorer")
        await settle()
        assert sorted(runs) == [("ns", "a"), ("ns", "a"), ("ns", "b")]


async def test_a_forgotten_object_is_not_reconciled_again(fake_time: FakeTime) -> None:
    runs: list[float] = []

    async def reconcile(namespace: str, name: str) -> datetime | None:
        runs.append(fake_time.offset())
        return fake_time.now + timedelta(seconds=30)

    async with running(Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)) as s:
        s.watch(KEY, [("deployment", "scorer")])
        assert s.changed("modeldeployment", *KEY, (1, []))
        s.kick(KEY)
        await settle()
        assert runs == [0]
        assert s.size == 1  # due again in 30 s
        s.forget(KEY)  # the ModelDeployment was deleted
        assert s.size == 0
        assert s.guards_of("deployment", "ns", "scorer") == set()
        assert s.changed("modeldeployment", *KEY, (1, []))  # a re-created one is news
        await fake_time.advance(120)
        assert runs == [0]


# ------------------------------------------------------------------ supervision


def _scheduler_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "modelguard.runtime.scheduler" and r.levelno >= logging.ERROR
    ]


async def test_a_loop_that_raises_is_a_failure_logged_once_with_its_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken_wait(event: asyncio.Event, seconds: float) -> None:
        raise RuntimeError("boom")

    s = Scheduler(_never, wait=broken_wait)
    assert s.failure is None
    task = s.start()
    await asyncio.wait([task])
    assert s.failure == "died: RuntimeError('boom')"
    [record] = _scheduler_errors(caplog)
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    await stopped(s)  # cleanup after a crash neither raises nor logs it again
    assert len(_scheduler_errors(caplog)) == 1
    assert s.failure is not None


async def test_a_loop_cancelled_by_anyone_but_stop_is_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Scheduler(_never)
    task = s.start()
    await settle()
    task.cancel()
    await asyncio.wait([task])
    assert s.failure == "cancelled"
    assert len(_scheduler_errors(caplog)) == 1
    with pytest.raises(RuntimeError, match="already started"):
        s.start()


async def test_stop_is_no_failure(caplog: pytest.LogCaptureFixture) -> None:
    s = Scheduler(_never)
    task = s.start()
    await settle()
    await stopped(s)
    assert task.cancelled()
    assert s.failure is None
    assert _scheduler_errors(caplog) == []


async def test_stop_cancels_reconciles_in_flight_and_starts_no_more(fake_time: FakeTime) -> None:
    started: list[str] = []
    unwound: list[str] = []

    async def reconcile(namespace: str, name: str) -> datetime | None:
        started.append(name)
        try:
            await asyncio.Event().wait()  # a reconcile that would run forever
        finally:
            unwound.append(name)
        return None

    s = Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)
    s.start()
    s.kick(("ns", "a"))
    s.kick(("ns", "b"))
    await settle()
    assert sorted(started) == ["a", "b"]
    await stopped(s)
    # stop() returned only after both had unwound: nothing runs on behind cleanup's back.
    assert sorted(unwound) == ["a", "b"]
    assert s.size == 0
    s.kick(("ns", "c"))  # a watch event that arrives during shutdown
    await fake_time.advance(10)
    assert sorted(started) == ["a", "b"]
    assert s.failure is None


async def test_the_default_clock_and_wait_are_real_time() -> None:
    """Production keeps the wall clock and a real timed wait: a kicked object runs at once."""
    ran = asyncio.Event()
    before = datetime.now(UTC)

    async def reconcile(namespace: str, name: str) -> datetime | None:
        ran.set()
        return None

    async with running(Scheduler(reconcile)) as s:
        s.kick(KEY)
        await asyncio.wait_for(ran.wait(), timeout=2.0)
    assert datetime.now(UTC) - before < timedelta(seconds=2)
