"""End-to-end: a canary judged by a proportion check (canary vs stable correct/labelled
counts, both since the canary started, by the confidence sequence) is aborted at its
first step because its counts are worse than the stable's, with the estimate and the
interval in status while it runs; the target never moves."""

from __future__ import annotations

import re
from typing import Any

import pytest

from modelguard.core.clock import parse_rfc3339
from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import (
    DEPLOYMENT,
    MD,
    accuracy_spec,
    assert_worse_by_counts,
    events,
    promote_v1,
    proportion_check,
    user_checks,
    v,
    version,
)
from tests.e2e.test_canary import REPLICAS, wait_canary_gone

pytestmark = pytest.mark.e2e

# Both gauges say 0.95: only the side-by-side counts can see that v2 is worse.
TRUE_ACCURACY = {"v1": 0.95, "v2": 0.80}


def failed_at_step_one(cluster: Cluster) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the proportion check's Failed result, status.canary) while v2 is the canary."""
    status = cluster.status(MD)
    running = status.get("canary")
    evaluation = status.get("lastEvaluation") or {}
    if not running or evaluation.get("version") != "v2":
        return None
    check = {c["name"]: c for c in user_checks(evaluation)}.get("accuracy-ab")
    if check is None or check.get("verdict") != "Failed":
        return None
    return dict(check), dict(running) | {"evaluatedAt": evaluation["time"]}


def test_a_canary_worse_than_the_stable_by_its_counts_is_aborted_at_its_first_step(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    spec = accuracy_spec(
        prometheus.url,
        cluster.namespace,
        "v1",
        failure_threshold=2,
        extra_checks=[proportion_check(cluster.namespace)],
    )
    spec["canary"] = {"steps": [20, 50], "stepDuration": "2s", "readyDeadline": "60s"}
    with (
        exporter.feeding(cluster.namespace, TRUE_ACCURACY),
        cluster.record_versions(DEPLOYMENT) as recorder,
    ):
        promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.95}, replicas=REPLICAS)
        cluster.patch_spec(MD, {"version": version("v2")})
        check, running = cluster.wait(
            lambda: failed_at_step_one(cluster), timeout=40, what="the canary's counts failing"
        )
        wait_canary_gone(cluster, timeout=30, what="aborted and the canary removed")
        assert recorder.versions == [v("v1")]  # the target was never touched

    assert (running["step"], running["desiredWeight"]) == (0, 20)
    assert_worse_by_counts(check, TRUE_ACCURACY["v2"], TRUE_ACCURACY["v1"])
    # {{sinceStart}} counts from the canary's start, not from v1's (long before).
    window = re.search(r"\[(\d+)s\]", check["query"])
    assert window is not None, check["query"]
    since_canary = parse_rfc3339(running["evaluatedAt"]) - parse_rfc3339(running["startedAt"])
    assert int(window.group(1)) <= since_canary.total_seconds() + 1

    status = cluster.status(MD)
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    assert cluster.running_version(DEPLOYMENT) == v("v1")
    [aborted] = events(cluster, "CanaryAborted")
    assert "step 1" in aborted["message"] and "accuracy-ab: Failed" in aborted["message"]
    assert events(cluster, "CanaryStepAdvanced") == []
    assert events(cluster, "VersionApplied") == []
    print(f"\naborted at step 1; evidence {check['proportion']}")
