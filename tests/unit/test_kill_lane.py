"""The kill switch never waits for Prometheus: the real Reconciler and Scheduler on fakes
of our ports, with a Prometheus whose queries never answer (real asyncio, fake clock).

- a kill is applied while the object's own evaluation hangs forever;
- a kill is applied while hanging evaluations hold every slot of the normal lane;
- an evaluation that was in flight when the object changed is never judged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from modelguard.core.ports import QueryResult
from modelguard.core.workload import Scale, SetVersion
from modelguard.runtime.reconciler import Reconciler
from modelguard.runtime.scheduler import Scheduler
from tests.unit.fakes import Clock, FakeDeployment, FakePrometheus, FakeWorkloads

NS = "ml"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BAD = QueryResult(value=0.42, series=1)
KILL = {"enabled": True, "reason": "INC-7"}
#: Real seconds: what "at once" may take here, where nothing waits on real I/O.
PROMPTLY = 1.0


def spec(name: str, n: int = 1, kill: dict[str, Any] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "targetRef": {"name": f"{name}-server", "container": "server"},
        "version": {"image": f"reg.example/{name}:{n}.0"},
        "analysis": {
            "prometheus": {"url": "http://prometheus:9090", "timeout": "10s"},
            "interval": "10s",
            "warmup": "1m",
            "failureThreshold": 1,
            "checks": [{"name": "accuracy", "query": 'acc{v="{{version}}"}', "min": 0.9}],
        },
    }
    if kill is not None:
        raw["killSwitch"] = kill
    return raw


class World:
    """The store, a Prometheus that never answers, the clock; every model adopted and
    past its warmup, so a reconcile of any of them starts with an evaluation."""

    def __init__(self, names: list[str]) -> None:
        self.kube = FakeWorkloads()
        self.prometheus = FakePrometheus()
        self.prometheus.answers = {"acc": BAD}
        self.clock = Clock(T0)
        self.reconciler = Reconciler(self.kube, self.prometheus, self.clock)
        for name in names:
            self.kube.deployments[NS, f"{name}-server"] = FakeDeployment(
                image=f"reg.example/{name}:1.0", replicas=3
            )
            self.kube.create_model(NS, name, spec(name))

    async def adopt_all(self) -> None:
        for namespace, name in list(self.kube.models):
            await self.reconciler.reconcile(namespace, name)
        self.clock.advance(timedelta(minutes=2))  # past the warmup: evaluations are due
        self.prometheus.hold = asyncio.Event()  # and from now on they never answer

    def replicas(self, name: str) -> int:
        return self.kube.deployments[NS, f"{name}-server"].replicas

    def kill(self, name: str) -> None:
        """kubectl patch: a new generation with the switch enabled."""
        self.kube.edit_spec(NS, name, spec(name, kill=KILL))


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll (the fakes signal nothing) for at most PROMPTLY real seconds."""
    try:
        async with asyncio.timeout(PROMPTLY):
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not within {PROMPTLY}s: {what}") from None


@contextlib.asynccontextmanager
async def scheduling(world: World, concurrency: int = 16) -> AsyncIterator[Scheduler]:
    s = Scheduler(
        world.reconciler.reconcile,
        concurrency=concurrency,
        interrupt=world.reconciler.interrupt,
        clock=world.clock,
    )
    s.start()
    try:
        yield s
    finally:
        await asyncio.wait_for(s.stop(), timeout=5.0)
    assert s.failure is None


async def test_a_kill_is_applied_while_the_evaluation_hangs_forever() -> None:
    world = World(["fraud"])
    await world.adopt_all()
    async with scheduling(world) as s:
        s.kick((NS, "fraud"))
        await until(lambda: world.prometheus.waiting() > 0, "the evaluation is in flight")
        world.kill("fraud")
        s.kick((NS, "fraud"), urgent=True)  # what the handler does for an engage
        await until(lambda: world.replicas("fraud") == 0, "scaled to zero")
    status = world.kube.stored_status(NS, "fraud")
    assert status.kill_switch.engaged
    assert status.last_evaluation is None  # the abandoned evaluation was never judged
    assert world.kube.applied == [Scale(0)]


async def test_a_kill_is_applied_while_hanging_evaluations_fill_the_lane() -> None:
    names = [f"m{i}" for i in range(6)]
    world = World(names)
    await world.adopt_all()
    async with scheduling(world, concurrency=2) as s:
        for name in names:
            s.kick((NS, name))
        await until(lambda: world.prometheus.waiting() == 2, "two evaluations hang")
        running = sorted(s._running)
        queued = [name for name in names if (NS, name) not in s._running]
        assert len(running) == 2 and len(queued) == 4  # the other four wait for a slot
        # One kill for an object waiting in the queue, one for an object evaluating.
        for name in (queued[-1], running[0][1]):
            world.kill(name)
            s.kick((NS, name), urgent=True)
        await until(
            lambda: world.replicas(queued[-1]) == 0 and world.replicas(running[0][1]) == 0,
            "both scaled to zero",
        )
        # The normal lane yielded to the kills and goes on after them: the four models
        # left evaluate again, two at a time.
        await until(lambda: world.prometheus.waiting() == 2, "evaluations resume")
    killed = {queued[-1], running[0][1]}
    assert all(world.replicas(name) == 3 for name in names if name not in killed)


async def test_an_evaluation_in_flight_during_a_version_change_is_never_judged() -> None:
    world = World(["fraud"])
    await world.adopt_all()
    reconcile = asyncio.create_task(world.reconciler.reconcile(NS, "fraud"))
    await until(lambda: world.prometheus.waiting() > 0, "the evaluation is in flight")
    world.kube.edit_spec(NS, "fraud", spec("fraud", n=2))  # a new version meanwhile
    assert world.prometheus.hold is not None
    world.prometheus.hold.set()  # now it answers: v1 looks bad
    await asyncio.wait_for(reconcile, PROMPTLY)
    status = world.kube.stored_status(NS, "fraud")
    # The result measured v1 for generation 1; the object is generation 2 now.
    assert status.last_evaluation is None
    assert status.consecutive_failures == 0
    assert status.quarantined_versions == []
    [applied] = world.kube.applied
    assert isinstance(applied, SetVersion)  # the new version, and nothing for the old one
    assert world.kube.deployments[NS, "fraud-server"].image == "reg.example/fraud:2.0"
    assert status.observed_generation == 2


async def test_an_unchanged_object_is_judged_on_its_evaluation() -> None:
    """The control for the test above: the same answer, no change meanwhile, is judged."""
    world = World(["fraud"])
    await world.adopt_all()
    reconcile = asyncio.create_task(world.reconciler.reconcile(NS, "fraud"))
    await until(lambda: world.prometheus.waiting() > 0, "the evaluation is in flight")
    assert world.prometheus.hold is not None
    world.prometheus.hold.set()
    await asyncio.wait_for(reconcile, PROMPTLY)
    status = world.kube.stored_status(NS, "fraud")
    assert status.last_evaluation is not None
    assert status.consecutive_failures == 1
