"""runtime.cache: the watch cache in front of the Workloads port, against the in-memory
fake of that port (tests.unit.fakes), and the reconcile loop through it: steady-state
evaluations read and write nothing, a verdict change is written at once, and an action
is decided on fresh reads only."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta

import pytest

from modelguard.core.api import ModelDeploymentStatus, Phase
from modelguard.core.ports import ConflictError
from modelguard.core.specparse import parse_spec
from modelguard.core.workload import SetVersion
from modelguard.runtime.assembly import _kick_fresh
from modelguard.runtime.cache import CachedWorkloads
from modelguard.runtime.reconciler import Reconciler
from modelguard.runtime.statuswrites import StatusWrites
from tests.unit.fakes import FakeWorkloads
from tests.unit.test_reconciler import BAD, GOOD, NAME, NS, WARM, World, running, spec

KEY = (NS, NAME)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store_with_model() -> FakeWorkloads:
    kube = FakeWorkloads()
    kube.create_model(NS, NAME, spec(1))
    return kube


def watched(kube: FakeWorkloads, cache: CachedWorkloads, kind: str | None = "MODIFIED") -> None:
    """The watch delivers the object as the store has it now."""
    cache.model_event(kind, copy.deepcopy(kube.models[KEY]))


async def test_a_watched_body_is_read_without_a_get() -> None:
    kube = store_with_model()
    cache = CachedWorkloads(kube)
    watched(kube, cache, None)
    body = await cache.get_model_deployment(NS, NAME)
    assert body == kube.models[KEY]
    assert kube.model_reads == 0
    body["spec"]["targetRef"]["name"] = "changed by the caller"
    assert (await cache.get_model_deployment(NS, NAME)) == kube.models[KEY]  # a copy


async def test_a_miss_gets_once_then_hits_and_fresh_always_gets() -> None:
    kube = store_with_model()
    cache = CachedWorkloads(kube)
    await cache.get_model_deployment(NS, NAME)
    await cache.get_model_deployment(NS, NAME)
    assert kube.model_reads == 1
    await cache.get_model_deployment(NS, NAME, fresh=True)
    assert kube.model_reads == 2


async def test_an_entry_older_than_max_age_is_read_again() -> None:
    kube = store_with_model()
    clock = Clock()
    cache = CachedWorkloads(kube, max_age=600, clock=clock)
    watched(kube, cache)
    clock.now += 601
    await cache.get_model_deployment(NS, NAME)
    assert kube.model_reads == 1


async def test_a_deletion_drops_the_entry() -> None:
    kube = store_with_model()
    cache = CachedWorkloads(kube)
    watched(kube, cache)
    body = copy.deepcopy(kube.models[KEY])
    kube.delete_model(NS, NAME)
    cache.model_event("DELETED", body)
    assert await cache.get_model_deployment(NS, NAME) is None
    assert kube.model_reads == 1


async def test_our_own_write_refreshes_the_entry_so_the_next_fenced_write_passes() -> None:
    kube = store_with_model()
    cache = CachedWorkloads(kube)
    watched(kube, cache)
    body = await cache.get_model_deployment(NS, NAME)
    assert body is not None
    version = await cache.write_status(
        NS, NAME, ModelDeploymentStatus(phase=Phase.HEALTHY), body["metadata"]["resourceVersion"]
    )
    again = await cache.get_model_deployment(NS, NAME)
    assert again is not None
    assert again["metadata"]["resourceVersion"] == version
    assert again["status"]["phase"] == "Healthy"
    await cache.write_status(NS, NAME, ModelDeploymentStatus(phase=Phase.DEGRADED), version)
    assert kube.conflicts == 0
    assert kube.model_reads == 0


async def test_a_write_never_puts_an_older_body_over_a_newer_watched_one() -> None:
    """A user's edit the watch delivered while our write was in flight stays cached."""
    kube = store_with_model()
    cache = CachedWorkloads(kube)
    watched(kube, cache)
    read = kube.models[KEY]["metadata"]["resourceVersion"]

    async def user_edits() -> None:
        kube.edit_spec(NS, NAME, spec(1, kill={"enabled": True, "reason": "INC-1"}))
        watched(kube, cache)

    kube.before_status_write = user_edits
    with pytest.raises(ConflictError):
        await cache.write_status(NS, NAME, ModelDeploymentStatus(), read)
    body = await cache.get_model_deployment(NS, NAME)
    assert body is not None
    assert body["spec"]["killSwitch"]["enabled"] is True


