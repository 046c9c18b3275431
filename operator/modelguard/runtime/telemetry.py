"""The operator's own Prometheus metrics (prometheus-client), served on their own port.

Labels are bounded on purpose: per-object labels only on the kill-switch gauge, which
users alert on; everything else is aggregated by reason or verdict.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
KILL_SWITCH_ENGAGED = Gauge(
    "modelguard_kill_switch_engaged",
    "1 while a ModelDeployment's kill switch is engaged.",
    ["namespace", "name"],
)

LEADER = Gauge(
    "modelguard_leader",
    "1 while this replica holds the leader Lease and acts (or runs without election); "
    "0 on a standby, which watches but never acts.",
)


def serve(port: int) -> None:
    """Expose /metrics on all interfaces of the pod; 0 disables it."""
    if port:
        start_http_server(port)
