"""kopf handlers: wiring only. Watch events become reconcile requests; the reconciler
and the pure core decide everything.

Run with:  kopf run -m modelguard.runtime.handlers --standalone --all-namespaces

Only event handlers are used, never change-detecting ones, so kopf writes nothing to
the objects (no finalizers, no last-handled-configuration annotation): the
ModelDeployment's own status is the only state, and GitOps tools see no drift. The one
exception is ours, not kopf's: while the status holds saved state (an engaged kill
switch, a pending version change) the reconciler keeps the finalizer
modelguard.io/restore on the object, so that a delete restores before the object goes
(core.decision.teardown); the delete then arrives here as an update with
deletionTimestamp set.

Shards (deploy/shards/): with MODELGUARD_SHARD and MODELGUARD_SHARD_SELECTOR, the API
server filters the ModelDeployment watch by the selector, each shard elects its own leader
on its own Lease, and runtime.sharding drops an object relabelled away mid-reconcile.

Two replicas (deploy/): every replica runs these handlers, so a standby's scheduler knows
every object and what it guards; only the replica holding the leader Lease
(runtime.leadership) lets its scheduler start reconciles, and only it writes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterable
from typing import Any

import kopf

from modelguard.core import api
from modelguard.core.api.templates import CLUSTER_TEMPLATE_KIND, TEMPLATE_KIND
from modelguard.core.guarded import at_rest, guarded_by, kill_switch_state
from modelguard.core.leader import Timings
from modelguard.runtime import telemetry
from modelguard.runtime.assembly import assemble
from modelguard.runtime.cache import CachedWorkloads
from modelguard.runtime.leadership import Leadership
from modelguard.runtime.scheduler import Scheduler
from modelguard.runtime.settings import Settings
from modelguard.runtime.template_index import TemplateIndex

log = logging.getLogger(__name__)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = Settings.from_env()
    # Checked before anything starts: a bad combination is a configuration error, refused
    # here rather than a replica that never leads.
    timings = Timings(
        config.lease_duration_seconds, config.renew_deadline_seconds, config.retry_period_seconds
    )
    # Events are posted by the reconciler with the evidence; kopf's own per-handler
    # Events would only repeat log lines on the object.
    settings.posting.enabled = False
    # Reconnect watches before the server or a proxy cuts them silently (kopf #585).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # kopf retries a failed request (a watch included) after 1, 1, 2, 3, 5, 8, 13, 21 s:
    # after an API-server outage, a kill patched as it came back would wait out the rest
    # of that backoff, as nothing else wakes an object without analysis. Retrying every
    # watch_retry_seconds against a server that refuses connections costs nothing; the
    # retries still span as long as kopf's (see _capped).
    settings.networking.error_backoffs = _capped(
        settings.networking.error_backoffs, config.watch_retry_seconds
    )
    if config.shard:
        # Server-side, on the list and the watch alike (kopf's label_selectors, not its
        # client-side `labels=` filter): the API server sends this shard its own
        # ModelDeployments only, so it never holds the others' in memory, and an object
        # relabelled away arrives as DELETED (forgotten below, never torn down).
        settings.watching.label_selectors[api.GROUP, api.PLURAL] = config.shard_selector
        log.info("Shard %s: ModelDeployments selected by %r", config.shard, config.shard_selector)
    assemble(config, timings, memo)
    # Unsharded too (shard ""): ModelGuardNoLeader joins on it to alert per shard.
    telemetry.SHARD.labels(config.shard, config.shard_selector).set(1)
    if os.environ.get("MODELGUARD_TEST_HOOKS") == "1":
        _install_test_hooks(memo.scheduler_task)
    telemetry.serve(config.metrics_port)

    log.info("modelguard started", extra={"settings": repr(config)})
    if config.dry_run:
        log.warning("Dry run: decisions are recorded, nothing is written to any workload")


def _capped(backoffs: float | Iterable[float], cap: float) -> tuple[float, ...]:
    """Each backoff split into steps of at most `cap`: as long in total as kopf's own.

    The total matters as much as the step. kopf gives up on a request when its retries
    run out, and for a watch that got 403 (a restarted API server answers 403 until its
    RBAC caches are warm) giving up is fatal: the watcher stops for good. Fewer, shorter
    retries would end inside that window after an outage; this keeps kopf's tolerance.
    """
    steps = (backoffs,) if isinstance(backoffs, int | float) else tuple(backoffs)
    capped: list[float] = []
    for step in steps:
        whole, rest = divmod(float(step), cap)
        capped.extend([cap] * int(whole))
        if rest > 1e-9:
            capped.append(rest)
    return tuple(capped)


def _install_test_hooks(scheduler_task: asyncio.Task[None]) -> None:
    """Only with MODELGUARD_TEST_HOOKS=1: SIGUSR1 cancels the scheduler task.

    The e2e tier uses it to prove that /healthz fails once the scheduler is dead; nothing
    else can reach into the process to end that task. A signal gated by a variable rather
    than, say, a setting that makes a reconcile crash on a given name: it adds no branch
    to the reconcile path, and without the variable SIGUSR1 keeps its default action
    (terminate the process), so a production operator cannot be left with a dead
    scheduler by it.
    """
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, scheduler_task.cancel)
    log.warning("Test hooks are on: SIGUSR1 cancels the scheduler")


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    # Stops the loop and waits for it, then cancels and waits for the reconciles in flight;
    # only then is the Lease released, so that nothing of ours still writes when a standby
    # takes over (a rolling update then hands over within a retry period).
    await memo.sweep.stop()
    await memo.scheduler.stop()
    await memo.notifier.stop()  # what it had not sent is still pending in status
    if memo.leadership is not None:
        await memo.leadership.stop()
    await memo.prometheus.close()  # nothing evaluates any more: its connections go
    for pool in memo.pools:
        # Kubernetes calls still running out a timeout are left to finish on their own.
        pool.shutdown(wait=False, cancel_futures=True)


async def scheduled(memo: kopf.Memo, **_: Any) -> int:
    """Liveness: the number of scheduled reconciles, or a failure if the scheduler is dead.

    Watch events still arrive with a dead scheduler, so kopf alone would stay healthy
    while nothing is reconciled. A probe that fails makes kopf's /healthz answer 500
    (kopf/_core/engines/probing.py); kopf caches a passing result for 10 s, so the
    failure shows within 10 s, less than the Deployment's 20 s liveness period.
    """
    scheduler: Scheduler = memo.scheduler
    if scheduler.failure is not None:
        # PermanentError, not any exception: kopf retries a probe that raised anything
        # else after the handler backoff (60 s), holding the /healthz request meanwhile.
        raise kopf.PermanentError(f"the scheduler {scheduler.failure}")
    # A standby is healthy (its scheduler runs, only paused); an election loop that died
    # is not: that replica could never take over.
    leadership: Leadership | None = getattr(memo, "leadership", None)
    if leadership is not None and leadership.failure is not None:
        raise kopf.PermanentError(f"the leader election {leadership.failure}")
    return scheduler.size


# Registered by a call rather than as a decorator so that `scheduled` keeps its own
# signature (kopf types a decorated probe as its generic callback protocol), which lets
# the fast tier call it with a memo alone.
kopf.on.probe(id="scheduled")(scheduled)


# The event handlers are coroutines on purpose: they only touch in-memory state, and a
# sync handler would hop through kopf's thread pool (6 threads on 2 cores) per event.

# Event types that always kick: the initial listing (None), creation and deletion.
_ALWAYS = (None, "ADDED", "DELETED")


@kopf.on.event(api.GROUP, api.VERSION, api.PLURAL)
async def model_deployment_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    key = (body.metadata.namespace or "", body.metadata.name or "")
    scheduler: Scheduler = memo.scheduler
    # Before any kick: the reconcile it starts reads this body from the cache.
    if (cache := _cache(memo)) is not None:
        cache.model_event(type, body)
    if type == "DELETED":
        # Also how a shard hears that an object was relabelled to another shard: it no
        # longer matches the watch's selector. Either way it is only forgotten here: a
        # delete with anything left to restore is held by our finalizer and came as an
        # update with deletionTimestamp (the reconcile's teardown), never as this.
        scheduler.forget(key)
        memo.templates.forget(key)
        memo.notifier.forget(key)
        memo.writes.forget(*key)
        # No reconcile follows a deletion: its per-object series go now.
        telemetry.forget(*key)
        return
    # What the reconcile reads (core.guarded): the Deployment and the Service the kill
    # switch switches, which stays guarded while engaged until the release restores it.
    spec, status = body.get("spec") or {}, body.get("status") or {}
    targets = guarded_by(spec, status)
    switch = kill_switch_state(spec, status)
    rest = at_rest(status, kill_switch_in_play=switch.in_play)
    scheduler.watch(key, targets, kill_switch=switch.in_play, at_rest=rest)
    # A user or GitOps changes the spec (a new generation) or the CLI's annotations, or
    # deletes the object (deletionTimestamp; held by our finalizer until restored); an
    # event that changed none of these echoes a status write, most often the operator's own.
    meta = body.get("metadata") or {}
    look = (
        meta.get("generation"),
        sorted((meta.get("annotations") or {}).items()),
        meta.get("deletionTimestamp"),
    )
    if scheduler.changed("modeldeployment", *key, look) or type in _ALWAYS:
        # An engage or a release not yet done takes the kill-switch lane.
        # A listing (a restart, a watch that had to start over) spreads what is at rest.
        scheduler.kick(key, urgent=switch.pending, listed=type is None)


def _guarded(kind: str) -> Any:
    def when(namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any) -> bool:
        scheduler: Scheduler | None = getattr(memo, "scheduler", None)
        return bool(scheduler and scheduler.guards_of(kind, namespace or "", name or ""))

    return when


def _cache(memo: Any) -> CachedWorkloads | None:
    return getattr(memo, "cache", None)


def _deployment_guarded(namespace: str | None, name: str | None, memo: kopf.Memo, **_: Any) -> bool:
    """An event on a Deployment nobody guards is not handled, yet what the cache read of
    it is stale from then on: a ModelDeployment that guards it later must read it afresh."""
    guarded = bool(_guarded("deployment")(namespace, name, memo))
    if not guarded and (cache := _cache(memo)) is not None:
        cache.forget_deployment(namespace or "", name or "")
    return guarded


@kopf.on.event("apps", "v1", "deployments", when=_deployment_guarded)
async def deployment_event(
    type: str | None, body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    scheduler: Scheduler = memo.scheduler
    namespace = namespace or ""
    # Any new version (its status included) makes what was read of it stale.
    if (cache := _cache(memo)) is not None:
        cache.deployment_event(type, body)
    # Only a spec change (kubectl scale, set image: a new generation) can undo the kill
    # switch or a version; status updates (pods coming and going) cannot.
    generation = (body.get("metadata") or {}).get("generation")
    if scheduler.changed("deployment", namespace, name, generation) or type in _ALWAYS:
        scheduler.kick_guards("deployment", namespace, name)
    if type == "DELETED":
        scheduler.unseen("deployment", namespace, name)


@kopf.on.event("", "v1", "services", when=_guarded("service"))
async def service_event(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    memo.scheduler.kick_guards("service", namespace or "", name)


# Check templates: every replica keeps them in memory (runtime.template_index), so that a
# reconcile resolves templateRef checks without reading them from the API server.


def _template_event(
    kind: str, type: str | None, body: kopf.Body, namespace: str | None, name: str, memo: Any
) -> None:
    templates: TemplateIndex = memo.templates
    if type == "DELETED":
        templates.remove(kind, namespace or "", name)
        return
    # A template that appears is resolved at once by the objects that wanted it.
    for key in templates.put(kind, namespace or "", name, body):
        memo.scheduler.kick(key)


@kopf.on.event(api.GROUP, api.VERSION, "modelchecktemplates")
async def check_template_event(
    type: str | None, body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    _template_event(TEMPLATE_KIND, type, body, namespace, name, memo)


@kopf.on.event(api.GROUP, api.VERSION, "clustermodelchecktemplates")
async def cluster_check_template_event(
    type: str | None, body: kopf.Body, name: str, memo: Any, **_: Any
) -> None:
    _template_event(CLUSTER_TEMPLATE_KIND, type, body, None, name, memo)
