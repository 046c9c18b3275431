"""The operator's liveness probe: healthy while the scheduler runs, failing (in the one
way kopf turns into an immediate /healthz 500) once it is dead."""

from __future__ import annotations

import asyncio
from datetime import datetime

import kopf
import pytest

from modelguard.runtime.handlers import scheduled
from modelguard.runtime.scheduler import Scheduler


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
