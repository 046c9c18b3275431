"""The kill-switch sweep (runtime.sweep): after this replica starts to lead again, a kill
pulled while the API server was down (or before kopf's re-list reaches it) runs in the
kill-switch lane without waiting for any watch event."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from modelguard.runtime.scheduler import Scheduler
from modelguard.runtime.sweep import KillSwitchSweep

Key = tuple[str, str]


def md(name: str, version: str, *, enabled: bool, engaged: bool) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": name, "resourceVersion": version},
        "spec": {"killSwitch": {"enabled": enabled, "reason": "INC-1" if enabled else ""}},
        "status": {"killSwitch": {"engaged": engaged}},
    }


class Listing:
    """The ModelDeployments the API server would list; `fail` first raises that often."""

    def __init__(self, *bodies: dict[str, Any], fail: int = 0) -> None:
        self.bodies = list(bodies)
        self.fail = fail
        self.calls: list[str] = []

    async def __call__(self, namespace: str) -> list[dict[str, Any]]:
        self.calls.append(namespace)
        if self.fail:
            self.fail -= 1
            raise ConnectionRefusedError("the API server is still down")
        return list(self.bodies)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def sweep(listing: Listing, kicks: list[Key], time: FakeTime, window: float) -> KillSwitchSweep:
    return KillSwitchSweep(
        listing,
        lambda: ["ns"],
        kicks.append,
        interval=0.5,
        window=window,
        clock=time.clock,
        sleep=time.sleep,
    )


async def test_pending_switches_are_kicked_once_per_version() -> None:
    time, kicks = FakeTime(), list[Key]()
    listing = Listing(
        md("engage", "1", enabled=True, engaged=False),  # pulled, not yet engaged
        md("engaged", "2", enabled=True, engaged=True),  # done: nothing to hurry
        md("running", "3", enabled=False, engaged=False),
        md("release", "4", enabled=False, engaged=True),  # released, not yet restored
        fail=2,  # the first rounds find the API server not answering yet
    )
    s = sweep(listing, kicks, time, window=3.0)
    s.trigger()
    await s._task  # type: ignore[misc]
    assert kicks == [("ns", "engage"), ("ns", "release")]  # once, though listed 6 times
    # Every 0.5 s: the 2 refused, then 3 s from the first answered one, then it stops.
    assert len(listing.calls) == 2 + 6

    listing.bodies[0] = md("engage", "9", enabled=True, engaged=False)  # a new version
    s.trigger()  # the next time this replica leads
    await s._task  # type: ignore[misc]
    assert kicks[2:] == [("ns", "engage"), ("ns", "release")]


async def test_a_kill_the_watch_has_not_delivered_runs_in_the_kill_switch_lane() -> None:
    """The outage: the scheduler knows the model (it was reconciled before), the kill is
    patched while kopf's watch is still re-listing, and no watch event arrives. Leading
    again, the sweep puts it in the kill-switch lane at once."""
    lanes: list[tuple[str, bool]] = []
    done = asyncio.Event()
    scheduler: Scheduler

    async def reconcile(namespace: str, name: str) -> datetime | None:
        urgent = scheduler._running[namespace, name]
        lanes.append((name, urgent))
        if urgent:
            done.set()
        return None

    scheduler = Scheduler(reconcile, leading=False)  # lost the Lease in the outage
    scheduler.watch(("ns", "scorer"), [("deployment", "scorer")])
    listing = Listing(md("scorer", "7", enabled=True, engaged=False))
    s = KillSwitchSweep(
        listing, scheduler.namespaces, lambda key: scheduler.kick(key, urgent=True), window=5.0
    )
    scheduler.start()
    try:
        scheduler.resume()  # the Lease is won again (handlers._lead)
        s.trigger()
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        await s.stop()
        await scheduler.stop()
    assert ("scorer", True) in lanes  # True: the kill-switch lane


async def test_a_zero_window_turns_it_off() -> None:
    time, kicks = FakeTime(), list[Key]()
    listing = Listing(md("engage", "1", enabled=True, engaged=False))
    s = sweep(listing, kicks, time, window=0.0)
    s.trigger()
    await asyncio.sleep(0)
    assert listing.calls == [] and kicks == []


async def test_with_no_namespace_known_it_ends_after_the_window() -> None:
    time, kicks = FakeTime(), list[Key]()
    listing = Listing()
    s = KillSwitchSweep(listing, list, kicks.append, window=2.0, clock=time.clock, sleep=time.sleep)
    s.trigger()
    await asyncio.wait_for(s._task, timeout=5)  # type: ignore[arg-type]
    assert listing.calls == [] and time.now == 2.0
