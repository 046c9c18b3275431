"""End-to-end: a relative check keeps its baseline after the stable version stops serving.

In-place rollouts replace the stable version's pods, so its series end. Read now, the
baseline query finds nothing once its range window passes; under noData=fail a healthy
version was then rolled back. The operator reads the baseline as of the last time the
stable version served (knownGoodVersions[].servedUntil), against real Prometheus.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest

from modelguard.adapters.prometheus import PrometheusMetrics
from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD, accuracy_spec, image, version

pytestmark = pytest.mark.e2e

WINDOW = 10  # seconds: the relative check's range window


def test_the_baseline_is_read_when_the_stable_version_last_served(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)
    exporter.set(model, "v2", accuracy=0.94)
    relative = {
        "name": "accuracy-vs-stable",
        "query": f'avg_over_time(model_accuracy{{model="{model}",version="{{{{version}}}}"}}'
        f"[{WINDOW}s])",
        "baselineQuery": f'avg_over_time(model_accuracy{{model="{model}",'
        f'version="{{{{stableVersion}}}}"}}[{WINDOW}s])',
        "maxDrop": 0.05,
    }
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1")
    cluster.create_md(
        MD, accuracy_spec(prometheus.url, model, "v1", no_data="fail", extra_checks=[relative])
    )
    cluster.wait_promoted(MD, "v1")

    cluster.patch_spec(MD, {"version": version("v2")})
    served_until = cluster.wait(
        lambda: cluster.status(MD)["knownGoodVersions"][0].get("servedUntil"),
        timeout=10,
        what="v1's servedUntil recorded",
    )
    # servedUntil is written ahead of the Deployment patch (write-ahead status): v2 is
    # applied moments later.
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == (image("v2"), "v2"),
        timeout=10,
        what="v2 applied",
    )
    cluster.wait_promoted(MD, "v2")

    exporter.remove(model, "v1")  # v1 no longer serves: its series end
    gone = time.time()
    # Past the window (and Prometheus' staleness marker): read now, v1 has no series.
    cluster.wait(
        lambda: _evaluated_after(cluster, gone + WINDOW + 3),
        timeout=WINDOW + 15,
        what="an evaluation a window after v1's series ended",
    )
    # The adapter against real Prometheus: nothing now, v1's value as of servedUntil.
    v1_now = f'model_accuracy{{model="{model}",version="v1"}}'
    source = PrometheusMetrics(prometheus.url, 2.0)
    try:
        assert asyncio.run(source.query(v1_now)).series == 0
        assert asyncio.run(source.query(v1_now, _time(served_until))).value == 0.95
    finally:
        source.close()

    status = cluster.status(MD)
    assert cluster.running_version(DEPLOYMENT) == (image("v2"), "v2")
    assert status.get("quarantinedVersions", []) == []
    checks = {c["name"]: c for c in status["lastEvaluation"]["checks"]}
    check = checks["accuracy-vs-stable"]
    assert check["verdict"] == "Passed", check
    assert check["baseline"] == pytest.approx(0.95)
    assert _time(check["baselineAt"]) == _time(served_until)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _evaluated_after(cluster: Cluster, epoch: float) -> bool:
    last = cluster.status(MD).get("lastEvaluation")
    return last is not None and _time(last["time"]).timestamp() > epoch
