"""End-to-end: the operator's own /metrics while it reconciles a ModelDeployment.

A real operator process serves /metrics; it is read directly and scraped by a real
Prometheus loaded with deploy/monitoring's alert rules (job "modelguard-metrics", as the
ServiceMonitor names it). The object's info series follows its phase and version (the
old one removed), its check value appears, a kill shows on the gauge and makes
ModelGuardKillSwitchEngaged go pending, and after the delete no series of it is left.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelguard.core import api
from modelguard_testenv import PrometheusServer, SyntheticModelExporter, UserCredentials
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import MD, accuracy_spec, promote_v1

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "monitoring" / "modelguard.rules.yaml"
PER_OBJECT = {
    "modelguard_info",
    "modelguard_check_value",
    "modelguard_condition",
    "modelguard_kill_switch_engaged",
}

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


@pytest.fixture
def operator_with_metrics(
    operator_identity: UserCredentials, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        operator_identity.kubeconfig,
        tmp_path / "operator.log",
        namespaces=[namespace],
        metrics=True,
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
        print(f"--- operator log, last lines:\n{process.log_tail(80)}")


@pytest.fixture
def ruled_prometheus(operator_with_metrics: OperatorProcess) -> Iterator[PrometheusServer]:
    """A second real Prometheus: it scrapes the operator under the bundle's job name and
    evaluates the bundle's rules (the session one scrapes the model exporter)."""
    server = PrometheusServer(
        [f"127.0.0.1:{operator_with_metrics.metrics_port}"],
        job_name="modelguard-metrics",
        rule_files=[RULES],
    )
    with server:
        server.wait_for_targets()
        yield server


def scrape(operator: OperatorProcess, namespace: str) -> Samples:
    """This namespace's per-object samples: metric -> {sorted labels: value}."""
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in PER_OBJECT and sample.labels.get("namespace") == namespace:
                labels = tuple(sorted(sample.labels.items()))
                found.setdefault(sample.name, {})[labels] = sample.value
    return found


def labels_of(samples: Samples, metric: str) -> list[dict[str, str]]:
    return [dict(k) for k in samples.get(metric, {})]


def query(prometheus: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        result: list[dict[str, Any]] = json.load(response)["data"]["result"]
    return result


def alerts(prometheus: PrometheusServer, name: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/alerts", timeout=5) as response:
        listed: list[dict[str, Any]] = json.load(response)["data"]["alerts"]
    return [a for a in listed if a["labels"]["alertname"] == name]


def test_metrics_follow_the_object_and_leave_with_it(
    cluster: Cluster,
    operator_with_metrics: OperatorProcess,
    ruled_prometheus: PrometheusServer,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    operator, ns = operator_with_metrics, cluster.namespace
    spec = accuracy_spec(prometheus.url, ns, "v1")
    promote_v1(cluster, exporter, spec, {"v1": 0.95})

    def healthy() -> Samples | None:
        samples = scrape(operator, ns)
        info = labels_of(samples, "modelguard_info")
        return (
            samples if [(i["phase"], i["version"]) for i in info] == [("Healthy", "v1")] else None
        )

    samples = cluster.wait(healthy, timeout=15, what="modelguard_info Healthy v1")
    assert labels_of(samples, "modelguard_info")[0]["name"] == MD
    checks = {dict(k)["check"]: v for k, v in samples["modelguard_check_value"].items()}
    assert checks["accuracy"] == pytest.approx(0.95)
    conditions = {dict(k)["type"]: v for k, v in samples["modelguard_condition"].items()}
    assert conditions["Ready"] == 1 and conditions["MetricsAvailable"] == 1
    assert list(samples["modelguard_kill_switch_engaged"].values()) == [0]

    # The real Prometheus scrapes the same series, under the labels the rules select; the
    # Progressing one it saw before is stale (gone from the scrape), not still there.
    def scraped() -> list[tuple[str, str]] | None:
        found = query(ruled_prometheus, f'modelguard_info{{namespace="{ns}"}}')
        labels = [(s["metric"]["phase"], s["metric"]["job"]) for s in found]
        return labels if labels == [("Healthy", "modelguard-metrics")] else None

    cluster.wait(scraped, timeout=15, what="modelguard_info Healthy scraped, alone")

    cluster.patch_spec(MD, {"killSwitch": {"enabled": True, "reason": "INC-9"}})

    def killed() -> Samples | None:
        samples = scrape(operator, ns)
        info = [i["phase"] for i in labels_of(samples, "modelguard_info")]
        return samples if info == ["Killed"] else None  # the Healthy series is gone

    samples = cluster.wait(killed, timeout=15, what="modelguard_info Killed")
    assert list(samples["modelguard_kill_switch_engaged"].values()) == [1]
    pending = cluster.wait(
        lambda: alerts(ruled_prometheus, "ModelGuardKillSwitchEngaged") or None,
        timeout=15,
        what="ModelGuardKillSwitchEngaged pending",
    )
    # `for: 1m` keeps it pending here; promtool's tests cover the firing after that.
    assert [(a["state"], a["labels"]["namespace"], a["labels"]["name"]) for a in pending] == [
        ("pending", ns, MD)
    ]
    assert pending[0]["labels"]["severity"] == "warning"
    assert "INC" not in json.dumps(pending[0]["labels"])  # no free text in labels
    # The operator is scraped: its down alert is silent, not even pending.
    assert alerts(ruled_prometheus, "ModelGuardOperatorDown") == []

    # The kill switch holds a finalizer: the delete restores the model, then the object
    # goes, and so do its series.
    cluster.custom.delete_namespaced_custom_object(api.GROUP, api.VERSION, ns, api.PLURAL, MD)
    cluster.wait(lambda: scrape(operator, ns) == {}, timeout=20, what="series gone")
