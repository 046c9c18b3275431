"""End-to-end: missing metrics are not evidence. A Prometheus outage, a model that stops
reporting, or a broken query make checks Inconclusive; only `noData: fail` turns that
into a rollback (the Flagger failure mode this product exists to avoid)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import (
    DEPLOYMENT,
    MD,
    accuracy_spec,
    condition,
    events,
    image,
    promote_v1,
    v,
    version,
)

pytestmark = pytest.mark.e2e

OUTAGES = ["prometheus-down", "series-absent"]
# What the evidence says for each Inconclusive reason.
EVIDENCE = {"QueryError": "unreachable", "NoData": "no series"}


def last_checks(cluster: Cluster, version_name: str) -> list[dict[str, Any]] | None:
    last = cluster.status(MD).get("lastEvaluation") or {}
    return list(last["checks"]) if last.get("version") == version_name else None


def metrics_unavailable(cluster: Cluster) -> dict[str, Any] | None:
    found = cluster.condition(MD, "MetricsAvailable")
    return found if found is not None and found["status"] == "False" else None


def running_v2_after_v1(
    cluster: Cluster, prometheus: PrometheusServer, exporter: SyntheticModelExporter, no_data: str
) -> None:
    """v1 known good, v2 (healthy so far) live and judged Passed at least once."""
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1", no_data=no_data)
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.95})
    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(
        lambda: (checks := last_checks(cluster, "v2")) and checks[0]["verdict"] == "Passed",
        timeout=20,
        what="v2 evaluated and passing",
    )


def start_outage(
    kind: str, cluster: Cluster, prometheus: PrometheusServer, exporter: SyntheticModelExporter
) -> str:
    """Begin the outage; return the Inconclusive reason the checks must then show."""
    if kind == "prometheus-down":
        prometheus.stop()  # the conftest brings it back for the next test
        return "QueryError"
    exporter.remove(cluster.namespace, "v2")  # the model stops reporting
    return "NoData"


@pytest.mark.parametrize("outage", OUTAGES)
def test_outage_under_no_data_hold_never_rolls_back(
    outage: str,
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    running_v2_after_v1(cluster, prometheus, exporter, no_data="hold")
    reason = start_outage(outage, cluster, prometheus, exporter)

    unavailable = cluster.wait(
        lambda: metrics_unavailable(cluster), timeout=15, what="MetricsAvailable=False"
    )
    assert unavailable["reason"] == reason  # QueryError when Prometheus is down
    assert "accuracy: Inconclusive" in unavailable["message"]

    # Many intervals (1 s each) without data: no failure counted, nothing rolled back.
    evaluations: set[str] = set()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert cluster.running_version(DEPLOYMENT) == v("v2")
        status = cluster.status(MD)
        assert status["consecutiveFailures"] == 0
        assert status["currentVersion"]["name"] == "v2"
        assert status.get("quarantinedVersions", []) == []
        last = status["lastEvaluation"]
        if last["version"] == "v2" and last["verdict"] == "Inconclusive":
            [check] = last["checks"]
            assert check["verdict"] == "Inconclusive"
            assert check["reason"] == reason
            evaluations.add(last["time"])
        time.sleep(0.5)
    assert len(evaluations) >= 3, f"hardly evaluated during the outage: {sorted(evaluations)}"

    [check] = cluster.status(MD)["lastEvaluation"]["checks"]
    assert EVIDENCE[reason] in check["message"]
    if outage == "prometheus-down":
        assert prometheus.url in check["message"]
    assert condition(cluster, "Degraded")["status"] == "False"
    assert condition(cluster, "RolledBack")["status"] == "False"
    assert cluster.status(MD)["phase"] == "Progressing"
    assert events(cluster, "RolledBack") == []
    assert events(cluster, "CheckFailed") == []
    [warning] = events(cluster, "MetricsUnavailable")  # once, on the transition
    assert warning["type"] == "Warning"
    assert "accuracy: Inconclusive" in warning["message"]
    assert EVIDENCE[reason] in warning["message"]

    # Recovery: data comes back and the operator says so.
    if outage == "prometheus-down":
        prometheus.start()
        prometheus.wait_for_targets()
    else:
        exporter.set(cluster.namespace, "v2", accuracy=0.95)
    available = cluster.wait(
        lambda: (c := cluster.condition(MD, "MetricsAvailable")) and c["status"] == "True" and c,
        timeout=20,
        what="MetricsAvailable=True again",
    )
    assert available["reason"] == "QueriesAnswered"
    assert cluster.running_version(DEPLOYMENT) == v("v2")
    assert operator.running
    assert "Traceback" not in operator.log_file.read_text(), operator.log_tail(60)


@pytest.mark.parametrize("outage", OUTAGES)
def test_outage_under_no_data_fail_rolls_back(
    outage: str,
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """`noData: fail` is the user saying "no data is a failure": it rolls back, in the
    same bound as a failed check, and the evidence says the data was missing."""
    running_v2_after_v1(cluster, prometheus, exporter, no_data="fail")
    reason = start_outage(outage, cluster, prometheus, exporter)
    start = time.monotonic()
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v1"), timeout=30, what="rolled back"
    )
    elapsed = time.monotonic() - start
    # v2's warmup is over: failureThreshold 2 x interval 1s + 10s
    assert elapsed < 2 * 1 + 10, f"rollback took {elapsed:.1f}s"

    status = cluster.status(MD)
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    why = status["quarantinedVersions"][0]["reason"]
    assert "accuracy: Inconclusive" in why
    assert EVIDENCE[reason] in why
    [rolled_back] = events(cluster, "RolledBack")
    assert "v2 -> v1" in rolled_back["message"]
    assert "accuracy: Inconclusive" in rolled_back["message"]
    assert metrics_unavailable(cluster) is not None
    assert [h["outcome"] for h in status["history"]].count("RolledBack") == 1


def test_bad_promql_is_inconclusive_with_the_query_error(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """A syntax error is reported where the user looks (lastEvaluation, the condition,
    an Event), never judged as a failure, and never crashes the operator."""
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1")
    broken = {
        "name": "recall",
        "query": f'model_recall{{model="{model}",version="{{{{version}}}}"',  # no closing }
        "min": 0.5,
    }
    spec = accuracy_spec(prometheus.url, model, "v1", extra_checks=[broken], no_data="hold")
    cluster.create_md(MD, spec)

    checks = cluster.wait(
        lambda: (checks := last_checks(cluster, "v1")) and len(checks) == 2 and checks,
        timeout=20,
        what="v1 evaluated",
    )
    accuracy, recall = checks
    assert accuracy["verdict"] == "Passed"
    assert recall["verdict"] == "Inconclusive"
    assert recall["reason"] == "QueryError"
    assert "Prometheus rejected the query" in recall["message"]
    assert "parse error" in recall["message"]
    assert recall["query"] == f'model_recall{{model="{model}",version="v1"'

    unavailable = cluster.wait(
        lambda: metrics_unavailable(cluster), timeout=10, what="MetricsAvailable=False"
    )
    assert unavailable["reason"] == "QueryError"
    assert "recall: Inconclusive" in unavailable["message"]
    assert "parse error" in unavailable["message"]
    [warning] = cluster.wait(
        lambda: events(cluster, "MetricsUnavailable"), timeout=10, what="MetricsUnavailable"
    )
    assert "parse error" in warning["message"]

    time.sleep(4)  # several more evaluations with the same broken query
    status = cluster.status(MD)
    assert status["consecutiveFailures"] == 0
    assert status["lastEvaluation"]["verdict"] == "Inconclusive"
    # An unbroken run of passes is needed for promotion: a check that cannot be
    # evaluated blocks it, so v1 is not declared known good on half the evidence.
    assert "stableVersion" not in status
    assert status["phase"] == "Progressing"
    assert condition(cluster, "Degraded")["status"] == "False"
    assert len(events(cluster, "MetricsUnavailable")) == 1
    assert cluster.running_version(DEPLOYMENT) == v("v1")
    assert operator.running
    log = operator.log_file.read_text()
    assert "Traceback" not in log, operator.log_tail(60)
    assert "Reconcile of" not in log, operator.log_tail(60)
