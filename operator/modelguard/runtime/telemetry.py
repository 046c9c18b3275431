"""The operator's own Prometheus metrics (prometheus-client), served on their own port.

Two kinds. Aggregates (reconcile time and errors, decisions by reason, evaluations by
verdict) carry no per-object label. Per-object series (the ones dashboards and alerts
name an object by: info, each check's last value, conditions, the kill switch) are
derived from the object's recorded status by `observe`, which replaces them as a whole:
a series whose labels no longer hold (an old phase or version, a check that left the
spec) is removed, and `forget` removes them all when the object is deleted. Cardinality
is therefore bounded by ModelDeployments x (checks + condition types + 2), whatever the
history of each object.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from modelguard.core.api import ModelDeploymentStatus

RECONCILE_SECONDS = Histogram(
    "modelguard_reconcile_duration_seconds",
    "Time of one reconcile of a ModelDeployment, Prometheus queries included.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECONCILE_ERRORS = Counter(
    "modelguard_reconcile_errors_total", "Reconciles that failed and will be retried."
)
DECISIONS = Counter(
    "modelguard_decisions_total",
    "Decisions taken, by Event reason (RolledBack, KillSwitchEngaged, VersionPromoted, ...).",
    ["reason"],
)
EVALUATIONS = Counter(
    "modelguard_evaluations_total", "Evaluations of a model version, by verdict.", ["verdict"]
)
# From due time to start and to end of a reconcile: how far behind its schedule the
# operator runs. Buckets fine enough for p50/p95 anywhere between 10 ms and 60 s (the
# scale benchmark reads this name, with stage="start" and stage="done").
EVALUATION_LAG = Histogram(
    "modelguard_evaluation_lag_seconds",
    "Seconds from a reconcile's due time to its start (stage=start) and its end (stage=done).",
    ["stage"],
    buckets=(
        0.005,
        0.01,
        0.015,
        0.025,
        0.04,
        0.06,
        0.1,
        0.15,
        0.25,
        0.4,
        0.6,
        1,
        1.5,
        2,
        2.5,
        3,
        4,
        5,
        7.5,
        10,
        15,
        20,
        30,
        45,
        60,
        120,
    ),
)
# What the watch cache answered (hit) and what it sent to the API server (miss), by the
# kind of object read; and the status changes not worth a write (core.significance).
CACHE_READS = Counter(
    "modelguard_cache_reads_total",
    "Reads of a ModelDeployment or a workload, answered from the watch cache or not.",
    ["kind", "result"],
)
STATUS_WRITES_SKIPPED = Counter(
    "modelguard_status_writes_skipped_total",
    "Status changes only in volatile fields (evaluation time, figures within tolerance) "
    "not written yet.",
)
NOTIFICATIONS_SENT = Counter(
    "modelguard_notifications_sent_total",
    "Notifications a receiver accepted (2xx), by decision.",
    ["decision"],
)
NOTIFICATIONS_FAILED = Counter(
    "modelguard_notifications_failed_total",
    "Notifications given up after their retries (or refused outright), by decision.",
    ["decision"],
)
NOTIFICATIONS_DROPPED = Counter(
    "modelguard_notifications_dropped_total",
    "Notifications the full queue had no room for; still pending in status, offered again "
    "by the next reconcile.",
)
PROMETHEUS_QUERIES = Counter(
    "modelguard_prometheus_queries_total",
    "Instant queries the evaluations asked of Prometheus (answered by a request, by "
    "another's request in flight, or by an answer of the same tick).",
)
PROMETHEUS_REQUESTS = Counter(
    "modelguard_prometheus_requests_total",
    "HTTP requests actually sent to Prometheus; queries_total / requests_total is what "
    "single flight saves.",
)
KILL_SWITCH_ENGAGED = Gauge(
    "modelguard_kill_switch_engaged",
    "1 while a ModelDeployment's kill switch is engaged.",
    ["namespace", "name"],
)
INFO = Gauge(
    "modelguard_info",
    "Always 1: a ModelDeployment's phase and the version it runs (one series per object).",
    ["namespace", "name", "phase", "version"],
)
CHECK_VALUE = Gauge(
    "modelguard_check_value",
    "A check's value in the object's last evaluation (absent when it had no data).",
    ["namespace", "name", "check"],
)
CONDITION = Gauge(
    "modelguard_condition",
    "1 while a status condition is True, 0 while False (absent while Unknown).",
    ["namespace", "name", "type"],
)

Key = tuple[str, str]


@dataclass(frozen=True)
class _Series:
    """The label values of one object's per-object series, as last exported."""

    info: tuple[str, str]  # (phase, version)
    checks: frozenset[str]
    conditions: frozenset[str]


# Only the event loop's thread calls observe/forget: no lock needed.
_exported: dict[Key, _Series] = {}


def observe(namespace: str, name: str, status: ModelDeploymentStatus) -> None:
    """Export the object's per-object series from its recorded status, dropping the
    ones whose labels no longer hold."""
    key = (namespace, name)
    previous = _exported.get(key)
    current = status.current_version
    info = (status.phase.value, current.name if current is not None else "")
    values = {
        c.name: c.value
        for c in (status.last_evaluation.checks if status.last_evaluation else [])
        if c.value is not None
    }
    conditions = {c.type: c.status for c in status.conditions if c.status != "Unknown"}
    if previous is not None:
        if previous.info != info:
            INFO.remove(namespace, name, *previous.info)
        for check in previous.checks - values.keys():
            CHECK_VALUE.remove(namespace, name, check)
        for type_ in previous.conditions - conditions.keys():
            CONDITION.remove(namespace, name, type_)
    INFO.labels(namespace, name, *info).set(1)
    for check, value in values.items():
        CHECK_VALUE.labels(namespace, name, check).set(value)
    for type_, state in conditions.items():
        CONDITION.labels(namespace, name, type_).set(1 if state == "True" else 0)
    # Users alert on this gauge: it follows the recorded switch, invalid spec or not.
    KILL_SWITCH_ENGAGED.labels(namespace, name).set(1 if status.kill_switch.engaged else 0)
    _exported[key] = _Series(info, frozenset(values), frozenset(conditions))


def forget(namespace: str, name: str) -> None:
    """The object is gone: remove every per-object series it had (a no-op if none)."""
    previous = _exported.pop((namespace, name), None)
    if previous is None:
        return
    INFO.remove(namespace, name, *previous.info)
    for check in previous.checks:
        CHECK_VALUE.remove(namespace, name, check)
    for type_ in previous.conditions:
        CONDITION.remove(namespace, name, type_)
    KILL_SWITCH_ENGAGED.remove(namespace, name)


def forget_all() -> None:
    """Remove every per-object series: for a replica that stops reconciling (a leader
    that lost its lease), whose series would otherwise go stale beside the leader's."""
    for namespace, name in list(_exported):
        forget(namespace, name)


LEADER = Gauge(
    "modelguard_leader",
    "1 while this replica holds the leader Lease and acts (or runs without election); "
    "0 on a standby, which watches but never acts.",
)
SHARD = Gauge(
    "modelguard_shard_info",
    "Always 1: this replica's shard (deploy/shards/) and the label selector of the "
    "ModelDeployments it owns; both empty when the operator is not sharded.",
    ["shard", "selector"],
)


def serve(port: int) -> None:
    """Expose /metrics on all interfaces of the pod; 0 disables it."""
    if port:
        start_http_server(port)
