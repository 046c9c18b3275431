"""End-to-end: sample-size gating. A relative check compares the new version with the
stable one, but only once enough labeled predictions back the number: on a handful of
labels an accuracy drop is noise, never a reason to roll back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD, accuracy_spec, events, promote_v1, v, version

pytestmark = pytest.mark.e2e


def relative_spec(prometheus_url: str, model: str) -> dict[str, Any]:
    """Only the relative check (no absolute floor), and noData: fail, so that nothing but
    the sample gate stands between the accuracy drop and a rollback."""
    spec = accuracy_spec(prometheus_url, model, "v1", no_data="fail")
    spec["analysis"]["checks"] = [
        {
            "name": "accuracy-vs-stable",
            "query": f'model_accuracy{{model="{model}",version="{{{{version}}}}"}}',
            "baselineQuery": f'model_accuracy{{model="{model}",version="{{{{stableVersion}}}}"}}',
            "maxDrop": 0.05,
            "samplesQuery": (
                f'sum(model_labeled_samples_total{{model="{model}",version="{{{{version}}}}"}})'
            ),
            "minSamples": 500,
        }
    ]
    return spec


def last_check(cluster: Cluster, version_name: str) -> dict[str, Any] | None:
    last = cluster.status(MD).get("lastEvaluation") or {}
    if last.get("version") != version_name:
        return None
    [check] = last["checks"]
    return dict(check)


def test_drop_is_judged_only_with_enough_labeled_samples(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    model = cluster.namespace
    exporter.add_labeled(model, "v1", 1000)
    exporter.add_labeled(model, "v2", 120)
    # v2: a 0.15 drop, three times maxDrop
    promote_v1(cluster, exporter, relative_spec(prometheus.url, model), {"v1": 0.95, "v2": 0.80})
    # v1 had nothing to compare with: it passed on "no baseline", with its samples counted.
    first = last_check(cluster, "v1")
    assert first is not None
    assert first["reason"] == "NoBaseline"
    assert first["samples"] == 1000

    cluster.patch_spec(MD, {"version": version("v2")})
    check = cluster.wait(
        lambda: (c := last_check(cluster, "v2")) and c, timeout=20, what="v2 evaluated"
    )
    assert check["verdict"] == "Inconclusive"
    assert check["reason"] == "TooFewSamples"
    assert check["samples"] == 120
    assert "120 samples, need 500" in check["message"]
    assert check["value"] == pytest.approx(0.80)

    # Many intervals on too few samples: held, even under noData: fail.
    evaluations: set[str] = set()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert cluster.running_version(DEPLOYMENT) == v("v2")
        status = cluster.status(MD)
        assert status["consecutiveFailures"] == 0
        last = status["lastEvaluation"]
        if last["version"] == "v2":
            assert last["verdict"] == "Inconclusive"
            assert last["checks"][0]["reason"] == "TooFewSamples"
            evaluations.add(last["time"])
        time.sleep(0.5)
    assert len(evaluations) >= 3, sorted(evaluations)
    status = cluster.status(MD)
    assert status["phase"] == "Progressing"
    assert "v2" not in [k["name"] for k in status["knownGoodVersions"]]  # nor promoted
    # A small sample is data, not an outage: MetricsAvailable stays True, no alarm Events.
    available = cluster.condition(MD, "MetricsAvailable")
    assert available is not None
    assert available["status"] == "True"
    assert events(cluster, "MetricsUnavailable") == []
    assert events(cluster, "CheckFailed") == []
    assert events(cluster, "RolledBack") == []

    exporter.add_labeled(model, "v2", 600)  # 720 labeled predictions now
    start = time.monotonic()
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v1"), timeout=30, what="rolled back"
    )
    elapsed = time.monotonic() - start
    # scrape 1s + failureThreshold 2 x interval 1s + 10s (warmup long over)
    assert elapsed < 1 + 2 * 1 + 10, f"rollback took {elapsed:.1f}s"

    status = cluster.status(MD)
    [quarantined] = status["quarantinedVersions"]
    assert quarantined["name"] == "v2"
    assert "dropped 0.15 from baseline 0.95 (max 0.05)" in quarantined["reason"]
    [rolled_back] = events(cluster, "RolledBack")
    assert "v2 -> v1" in rolled_back["message"]
    assert "dropped 0.15 from baseline 0.95" in rolled_back["message"]
    history = [h["outcome"] for h in status["history"]]
    assert history.count("RolledBack") == 1
    failed = [e for e in events(cluster, "CheckFailed") if "v2" in e["message"]]
    assert len(failed) == 1
    assert "dropped 0.15" in failed[0]["message"]
