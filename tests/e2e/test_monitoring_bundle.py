"""deploy/monitoring/ built by kubectl's own kustomize (the fast tier only parses the
files): the bundle is the ServiceMonitor, the PrometheusRule and the dashboard ConfigMap,
all in the operator's namespace, the ConfigMap under a stable name with the sidecar's
label and the dashboard JSON as it is in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from modelguard_testenv import ControlPlane

pytestmark = pytest.mark.e2e

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"


def test_kustomize_builds_the_monitoring_bundle(control_plane: ControlPlane) -> None:
    built = control_plane.kubectl("kustomize", str(MONITORING)).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(built) if d}
    assert sorted(docs) == ["ConfigMap", "PrometheusRule", "ServiceMonitor"]
    assert {d["metadata"]["namespace"] for d in docs.values()} == {"modelguard-system"}
    config_map = docs["ConfigMap"]
    assert config_map["metadata"]["name"] == "modelguard-dashboard"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["modelguard.json"])
    assert dashboard == json.loads((MONITORING / "dashboards" / "modelguard.json").read_text())
    rules = yaml.safe_load((MONITORING / "modelguard.rules.yaml").read_text())
    assert docs["PrometheusRule"]["spec"] == rules
