"""The scheduler on a standby: it keeps every input (kicks, what each object guards, which
kill switches are in play) but starts nothing; resume() makes everything it knows due at
once, kill switches in the kill-switch lane first; pause() stops acting at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from modelguard.runtime.scheduler import Scheduler
from tests.unit.test_scheduler import FakeTime, fake_time, running, settle
from tests.unit.test_scheduler_lanes import Hanging, key

__all__ = ["fake_time"]  # the fixture, re-exported for pytest


def standby(runs: Hanging, fake_time: FakeTime, **limits: int) -> Scheduler:
    return Scheduler(
        runs.reconcile,
        interrupt=runs.interrupt,
        clock=fake_time.clock,
        wait=fake_time.wait,
        leading=False,
        **limits,
    )


async def test_a_standby_keeps_its_indexes_but_starts_nothing(fake_time: FakeTime) -> None:
    runs = Hanging(fake_time)
    s = standby(runs, fake_time)
    async with running(s):
        s.watch(key("a"), [("deployment", "scorer")], kill_switch=True)
        s.kick(key("a"))
        s.kick(key("b"), urgent=True)
        s.kick_guards("deployment", "ns", "scorer")
        await fake_time.advance(600)
        assert runs.names() == []
        assert s.size == 2
        assert s.guards_of("deployment", "ns", "scorer") == {key("a")}
        assert s.failure is None  # paused is not dead: /healthz stays green


async def test_on_resume_kill_switches_go_first_then_everything_else(
    fake_time: FakeTime,
) -> None:
    """A kill engaged while nobody led reached the standby only as a watch event; the
    replica that now leads enforces it at once, ahead of the evaluations."""
    runs = Hanging(fake_time)
    runs.hang = {"kill", "plain-1", "plain-2"}
    s = standby(runs, fake_time, concurrency=1, urgent_concurrency=4)
    async with running(s):
        s.kick(key("plain-1"))
        s.kick(key("plain-2"))
        # An already engaged switch whose Deployment someone scaled up meanwhile: its
        # watch event kicked it (in play, so urgent); and one seen only at the listing.
        s.watch(key("kill"), [("deployment", "kill")], kill_switch=True)
        s.kick(key("kill"))
        await fake_time.advance(30)
        assert runs.names() == []
        s.resume()
        await settle()
        assert runs.names() == ["kill"]  # urgent lane: the normal one waits for it
        runs.release["kill"].set()
        await settle()
        assert runs.names() == ["kill", "plain-1"]
        for name in ("plain-1", "plain-2"):
            runs.release.setdefault(name, asyncio.Event()).set()
        await settle()
        assert runs.names() == ["kill", "plain-1", "plain-2"]
    assert not runs.overlap


async def test_resume_makes_due_what_was_scheduled_later(fake_time: FakeTime) -> None:
    """A former leader's queue holds next-analysis times; whoever led meanwhile may have
    left anything undone, so every object is looked at again, now."""
    started: list[str] = []

    async def reconcile(namespace: str, name: str) -> datetime | None:
        started.append(name)
        return fake_time.clock() + timedelta(minutes=5)

    s = Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)
    async with running(s):
        s.kick(key("a"))
        await settle()
        assert started == ["a"]
        await s.pause()
        await fake_time.advance(60)
        assert started == ["a"]
        s.resume()
        await settle()
        assert started == ["a", "a"]


async def test_pause_cancels_what_runs_and_keeps_it_due(fake_time: FakeTime) -> None:
    runs = Hanging(fake_time)
    runs.hang = {"slow", "kill"}
    cancelled: list[str] = []
    original = runs.reconcile

    async def reconcile(namespace: str, name: str) -> datetime | None:
        try:
            return await original(namespace, name)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    s = Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)
    async with running(s):
        s.kick(key("slow"))
        await settle()
        s.kick(key("kill"), urgent=True)
        await settle()
        assert runs.names() == ["slow", "kill"]
        await s.pause()
        assert sorted(cancelled) == ["kill", "slow"]  # stopped at once, not finished
        assert not s.leading
        await fake_time.advance(60)
        assert len(runs.names()) == 2  # nothing started while paused
        assert s._urgent.keys() == {key("kill")}  # still known, in its lane
        assert key("slow") in s._due
        runs.hang = set()
        s.resume()
        await settle()
        assert sorted(runs.names()[2:]) == ["kill", "slow"]
