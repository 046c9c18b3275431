"""The scheduler's two lanes, on fake time: kill-switch kicks (urgent) bypass the normal
lane's concurrency limit and its due queue, interrupt a normal reconcile of the same
object instead of waiting behind it, and never run two reconciles of one object at once;
the normal lane starts only as many reconciles as it has slots, oldest due first."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from modelguard.runtime.scheduler import Key, Scheduler
from tests.unit.test_scheduler import FakeTime, fake_time, running, settle

__all__ = ["fake_time"]  # the fixture, re-exported for pytest


class Hanging:
    """A reconcile function whose runs hang until released, per object."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.started: list[tuple[str, float]] = []
        self.active: set[str] = set()
        self.overlap = False  # two runs of one object at once
        self.interrupted: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.hang: set[str] = set()  # objects whose runs hang until released

    async def reconcile(self, namespace: str, name: str) -> datetime | None:
        self.overlap |= name in self.active
        self.active.add(name)
        self.started.append((name, self.time.offset()))
        try:
            if name in self.hang:
                await self.release.setdefault(name, asyncio.Event()).wait()
        finally:
            self.active.discard(name)
        return None

    def interrupt(self, namespace: str, name: str) -> None:
        self.interrupted.append(name)

    def names(self) -> list[str]:
        return [name for name, _ in self.started]


def key(name: str) -> Key:
    return ("ns", name)


async def test_an_urgent_kick_bypasses_a_full_lane_and_its_queue(fake_time: FakeTime) -> None:
    runs = Hanging(fake_time)
    runs.hang = {"a", "b", "c", "d"}
    s = Scheduler(
        runs.reconcile,
        concurrency=2,
        urgent_concurrency=1,
        interrupt=runs.interrupt,
        clock=fake_time.clock,
        wait=fake_time.wait,
    )
    async with running(s):
        for name in ("a", "b", "c", "d", "kill"):
            s.kick(key(name))
        await settle()
        assert runs.names() == ["a", "b"]  # the lane is full; c, d, kill wait in the queue
        s.kick(key("kill"), urgent=True)
        await settle()
        assert runs.names() == ["a", "b", "kill"]  # at once, ahead of c and d
        assert sorted(runs.interrupted) == ["a", "b"]  # asked to yield to the kill
        await fake_time.advance(60)
        assert runs.names() == ["a", "b", "kill"]  # kill's normal due entry was this run
        runs.release["a"].set()
        await settle()
        assert runs.names() == ["a", "b", "kill", "c"]  # the queue goes on in due order
    assert not runs.overlap


async def test_the_urgent_lane_has_its_own_limit_and_pauses_the_normal_one(
    fake_time: FakeTime,
) -> None:
    runs = Hanging(fake_time)
    runs.hang = {"k1", "k2", "n1"}
    s = Scheduler(runs.reconcile, concurrency=1, urgent_concurrency=2, clock=fake_time.clock)
    s._wait = fake_time.wait
    async with running(s):
        s.kick(key("n1"))
        await settle()
        assert runs.names() == ["n1"]
        for name in ("k1", "k2", "k3"):
            s.kick(key(name), urgent=True)
        s.kick(key("n2"))
        await settle()
        # Two kill-switch runs hang: the third waits for its lane, not for the normal one.
        assert runs.names() == ["n1", "k1", "k2"]
        runs.release["n1"].set()
        await settle()
        # The normal lane is free, but starts nothing while kills run.
        assert runs.names() == ["n1", "k1", "k2"]
        runs.release["k1"].set()
        await settle()
        assert runs.names() == ["n1", "k1", "k2", "k3"]
        runs.release["k2"].set()
        await settle()
        assert runs.names() == ["n1", "k1", "k2", "k3", "n2"]


async def test_an_urgent_kick_interrupts_a_running_reconcile_and_runs_right_after(
    fake_time: FakeTime,
) -> None:
    runs = Hanging(fake_time)
    runs.hang = {"a"}
    s = Scheduler(runs.reconcile, interrupt=runs.interrupt, clock=fake_time.clock)
    s._wait = fake_time.wait
    async with running(s):
        s.kick(key("a"))
        await settle()
        assert runs.names() == ["a"]
        s.kick(key("a"), urgent=True)
        s.kick(key("a"), urgent=True)  # a burst is one run
        await settle()
        assert runs.interrupted == ["a", "a"]  # asked to stop waiting for its evaluation
        assert runs.names() == ["a"]  # but never a second run of the same object at once
        runs.hang = set()
        runs.release["a"].set()
        await settle()
        assert runs.names() == ["a", "a"]
        assert s._running == {} and s._urgent == {}
        s.kick(key("a"))  # not running: nothing to interrupt
        s.kick(key("a"), urgent=True)
        await settle()
        assert runs.interrupted == ["a", "a"]
        runs.hang = {"b"}
        s.kick(key("b"))
        await settle()
        s.kick(key("c"), urgent=True)  # a kill of another object: b is asked to yield
        await settle()
        assert runs.interrupted == ["a", "a", "b"]
        runs.release["b"].set()
    assert not runs.overlap


async def test_an_urgent_run_that_fails_is_retried_in_the_urgent_lane(fake_time: FakeTime) -> None:
    attempts: list[tuple[str, float]] = []
    gate = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> datetime | None:
        attempts.append((name, fake_time.offset()))
        if name == "kill":
            if len([a for a in attempts if a[0] == "kill"]) < 3:
                raise RuntimeError("API unreachable")
            return None
        await gate.wait()  # the normal lane stays full the whole time
        return None

    s = Scheduler(reconcile, concurrency=1, clock=fake_time.clock, wait=fake_time.wait)
    async with running(s):
        s.kick(key("busy"))
        await settle()
        s.kick(key("kill"), urgent=True)
        await settle()
        await fake_time.advance(10)
        # 2 s, then 4 s of backoff, though the normal lane never had a free slot.
        assert [t for name, t in attempts if name == "kill"] == [0, 2, 6]
        gate.set()


async def test_the_normal_lane_starts_oldest_due_first_and_never_spins(
    fake_time: FakeTime,
) -> None:
    runs = Hanging(fake_time)
    runs.hang = {"blocker"}
    waits: list[float] = []

    async def counting_wait(event: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)
        await fake_time.wait(event, seconds)

    s = Scheduler(runs.reconcile, concurrency=1, clock=fake_time.clock, wait=counting_wait)
    async with running(s):
        s.kick(key("blocker"))
        await settle()
        s._due[key("late")] = fake_time.now + timedelta(seconds=2)
        s._due[key("early")] = fake_time.now + timedelta(seconds=1)
        await fake_time.advance(5)
        # Due, but no slot: the loop waits for a reconcile to end, it does not spin.
        assert len(waits) < 20 and min(waits) > 0
        runs.release["blocker"].set()
        await settle()
        assert runs.names() == ["blocker", "early", "late"]