async def test_a_conflict_drops_the_entry() -> None:
    kube = store_with_model()
    cache = CachedWorkloads(kube)
    watched(kube, cache)
    kube.annotate(NS, NAME, "a", "b")  # a change the watch has not delivered yet
    stale = await cache.get_model_deployment(NS, NAME)
    assert stale is not None
    with pytest.raises(ConflictError):
        await cache.write_status(
            NS, NAME, ModelDeploymentStatus(), stale["metadata"]["resourceVersion"]
        )
    current = await cache.get_model_deployment(NS, NAME)
    assert current is not None
    assert current["metadata"]["annotations"] == {"a": "b"}
    assert kube.model_reads == 1


async def test_a_get_in_flight_does_not_store_over_a_newer_event() -> None:
    kube = store_with_model()
    cache = CachedWorkloads(kube)
    gate = asyncio.Event()
    real = kube.get_model_deployment

    async def slow_get(namespace: str, name: str, *, fresh: bool = False) -> object:
        body = await real(namespace, name)
        await gate.wait()
        return body

    kube.get_model_deployment = slow_get  # type: ignore[assignment, method-assign]
    reading = asyncio.create_task(cache.get_model_deployment(NS, NAME))
    await asyncio.sleep(0)
    kube.annotate(NS, NAME, "edited", "yes")
    watched(kube, cache)
    gate.set()
    await reading
    kube.get_model_deployment = real  # type: ignore[method-assign]
    body = await cache.get_model_deployment(NS, NAME)
    assert body is not None
    assert body["metadata"]["annotations"] == {"edited": "yes"}


async def test_a_workload_is_read_once_until_its_deployment_changes() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(1))
    cache = CachedWorkloads(world.kube)
    parsed, status = parse_spec(spec(1)), ModelDeploymentStatus()
    first = await cache.read_workload(NS, parsed, status)
    assert await cache.read_workload(NS, parsed, status) == first
    assert len(world.kube.reads) == 1
    deployment = {"metadata": {"namespace": NS, "name": "fraud-scorer", "resourceVersion": "9"}}
    cache.deployment_event("MODIFIED", deployment)
    await cache.read_workload(NS, parsed, status)
    assert len(world.kube.reads) == 2
    cache.deployment_event(None, deployment)  # a relist: the same version, nothing changed
    await cache.read_workload(NS, parsed, status)
    assert len(world.kube.reads) == 2
    await cache.apply(NS, parsed, SetVersion(running(2), "MODEL_VERSION"))  # our own action
    await cache.read_workload(NS, parsed, status)
    assert len(world.kube.reads) == 3
    cache.forget_deployment(NS, "fraud-scorer")  # an event nobody guarded it for
    await cache.read_workload(NS, parsed, status, fresh=False)
    assert len(world.kube.reads) == 4


async def test_a_workload_with_the_kill_switch_in_play_is_always_read() -> None:
    world = World()
    cache = CachedWorkloads(world.kube)
    parsed = parse_spec(spec(1, kill={"enabled": True, "reason": "INC-1"}))
    await cache.read_workload(NS, parsed, ModelDeploymentStatus())
    await cache.read_workload(NS, parsed, ModelDeploymentStatus())
    assert len([kind for kind, _ in world.kube.reads if kind == "deployment"]) == 2


# ----------------------------------------------------------------- through the reconciler


