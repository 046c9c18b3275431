"""End-to-end: the operator resolves templateRef checks against templates stored in the
real API server (read with its own RBAC), evaluates them on the real Prometheus, and
rolls back on their verdict (F1, prediction drift); a reference to a missing template is
an InvalidSpec condition and an Event, and an edited template counts at the next
evaluation."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from modelguard.core.reasons import CheckReason
from modelguard_testenv import (
    ControlPlane,
    PrometheusServer,
    SyntheticModelExporter,
    Traffic,
    serving,
    wait_established,
)
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
    user_checks,
    v,
    version,
)
from tests.e2e.test_check_library import SCORE_BINS, psi

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def library(control_plane: ControlPlane) -> ControlPlane:
    """The template CRDs and the check library, applied as a user would."""
    control_plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    for plural in ("modelchecktemplates", "clustermodelchecktemplates"):
        wait_established(control_plane, f"{plural}.modelguard.io")
    control_plane.kubectl("apply", "-k", str(REPO / "deploy" / "checks"))
    return control_plane


def f1_spec(prometheus_url: str, model: str, desired: str) -> dict[str, Any]:
    """The accuracy spec plus the library's F1 check (its default min 0.8, minSamples 200)."""
    f1 = {"name": "f1", "templateRef": {"name": "f1-score"}, "args": {"model": model}}
    return accuracy_spec(prometheus_url, model, desired, extra_checks=[f1])


def test_a_version_whose_f1_drops_below_the_templates_threshold_is_rolled_back(
    library: ControlPlane,
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    model = cluster.namespace
    for name in ("v1", "v2"):
        exporter.set(model, name, accuracy=0.95)  # accuracy passes: F1 alone decides
        exporter.add_confusion(model, name)  # every cell at 0, scraped before counting
    time.sleep(2)
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=2, model_tag="v1")
    cluster.create_md(MD, f1_spec(prometheus.url, model, "v1"))
    counting_from_zero(cluster, "v1")
    # F1 = 2*900 / (2*900 + 50 + 50) = 0.947
    exporter.add_confusion(model, "v1", tp=900, fp=50, fn=50)
    cluster.wait_promoted(MD, "v1")

    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v2"), 10, "v2 applied")
    counting_from_zero(cluster, "v2")
    # F1 = 2*500 / (2*500 + 250 + 250) = 0.667 < 0.8
    exporter.add_confusion(model, "v2", tp=500, fp=250, fn=250)
    cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v1"), 30, "rolled back")

    status = cluster.status(MD)
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    assert "f1: Failed" in status["quarantinedVersions"][0]["reason"]
    assert "< min 0.8" in status["quarantinedVersions"][0]["reason"]
    checks = {c["name"]: c for c in user_checks(status["lastEvaluation"])}
    assert checks["f1"]["template"] == "ClusterModelCheckTemplate/f1-score"
    assert f'model="{model}",version="v2"' in checks["f1"]["query"]
    assert "template" not in checks["accuracy"]
    assert len(events(cluster, "RolledBack")) == 1


# Scores per 0.1 s tick in the ten bins of the exporter's histogram: v2's moved up.
STABLE_SCORES = (3, 5, 8, 10, 10, 8, 3, 2, 1, 0)
DRIFTED_SCORES = (0, 1, 2, 4, 6, 9, 10, 9, 6, 3)


def test_a_version_whose_score_distribution_shifts_is_rolled_back_by_the_psi_template(
    library: ControlPlane,
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """prediction-drift-psi (default max 0.2, 500 predictions) against the stable
    version's scores over the same window: v1, the first version, has no stable version
    to compare with and is promoted on accuracy alone; v2's shifted scores roll it back
    although its accuracy is as good."""
    model = cluster.namespace
    drift = {
        "name": "drift",
        "templateRef": {"name": "prediction-drift-psi"},
        "args": {"model": model},
    }
    spec = accuracy_spec(prometheus.url, model, "v1", extra_checks=[drift])

    def scores(counts: tuple[int, ...]) -> Traffic:
        return Traffic(scores=dict(zip(SCORE_BINS, counts, strict=True)))

    traffic = {"v1": scores(STABLE_SCORES), "v2": scores(DRIFTED_SCORES)}
    with serving(exporter, model, traffic):
        promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.95})
        first = {c["name"]: c for c in user_checks(cluster.status(MD)["lastEvaluation"])}
        assert first["drift"]["reason"] == CheckReason.NO_STABLE_VERSION.value

        cluster.patch_spec(MD, {"version": version("v2")})
        cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v2"), 10, "v2 applied")
        cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v1"), 30, "rolled back")

    [quarantined] = cluster.status(MD)["quarantinedVersions"]
    assert quarantined["name"] == "v2"
    found = re.search(r"drift: Failed \(([\d.]+) > max 0\.2\)", quarantined["reason"])
    assert found is not None, quarantined["reason"]
    # Each version's bins are counted in fixed shares every tick, so the shares over any
    # window are exactly those: the PSI is the one computed here from the counts.
    expected = psi(STABLE_SCORES, DRIFTED_SCORES)
    assert expected > 0.2
    assert float(found.group(1)) == pytest.approx(expected, rel=1e-5)
    assert "accuracy" not in quarantined["reason"]  # drift alone failed it


