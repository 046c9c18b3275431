"""The scheduler at scale: a listing of thousands of objects at rest is spread over the
window, anything under way is not; event-driven reconciles are not starved by a backlog
of due ones; and every reconcile's lag behind its due time is observed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from modelguard.runtime.scheduler import Key, Scheduler
from tests.unit.test_scheduler import START, FakeTime, running, settle


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


async def _never(namespace: str, name: str) -> datetime | None:
    raise AssertionError("nothing runs here")


def keys(n: int) -> list[Key]:
    return [("ns", f"model-{i}") for i in range(n)]


def test_a_listing_spreads_objects_at_rest_over_the_window() -> None:
    s = Scheduler(_never, clock=lambda: START, spread=30.0)
    for key in keys(5000):
        s.watch(key, [("deployment", key[1])], at_rest=True)
        s.kick(key, listed=True)
    seconds = Counter(int((due - START).total_seconds()) for due in s._due.values())
    assert set(seconds) == set(range(30))  # every second of the window
    assert max(seconds.values()) < 5000 / 30 * 1.5  # and none much more than its share


def test_the_offset_is_stable_per_object() -> None:
    first = Scheduler(_never, clock=lambda: START, spread=30.0)
    again = Scheduler(_never, clock=lambda: START, spread=30.0)
    for s in (first, again):
        s.watch(("ns", "a"), [("deployment", "a")], at_rest=True)
        s.kick(("ns", "a"), listed=True)
    assert first._due == again._due


def test_an_object_under_way_or_an_event_is_not_spread() -> None:
    s = Scheduler(_never, clock=lambda: START, spread=30.0)
    s.watch(("ns", "busy"), [("deployment", "busy")], at_rest=False)  # a pending action
    s.kick(("ns", "busy"), listed=True)
    s.watch(("ns", "new"), [("deployment", "new")], at_rest=True)
    s.kick(("ns", "new"))  # ADDED: an event, not a listing
    s.watch(("ns", "kill"), [("deployment", "kill")], kill_switch=True, at_rest=False)
    s.kick(("ns", "kill"), urgent=True, listed=True)
    assert s._due == {("ns", "busy"): START, ("ns", "new"): START}
    assert s._urgent == {("ns", "kill"): START}


async def test_resume_spreads_what_is_at_rest_and_runs_a_kill_switch_at_once() -> None:
    s = Scheduler(_never, clock=lambda: START, spread=30.0, leading=False)
    for key in keys(100):
        s.watch(key, [("deployment", key[1])], at_rest=True)
    s.watch(("ns", "kill"), [("deployment", "kill")], kill_switch=True)
    s.resume()
    assert s._urgent == {("ns", "kill"): START}
    assert len(set(s._due.values())) > 50
    assert all(START <= due < START + timedelta(seconds=30) for due in s._due.values())


async def test_a_new_object_is_not_starved_by_a_backlog(fake_time: FakeTime) -> None:
    started: list[str] = []

    async def reconcile(namespace: str, name: str) -> datetime | None:
        started.append(name)
        await settle()
        return None

    s = Scheduler(reconcile, concurrency=1, clock=fake_time.clock, wait=fake_time.wait)
    # 50 objects long overdue (the clock-driven backlog), then one created now.
    for i, key in enumerate(keys(50)):
        s._due[key] = START - timedelta(seconds=100 - i)
    s.kick(("ns", "created"))
    async with running(s):
        await fake_time.advance(10.0, step=0.1)
    assert "created" in started[:2]  # second at the latest, not 51st
    assert len(started) == 51


def _lag_count(stage: str) -> float:
    value = REGISTRY.get_sample_value("modelguard_evaluation_lag_seconds_count", {"stage": stage})
    return value or 0.0


def _lag_bucket(stage: str, le: str) -> float:
    value = REGISTRY.get_sample_value(
        "modelguard_evaluation_lag_seconds_bucket", {"stage": stage, "le": le}
    )
    return value or 0.0


async def test_the_lag_behind_the_due_time_is_observed(fake_time: FakeTime) -> None:
    async def reconcile(namespace: str, name: str) -> datetime | None:
        fake_time.now += timedelta(seconds=3)  # a reconcile that takes 3 s
        return None

    s = Scheduler(reconcile, clock=fake_time.clock, wait=fake_time.wait)
    starts, dones = _lag_count("start"), _lag_count("done")
    late_start = _lag_bucket("start", "10.0")
    quick_done = _lag_bucket("done", "2.0")
    s._due[("ns", "late")] = START - timedelta(seconds=8)  # 8 s overdue
    async with running(s):
        await fake_time.advance(0.5, step=0.5)
    assert _lag_count("start") == starts + 1
    assert _lag_count("done") == dones + 1
    assert _lag_bucket("start", "10.0") == late_start + 1  # 8 s: within 10 s
    assert _lag_bucket("done", "2.0") == quick_done  # 11 s: not within 2 s