class CachedWorld(World):
    """The operator as handlers.py wires it: the cache, fed by the watch, and the
    production status-write rule (5 minutes)."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = CachedWorkloads(self.kube)
        self.reconciler = Reconciler(
            self.cache,
            self.prometheus,
            self.clock,
            writes=StatusWrites(timedelta(minutes=5)),
        )

    async def reconcile(self) -> datetime | None:
        return await self.reconciler.reconcile(NS, NAME)


async def steady() -> CachedWorld:
    """v1 live and evaluated once: the cache is warm."""
    world = CachedWorld()
    world.kube.create_model(NS, NAME, spec(1))
    watched(world.kube, world.cache, None)
    world.prometheus.answers['version="v1"'] = GOOD
    await world.reconcile()
    world.clock.advance(WARM)
    await world.reconcile()
    assert world.status().last_evaluation is not None
    return world


async def test_steady_state_evaluations_make_no_reads_and_no_writes() -> None:
    world = await steady()
    reads, workloads = world.kube.model_reads, len(world.kube.reads)
    writes = len(world.kube.status_writes)
    queries = len(world.prometheus.queries())
    for _ in range(8):  # four minutes at 30 s
        world.clock.advance(timedelta(seconds=30))
        await world.reconcile()
    assert len(world.prometheus.queries()) == queries + 8  # every one evaluated
    assert (world.kube.model_reads, len(world.kube.reads)) == (reads, workloads)
    assert len(world.kube.status_writes) == writes
    for _ in range(3):  # past five minutes since the stored evaluation: refreshed once
        world.clock.advance(timedelta(seconds=30))
        await world.reconcile()
    assert len(world.kube.status_writes) == writes + 1
    assert world.status().last_evaluation.time >= world.clock.now - timedelta(minutes=1)  # type: ignore[union-attr]


async def test_an_early_kick_does_not_evaluate_again() -> None:
    """The held-back status stands in for the stored one: the interval counts from the
    last evaluation, not from the last one written."""
    world = await steady()
    world.clock.advance(timedelta(seconds=30))
    await world.reconcile()
    queries = len(world.prometheus.queries())
    world.clock.advance(timedelta(seconds=5))
    await world.reconcile()  # a kick 5 s later
    assert len(world.prometheus.queries()) == queries


async def test_a_verdict_change_is_written_at_once_and_acted_on_fresh_reads() -> None:
    world = CachedWorld()
    world.kube.create_model(NS, NAME, spec(2))  # the Deployment runs v1: it is known good
    watched(world.kube, world.cache, None)
    await world.reconcile()  # v2 goes live: an action, so on fresh reads
    assert world.runs() == running(2)
    world.clock.advance(WARM)
    world.prometheus.answers['version="v2"'] = GOOD
    await world.reconcile()
    reads, writes = world.kube.model_reads, len(world.kube.status_writes)
    world.clock.advance(timedelta(seconds=30))
    world.prometheus.answers['version="v2"'] = BAD
    await world.reconcile()
    assert world.status().phase is Phase.ROLLED_BACK  # written at once
    assert world.runs() == running(1)
    assert len(world.kube.status_writes) > writes
    assert world.kube.model_reads > reads  # the rollback was decided on a fresh read


async def test_an_action_decided_on_a_stale_cache_is_decided_again() -> None:
    """The watch has not delivered the user's kill-switch release yet: the kill switch
    is not enforced from the cache; the fresh read shows the new version, and the
    reconcile decides again from it (as after a 409)."""
    world = await steady()
    world.kube.edit_spec(NS, NAME, spec(1, kill={"enabled": True, "reason": "INC-1"}))
    watched(world.kube, world.cache)
    await world.reconcile()
    assert world.deployment().replicas == 0
    world.kube.edit_spec(NS, NAME, spec(1, kill={"enabled": False, "reason": ""}))
    # Not delivered: the cache still says enabled, which would decide "keep it at 0".
    world.deployment().replicas = 5  # someone scales it meanwhile
    await world.reconcile()
    assert world.deployment().replicas == 3  # released to the saved count, from fresh reads
    assert not world.status().kill_switch.engaged


class Kicks:
    """Stands in for the scheduler: what was kicked, and in which lane."""

    def __init__(self) -> None:
        self.kicked: list[tuple[tuple[str, str], bool]] = []

    def kick(self, key: tuple[str, str], urgent: bool = False) -> None:
        self.kicked.append((key, urgent))


async def test_a_kill_the_sweep_finds_is_enforced_though_the_cache_holds_the_old_body() -> None:
    """After an outage the sweep's LIST sees a kill the watch has not delivered: the
    cache still has the body from before, with no switch in it (found in review: the
    kicked reconcile planned from it and did nothing)."""
    world = await steady()
    world.kube.edit_spec(NS, NAME, spec(1, kill={"enabled": True, "reason": "INC-1"}))
    scheduler = Kicks()
    _kick_fresh(world.cache, scheduler, KEY)  # type: ignore[arg-type]
    assert scheduler.kicked == [(KEY, True)]
    await world.reconcile()
    assert world.deployment().replicas == 0


async def test_an_engage_reads_the_object_once_and_confirms_nothing_after() -> None:
    """The kill switch acts for sure: the reconcile reads the object fresh at once rather
    than plan from the cache and confirm afterwards (a round trip more before the scale)."""
    world = await steady()
    world.kube.edit_spec(NS, NAME, spec(1, kill={"enabled": True, "reason": "INC-1"}))
    watched(world.kube, world.cache)
    reads, workloads = world.kube.model_reads, len(world.kube.reads)
    await world.reconcile()
    assert world.deployment().replicas == 0
    assert world.kube.model_reads - reads == 1
    # One read to decide, one to observe the scale done (before: a third, to confirm).
    assert len(world.kube.reads) - workloads == 2
