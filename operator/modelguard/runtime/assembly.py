"""The operator's parts, built from its Settings and wired together (handlers.startup
calls assemble once): the pools, the Prometheus pool, the Kubernetes adapter behind the
watch cache, the notifier, the template index, the status-write rule, the reconciler, the
scheduler, the kill-switch sweep and, with leader election, the Leadership that gates them.

Everything handlers.py's kopf handlers need later is left on kopf's memo. Here rather than
in handlers.py so that the handlers module holds only what kopf calls.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from modelguard.adapters.kube import KubeAdapter, load_api_client
from modelguard.adapters.lease import KubeLeases
from modelguard.adapters.prometheus_pool import PrometheusPool
from modelguard.core.leader import Election, Timings
from modelguard.runtime import telemetry
from modelguard.runtime.cache import CachedWorkloads
from modelguard.runtime.leadership import Leadership
from modelguard.runtime.notifier import Notifier
from modelguard.runtime.reconciler import Reconciler
from modelguard.runtime.scheduler import Scheduler
from modelguard.runtime.settings import Settings
from modelguard.runtime.sharding import ShardKube
from modelguard.runtime.statuswrites import StatusWrites
from modelguard.runtime.sweep import KillSwitchSweep
from modelguard.runtime.template_index import TemplateIndex

log = logging.getLogger(__name__)


def assemble(config: Settings, timings: Timings, memo: Any) -> None:
    """Build and start the parts; `memo` is kopf's (the handlers find them there)."""
    # Kubernetes calls run in a pool of threads of their own, sized for the concurrent
    # reconciles (not for the CPU count). Prometheus queries take no thread at all
    # (aiohttp on the loop, a bounded connection pool per endpoint), so a hanging
    # Prometheus can hold only its own sockets.
    kube_pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="kube")
    # The Lease has threads of its own: a renewal never queues behind reconciles.
    lease_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lease")
    memo.pools = (kube_pool, lease_pool)
    prometheus = PrometheusPool(
        connections=config.prometheus_connections,
        tick=config.prometheus_tick_seconds,
        on_query=telemetry.PROMETHEUS_QUERIES.inc,
        on_request=telemetry.PROMETHEUS_REQUESTS.inc,
    )
    memo.prometheus = prometheus
    metrics = prometheus.source
    memo.leadership = None

    def may_act() -> bool:
        """The reconciler's gate: asked right before every write and action."""
        leadership: Leadership | None = memo.leadership
        return leadership is None or leadership.leading()

    # Reads answered from what the watches below deliver (runtime.cache): a GET only when
    # the cache cannot answer, and for every decision that acts.
    direct = _kube(config, kube_pool)
    memo.cache = kube = CachedWorkloads(direct)
    notifier = Notifier(kube)
    templates = TemplateIndex(kube)
    memo.templates = templates
    writes = StatusWrites(
        timedelta(seconds=config.status_refresh_seconds), config.status_value_tolerance
    )
    memo.writes = writes
    reconciler = Reconciler(
        kube,
        metrics,
        dry_run=config.dry_run,
        notifier=notifier,
        gate=may_act,
        templates=templates,
        writes=writes,
        spread=config.spread_evaluations,
    )
    scheduler = Scheduler(
        reconciler.reconcile,
        concurrency=config.concurrency,
        max_backoff=config.max_backoff_seconds,
        urgent_concurrency=config.kill_switch_concurrency,
        interrupt=reconciler.interrupt,
        leading=not config.leader_election,
        spread=config.startup_spread_seconds,
    )
    memo.scheduler = scheduler
    memo.scheduler_task = scheduler.start()
    memo.sweep = KillSwitchSweep(
        direct.list_model_deployments,  # a LIST is never the cache's to answer
        scheduler.namespaces,
        lambda key: _kick_fresh(kube, scheduler, key),
        interval=config.watch_retry_seconds,
        window=config.kill_switch_sweep_seconds,
    )
    # A delivery's outcome is written by the object's next reconcile: kick it.
    notifier.start(kick=scheduler.kick)
    memo.notifier = notifier
    if config.leader_election:
        memo.leadership = _leadership(config, timings, scheduler, memo.sweep, lease_pool)
        memo.leadership.start()
    else:
        telemetry.LEADER.set(1)  # alone, it acts


def _kick_fresh(cache: CachedWorkloads, scheduler: Scheduler, key: tuple[str, str]) -> None:
    """The sweep found a kill switch pending that the watch has not delivered: the cache
    still holds the body from before (no switch in it), so the reconcile must read the
    object from the API server, or it would plan from that body and do nothing."""
    cache.forget(*key)
    scheduler.kick(key, urgent=True)


def _kube(config: Settings, pool: ThreadPoolExecutor) -> KubeAdapter:
    api_client = load_api_client(config.threads)
    if not config.shard:
        return KubeAdapter(api_client, pool, instance=config.identity)
    return ShardKube(
        api_client, pool, instance=config.identity, shard=config.shard, selector=config.selector
    )


def _leadership(
    config: Settings,
    timings: Timings,
    scheduler: Scheduler,
    sweep: KillSwitchSweep,
    pool: ThreadPoolExecutor,
) -> Leadership:
    leases = KubeLeases(
        load_api_client(),
        config.lease_namespace,
        config.lease_name,
        pool,
        timeout=config.retry_period_seconds,
    )
    log.info(
        "Leader election on Lease %s/%s as %s",
        config.lease_namespace,
        config.lease_name,
        config.identity,
    )
    return Leadership(
        leases,
        Election(config.identity, timings),
        on_lead=lambda: _lead(scheduler, sweep),
        on_lose=scheduler.pause,
        # As often as kopf's watches retry: both must be back for a kill after an outage.
        failure_retry=config.watch_retry_seconds,
    )


def _lead(scheduler: Scheduler, sweep: KillSwitchSweep) -> None:
    """This replica leads: act on everything it knows, and look for kill switches pulled
    while it did not (after an outage, kopf's re-list would deliver them late)."""
    scheduler.resume()
    sweep.trigger()
