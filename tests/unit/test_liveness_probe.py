"""The operator's liveness probe: healthy while the scheduler runs (on a standby too),
failing (in the one way kopf turns into an immediate /healthz 500) once it, or the leader
election, is dead."""

from __future__ import annotations

import asyncio
from datetime import datetime

import kopf
import pytest

from modelguard.core.leader import Election, LeaseRecord
from modelguard.runtime.handlers import scheduled
from modelguard.runtime.leadership import Leadership
from modelguard.runtime.scheduler import Scheduler
from tests.unit.fake_leases import LeaseStore


async def _never(namespace: str, name: str) -> datetime | None:
    raise AssertionError("no reconcile runs in these tests")


def memo_with(s: Scheduler) -> kopf.Memo:
    memo = kopf.Memo()
    memo.scheduler = s
    return memo


async def test_the_probe_reports_the_queue_while_the_scheduler_runs() -> None:
    running = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> datetime | None:
        running.set()
        await asyncio.Event().wait()  # runs until stop() cancels it
        return None

    s = Scheduler(reconcile)
    s.start()
    try:
        assert await scheduled(memo=memo_with(s)) == 0
        s.kick(("ns", "a"))
        await asyncio.wait_for(running.wait(), timeout=5.0)
        assert await scheduled(memo=memo_with(s)) == 1
    finally:
        await asyncio.wait_for(s.stop(), timeout=5.0)
    assert s.failure is None


async def test_the_probe_fails_permanently_once_the_scheduler_is_dead() -> None:
    s = Scheduler(_never)
    task = s.start()
    task.cancel()
    await asyncio.wait([task])
    # PermanentError: anything else kopf would retry after its handler backoff (60 s),
    # keeping the /healthz request waiting instead of answering 500.
    with pytest.raises(kopf.PermanentError, match="the scheduler cancelled"):
        await scheduled(memo=memo_with(s))


async def test_a_standby_is_healthy() -> None:
    """A paused scheduler (a standby waiting for the Lease) is not dead."""
    store = LeaseStore()
    store.record = LeaseRecord("the-leader", 15.0, version="1")
    s = Scheduler(_never, leading=False)
    s.start()
    leadership = Leadership(
        store.client("standby"), Election("standby"), on_lead=s.resume, on_lose=s.pause
    )
    task = leadership.start()
    try:
        await asyncio.sleep(0.05)
        memo = memo_with(s)
        memo.leadership = leadership
        s.kick(("ns", "a"))
        assert await scheduled(memo=memo) == 1  # known, not run: healthy all the same
        assert not leadership.leading()
    finally:
        task.cancel()
        await asyncio.wait_for(s.stop(), timeout=5.0)


async def test_the_probe_fails_once_the_election_is_dead() -> None:
    """A replica whose election loop died could never take over: restart it."""
    s = Scheduler(_never, leading=False)
    s.start()
    leadership = Leadership(
        LeaseStore().client("a"), Election("a"), on_lead=s.resume, on_lose=s.pause
    )
    task = leadership.start()
    task.cancel()
    await asyncio.wait([task])
    memo = memo_with(s)
    memo.leadership = leadership
    try:
        with pytest.raises(kopf.PermanentError, match="the leader election cancelled"):
            await scheduled(memo=memo)
    finally:
        await asyncio.wait_for(s.stop(), timeout=5.0)
