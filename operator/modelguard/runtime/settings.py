"""Operator settings, from environment variables with the MODELGUARD_ prefix."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from modelguard.core import labelselector
from modelguard.core.labelselector import LabelSelector

# Where a pod finds its own namespace (the ServiceAccount token mount).
_POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# A shard's name goes into its Lease's name: a DNS label.
_SHARD_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


@dataclass(frozen=True)
class Settings:
    #: Port of the operator's own /metrics; 0 turns it off.
    metrics_port: int = 9102
    #: How many ModelDeployments are reconciled at once (Prometheus queries included).
    concurrency: int = 16
    #: How many kill-switch reconciles (engage, enforce, release) run at once, in a lane
    #: of their own that evaluations and a backlog of due reconciles cannot fill. As many
    #: as the normal lane: a fleet-wide kill (`modelguard kill --all`) is all urgent.
    kill_switch_concurrency: int = 16
    #: Longest wait before retrying a reconcile that failed (exponential backoff up to it).
    max_backoff_seconds: float = 300.0
    #: Worker threads for the blocking Kubernetes client, and the size of its connection
    #: pool. A reconcile makes one Kubernetes call at a time, so concurrency +
    #: kill_switch_concurrency threads never queue; asyncio's default, min(32, CPUs + 4),
    #: is 6 on 2 cores.
    threads: int = 32
    #: Decide and record everything (status, Events, logs) but write nothing to any
    #: Deployment or Service: to watch what the operator would do before trusting it.
    dry_run: bool = False
    #: Connections to one Prometheus endpoint at most (queries beyond wait their turn).
    #: Prometheus queries hold no thread (aiohttp, on the event loop): a Prometheus that
    #: never answers holds these sockets for the query timeout, never a Kubernetes call's
    #: thread. MODELGUARD_PROMETHEUS_THREADS, the old name of this bound, still works.
    prometheus_connections: int = 16
    #: The resolution of "now" for Prometheus queries, and how long a result answers the
    #: same query again: identical queries of one tick (many objects, several checks)
    #: are sent once (adapters/prometheus_pool.py). 0 sends every query as asked.
    prometheus_tick_seconds: float = 1.0
    #: Cap on kopf's backoffs between retries of a failed API request, watches included:
    #: after an API-server outage a watch resumes (and a kill patched meanwhile is seen)
    #: within this long of the server answering again, instead of kopf's up to 21 s.
    #: There are more retries, so they span as long as kopf's (54 s) in total.
    watch_retry_seconds: float = 0.5
    #: For this long after this replica starts to lead (at start, and after an API-server
    #: outage), it lists the ModelDeployments itself every watch_retry_seconds and puts
    #: each pending kill switch in the kill-switch lane, without waiting for kopf's
    #: re-list (runtime.sweep); 0 turns it off.
    kill_switch_sweep_seconds: float = 30.0
    #: Leader election on a Lease: every replica watches, only the holder acts. On by
    #: default, so that a second replica can never act beside the first; turn it off only
    #: for a single replica that should not need the Lease RBAC (a laptop, a test).
    leader_election: bool = True
    #: The Lease (coordination.k8s.io/v1) and its namespace; by default the pod's own
    #: namespace (from the ServiceAccount mount), else "default".
    lease_name: str = "modelguard-leader"
    lease_namespace: str = "default"
    #: This replica's holderIdentity: the pod name (deploy/ sets it from the downward API,
    #: so a container restarted in its pod takes its Lease back at once); by default the
    #: host name and process id, unique among processes on one machine.
    identity: str = ""
    #: client-go's timings: the Lease is good for lease_duration after its last renewal;
    #: the holder renews every retry_period and stops acting when it has not renewed for
    #: renew_deadline (< lease_duration, so it stops before anyone can take over).
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0
    #: Sharding (deploy/shards/): this operator's shard, a name for its logs, its
    #: modelguard_shard_info and (unless lease_name is given) its Lease,
    #: modelguard-leader-<shard>; a shard elects its own leader. Empty: not sharded.
    shard: str = ""
    #: The ModelDeployments this operator owns, as a Kubernetes label selector (kubectl's
    #: -l syntax), e.g. "modelguard.io/shard=a". The API server filters the operator's
    #: list and watch by it, so a shard never holds or processes another's objects;
    #: empty: every ModelDeployment. Set only together with `shard`.
    shard_selector: str = ""

    def __post_init__(self) -> None:
        if self.shard and not _SHARD_NAME.fullmatch(self.shard):
            raise ValueError(
                f"MODELGUARD_SHARD must be a DNS label of at most 40 characters "
                f"(lower-case letters, digits, '-'), not {self.shard!r}"
            )
        if self.shard_selector and not self.shard:
            # Unnamed shards would all default to one Lease, and only one of them would
            # ever lead: the others' objects would be guarded by nobody.
            raise ValueError("MODELGUARD_SHARD_SELECTOR is set: name the shard (MODELGUARD_SHARD)")
        self.selector  # noqa: B018  (parsed now: a bad selector is refused at startup)

    @cached_property
    def selector(self) -> LabelSelector:
        """The parsed shard_selector: `selector.matches(labels)` says whether an object is
        this shard's; `selector.everything` when the operator is not sharded."""
        try:
            return labelselector.parse(self.shard_selector)
        except ValueError as exc:
            raise ValueError(f"MODELGUARD_SHARD_SELECTOR: {exc}") from None

    #: A status change that only refreshes the evaluation time (and figures within
    #: status_value_tolerance) is written once the stored evaluation time is this old;
    #: anything a person or a decision depends on is written at once (core.significance).
    #: 0 writes every change. Five minutes: the resync period, and a tenth of the status
    #: writes of a 30 s interval.
    status_refresh_seconds: float = 300.0
    #: Relative change of a check's value (baseline, samples) below which it is volatile.
    status_value_tolerance: float = 0.01
    #: Each object's evaluations fall on its own slot within its interval (a stable
    #: phase from its uid), so a thousand objects created together, or an operator
    #: restart, spread over the interval instead of coming due in the same second. The
    #: first evaluation after the warmup may then wait up to one interval.
    spread_evaluations: bool = True
    #: After a restart or a change of leader, objects with nothing under way get their
    #: first reconcile within this many seconds (a stable offset each), not all at once.
    startup_spread_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        shard = env.get("MODELGUARD_SHARD", "").strip()
        return cls(
            shard=shard,
            shard_selector=env.get("MODELGUARD_SHARD_SELECTOR", "").strip(),
            metrics_port=int(env.get("MODELGUARD_METRICS_PORT", cls.metrics_port)),
            concurrency=int(env.get("MODELGUARD_CONCURRENCY", cls.concurrency)),
            max_backoff_seconds=float(
                env.get("MODELGUARD_MAX_BACKOFF_SECONDS", cls.max_backoff_seconds)
            ),
            threads=int(env.get("MODELGUARD_THREADS", cls.threads)),
            dry_run=_flag("MODELGUARD_DRY_RUN", env.get("MODELGUARD_DRY_RUN", "")),
            prometheus_connections=int(
                env.get("MODELGUARD_PROMETHEUS_CONNECTIONS")
                or env.get("MODELGUARD_PROMETHEUS_THREADS")
                or cls.prometheus_connections
            ),
            prometheus_tick_seconds=float(
                env.get("MODELGUARD_PROMETHEUS_TICK_SECONDS", cls.prometheus_tick_seconds)
            ),
            kill_switch_concurrency=int(
                env.get("MODELGUARD_KILL_SWITCH_CONCURRENCY", cls.kill_switch_concurrency)
            ),
            watch_retry_seconds=float(
                env.get("MODELGUARD_WATCH_RETRY_SECONDS", cls.watch_retry_seconds)
            ),
            kill_switch_sweep_seconds=float(
                env.get("MODELGUARD_KILL_SWITCH_SWEEP_SECONDS", cls.kill_switch_sweep_seconds)
            ),
            leader_election=_flag(
                "MODELGUARD_LEADER_ELECTION", env.get("MODELGUARD_LEADER_ELECTION", "true")
            ),
            lease_name=env.get("MODELGUARD_LEASE_NAME") or _lease_name(shard),
            lease_namespace=env.get("MODELGUARD_LEASE_NAMESPACE") or _own_namespace(),
            identity=env.get("MODELGUARD_IDENTITY") or f"{socket.gethostname()}_{os.getpid()}",
            lease_duration_seconds=float(
                env.get("MODELGUARD_LEASE_DURATION_SECONDS", cls.lease_duration_seconds)
            ),
            renew_deadline_seconds=float(
                env.get("MODELGUARD_RENEW_DEADLINE_SECONDS", cls.renew_deadline_seconds)
            ),
            retry_period_seconds=float(
                env.get("MODELGUARD_RETRY_PERIOD_SECONDS", cls.retry_period_seconds)
            ),
            status_refresh_seconds=float(
                env.get("MODELGUARD_STATUS_REFRESH_SECONDS", cls.status_refresh_seconds)
            ),
            spread_evaluations=_flag(
                "MODELGUARD_SPREAD_EVALUATIONS", env.get("MODELGUARD_SPREAD_EVALUATIONS", "true")
            ),
            startup_spread_seconds=float(
                env.get("MODELGUARD_STARTUP_SPREAD_SECONDS", cls.startup_spread_seconds)
            ),
            status_value_tolerance=float(
                env.get("MODELGUARD_STATUS_VALUE_TOLERANCE", cls.status_value_tolerance)
            ),
        )


def _lease_name(shard: str) -> str:
    return f"{Settings.lease_name}-{shard}" if shard else Settings.lease_name


def _own_namespace() -> str:
    try:
        return _POD_NAMESPACE_FILE.read_text().strip() or Settings.lease_namespace
    except OSError:
        return Settings.lease_namespace


def _flag(name: str, value: str) -> bool:
    """true/1/yes (any case) is on; empty, false/0/no is off; anything else is refused,
    so that a typo cannot silently turn dry run (or election) off and let the operator write."""
    word = value.strip().lower()
    if word in ("true", "1", "yes"):
        return True
    if word in ("", "false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")
