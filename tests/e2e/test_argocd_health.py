"""End-to-end: deploy/argocd's health check on ModelDeployments the real operator drove into
each phase, and the recorder of its testdata.

One operator, one namespace, one ModelDeployment per phase (Pending, Progressing,
Healthy, Degraded, RolledBack, Killed, Invalid), then, with the operator stopped, one
whose spec changed since its status was written (a stale observedGeneration) and one it
never saw (no status). health.lua must give each the Argo CD status it should.

`MODELGUARD_RECORD_ARGOCD=1` also writes them to the health check's testdata/ (namespace,
Prometheus URL and server-set metadata normalised), which the fast tier checks against
health_test.yaml and against the current status model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.argocd import HEALTH, act, discover, health
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import accuracy_spec, image, version

pytestmark = pytest.mark.e2e

RECORD = os.environ.get("MODELGUARD_RECORD_ARGOCD") == "1"
# What the recorded objects say instead of this run's namespace and Prometheus port.
NAMESPACE = "ml"
PROMETHEUS = "http://prometheus-operated.monitoring:9090"
# Argo CD status per testdata file (named after its ModelDeployment, but for
# stale-generation: the healthy one after its spec changed).
EXPECTED = {
    "pending": "Progressing",
    "progressing": "Progressing",
    "healthy": "Healthy",
    "degraded": "Degraded",
    "rolledback": "Degraded",
    "killed": "Suspended",
    "invalid": "Degraded",
    "stale-generation": "Progressing",
    "no-status": "Progressing",
}


def spec_for(prometheus: PrometheusServer, cluster: Cluster, target: str, **kw: Any) -> Any:
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1", **kw)
    spec["targetRef"]["name"] = target
    return spec


def settled(cluster: Cluster, name: str, wanted: str) -> Callable[[], bool | None]:
    """In phase `wanted`, with no version change still on its way."""

    def check() -> bool | None:
        status = cluster.status(name)
        return (status.get("phase") == wanted and "pendingAction" not in status) or None

    return check


def normalised(obj: dict[str, Any], namespace: str, prometheus: PrometheusServer) -> Any:
    """The object as testdata: what the server adds to any object dropped, this run's
    names replaced (the status itself is left exactly as the operator wrote it)."""
    meta = obj["metadata"]
    kept = {k: meta[k] for k in ("name", "namespace", "generation", "finalizers") if k in meta}
    text = json.dumps({**obj, "metadata": kept})
    text = text.replace(prometheus.url, PROMETHEUS).replace(namespace, NAMESPACE)
    return json.loads(text)


def test_health_of_each_phase_the_operator_records(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    for name, accuracy in {"v1": 0.95, "v2": 0.80}.items():
        exporter.set(cluster.namespace, name, accuracy=accuracy)
    for target in ("healthy", "degraded", "rolledback", "progressing", "killed", "invalid"):
        cluster.create_deployment(f"{target}-scorer", image("v1"), replicas=2, model_tag="v1")

    cluster.create_md("pending", spec_for(prometheus, cluster, "no-such-deployment"))
    cluster.create_md("healthy", spec_for(prometheus, cluster, "healthy-scorer"))
    cluster.create_md("rolledback", spec_for(prometheus, cluster, "rolledback-scorer"))
    cluster.create_md("degraded", spec_for(prometheus, cluster, "degraded-scorer", automatic=False))
    # Passing, but promotion is an hour away: Progressing for the whole test.
    cluster.create_md(
        "progressing", spec_for(prometheus, cluster, "progressing-scorer", promote_after="1h")
    )
    cluster.create_md(
        "killed",
        spec_for(
            prometheus,
            cluster,
            "killed-scorer",
            kill_switch={"enabled": True, "reason": "INC-7: scores drifting"},
        ),
    )
    cluster.create_md("invalid", spec_for(prometheus, cluster, "invalid-scorer"))

    for name in ("healthy", "rolledback", "degraded", "invalid"):
        cluster.wait_promoted(name, "v1", timeout=60)
    cluster.patch_spec("rolledback", {"version": version("v2")})
    cluster.patch_spec("degraded", {"version": version("v2")})
    # A typo pushed after v1 went live: a placeholder the operator does not know.
    broken = spec_for(prometheus, cluster, "invalid-scorer")["analysis"]["checks"]
    broken[0]["query"] = 'model_accuracy{version="{{nope}}"}'
    cluster.patch_spec("invalid", {"analysis": {"checks": broken}})
    waits = {
        "pending": "Pending",
        "progressing": "Progressing",
        "healthy": "Healthy",
        "degraded": "Degraded",
        "rolledback": "RolledBack",
        "killed": "Killed",
        "invalid": "Invalid",
    }
    for name, wanted in waits.items():
        cluster.wait(settled(cluster, name, wanted), timeout=60, what=f"{name} {wanted}")
    objects = {name: cluster.md(name) for name in waits}

    # With no operator to look: a spec edited after its status, and an object never seen.
    operator.stop()
    cluster.patch_spec("healthy", {"analysis": {"promoteAfter": "3s"}})
    objects["stale-generation"] = cluster.md("healthy")
    cluster.create_md("no-status", spec_for(prometheus, cluster, "healthy-scorer"))
    objects["no-status"] = cluster.md("no-status")

    verdicts = {name: health(obj) for name, obj in objects.items()}
    for name, verdict in verdicts.items():
        print(f"{name}: {verdict}")
    assert {n: v["status"] for n, v in verdicts.items()} == EXPECTED
    for name in ("degraded", "rolledback", "invalid"):
        assert "known-good version v1" in verdicts[name]["message"], verdicts[name]
    assert "INC-7" in verdicts["killed"]["message"]
    assert verdicts["healthy"]["message"] == "Healthy: running v1"

    if RECORD:
        for name, obj in objects.items():
            path = HEALTH / "testdata" / f"{name}.yaml"
            data = normalised(obj, cluster.namespace, prometheus)
            path.write_text(yaml.safe_dump(data, sort_keys=False, width=100))


def test_the_kill_and_release_actions_drive_the_real_operator(
    cluster: Cluster, operator: OperatorProcess, prometheus: PrometheusServer
) -> None:
    """What Argo CD would patch (the actions' output, as a merge patch of spec.killSwitch)
    is what the operator enforces, and restores exactly on release."""
    cluster.create_deployment("fraud-scorer", image("v1"), replicas=3, model_tag="v1")
    cluster.create_md("fraud", spec_for(prometheus, cluster, "fraud-scorer"))
    cluster.wait(lambda: cluster.status("fraud").get("phase"), timeout=30, what="reconciled")

    def run_action(name: str) -> None:
        obj = cluster.md("fraud")
        offered = {a["name"] for a in discover(obj) if not a["disabled"]}
        assert offered == {name}
        cluster.patch_spec("fraud", {"killSwitch": act(name, obj)["spec"]["killSwitch"]})

    run_action("kill")
    cluster.wait(settled(cluster, "fraud", "Killed"), timeout=30, what="killed")
    assert cluster.replicas("fraud-scorer") == 0
    assert health(cluster.md("fraud"))["status"] == "Suspended"

    run_action("release")
    cluster.wait(
        lambda: (
            cluster.status("fraud").get("phase") not in {None, "Killed"}
            and cluster.replicas("fraud-scorer") == 3
        ),
        timeout=30,
        what="released and restored",
    )
    assert health(cluster.md("fraud"))["status"] != "Suspended"