def counting_from_zero(cluster: Cluster, name: str) -> None:
    """Until the operator has started `name` and Prometheus has scraped its zero counts
    since: increase(...[{{sinceStart}}]) then counts from zero, whatever the timing."""
    cluster.wait(
        lambda: (cluster.status(MD).get("currentVersion") or {}).get("name") == name,
        15,
        f"{name} current",
    )
    time.sleep(2)  # two scrapes (1s) inside the version's window


def test_a_missing_template_is_a_condition_and_an_event(
    library: ControlPlane,
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
) -> None:
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1")
    spec["analysis"]["checks"].append({"name": "f2", "templateRef": {"name": "no-such-check"}})
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=1, model_tag="v1")
    cluster.create_md(MD, spec)
    cluster.wait(
        lambda: (cluster.condition(MD, "InvalidSpec") or {}).get("status") == "True",
        15,
        "InvalidSpec",
    )
    message = condition(cluster, "InvalidSpec")["message"]
    assert "check 'f2': ClusterModelCheckTemplate 'no-such-check' not found" in message
    warnings = cluster.wait(lambda: events(cluster, "InvalidSpec"), 10, "an InvalidSpec Event")
    assert "no-such-check" in warnings[0]["message"]
    assert cluster.status(MD).get("phase") == "Invalid"


def test_a_template_that_appears_later_is_resolved_when_it_appears(
    library: ControlPlane,
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """An invalid spec is looked at again only every 5 minutes (RESYNC): resolving within
    seconds of the template's creation shows the watch delivered it and kicked the
    object that named it."""
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)
    spec = accuracy_spec(prometheus.url, model, "v1")
    spec["analysis"]["checks"] = [gauge_check(model)]
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=1, model_tag="v1")
    cluster.create_md(MD, spec)
    cluster.wait(
        lambda: (cluster.condition(MD, "InvalidSpec") or {}).get("status") == "True",
        15,
        "InvalidSpec",
    )
    put_template(library, model, minimum=0.9)
    cluster.wait(
        lambda: (cluster.condition(MD, "InvalidSpec") or {}).get("status") == "False",
        15,
        "resolved once the template appeared",
    )
    cluster.wait_promoted(MD, "v1")


def gauge_check(model: str) -> dict[str, Any]:
    return {
        "name": "acc",
        "templateRef": {"name": "accuracy-gauge", "kind": "ModelCheckTemplate"},
        "args": {"model": model},
    }


def test_editing_a_templates_default_threshold_changes_the_next_verdict(
    library: ControlPlane,
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """A namespaced ModelCheckTemplate: v2 passes its min 0.5, then the template's min is
    raised to 0.9 and the same v2 (accuracy 0.85) is rolled back."""
    model = cluster.namespace
    put_template(library, model, minimum=0.5)
    exporter.set(model, "v1", accuracy=0.95)
    exporter.set(model, "v2", accuracy=0.85)
    spec = accuracy_spec(prometheus.url, model, "v1")
    spec["analysis"]["checks"] = [gauge_check(model)]
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=1, model_tag="v1")
    cluster.create_md(MD, spec)
    cluster.wait_promoted(MD, "v1")

    # Not promoted while the test looks: the edit must reach a version still in analysis.
    cluster.patch_spec(MD, {"version": version("v2"), "analysis": {"promoteAfter": "1h"}})

    def passed_v2() -> bool:
        last = cluster.status(MD).get("lastEvaluation") or {}
        return last.get("version") == "v2" and last.get("verdict") == "Passed"

    cluster.wait(passed_v2, 20, "v2 passing min 0.5")
    put_template(library, model, minimum=0.9)
    cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v1"), 20, "rolled back")
    reason = cluster.status(MD)["quarantinedVersions"][0]["reason"]
    assert "0.85 < min 0.9" in reason


def put_template(plane: ControlPlane, namespace: str, *, minimum: float) -> None:
    doc = {
        "apiVersion": "modelguard.io/v1alpha1",
        "kind": "ModelCheckTemplate",
        "metadata": {"name": "accuracy-gauge", "namespace": namespace},
        "spec": {
            "metric": "Accuracy",
            "params": [{"name": "model"}],
            "query": 'model_accuracy{model="{{model}}",version="{{version}}"}',
            "defaults": {"min": minimum},
        },
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(doc))
