"""End-to-end: a proportion check (candidate vs stable accuracy, judged by the confidence
sequence) rolls a worse version back on the real API server, Prometheus and operator,
with its evidence (counts, estimate, interval, samples needed) in status; written in the
spec, or taken from a ModelCheckTemplate's proportion form (spec.proportion)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelguard_testenv import (
    ControlPlane,
    PrometheusServer,
    SyntheticModelExporter,
    wait_established,
)
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import (
    DEPLOYMENT,
    MD,
    accuracy_spec,
    assert_worse_by_counts,
    promote_v1,
    proportion_check,
    user_checks,
    v,
    version,
)

pytestmark = pytest.mark.e2e

# Per version: the share of labelled predictions that are correct. The gauge accuracy of
# both is fine (0.95): only the proportion check can see that v2 is worse.
TRUE_ACCURACY = {"v1": 0.95, "v2": 0.80}
PER_TICK = 40  # labelled outcomes per version every 0.1 s: 400/s per arm


@pytest.fixture
def outcomes(cluster: Cluster, exporter: SyntheticModelExporter) -> Iterator[None]:
    with exporter.feeding(cluster.namespace, TRUE_ACCURACY, PER_TICK):
        yield


REPO = Path(__file__).resolve().parents[2]


def template_check(plane: ControlPlane, namespace: str) -> dict[str, Any]:
    """The same proportion check from a ModelCheckTemplate of the namespace: the template
    holds the queries (with a `model` parameter) and a margin the check overrides."""
    plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    wait_established(plane, "modelchecktemplates.modelguard.io")
    inline = proportion_check("{{model}}")["proportion"]
    template = {
        "apiVersion": "modelguard.io/v1alpha1",
        "kind": "ModelCheckTemplate",
        "metadata": {"name": "accuracy-vs-stable", "namespace": namespace},
        "spec": {
            "metric": "AccuracyVsStable",
            "params": [{"name": "model"}],
            "proportion": {**inline, "margin": 0.2, "minSamples": 50},
        },
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(template))
    return {
        "name": "accuracy-ab",
        "templateRef": {"name": "accuracy-vs-stable", "kind": "ModelCheckTemplate"},
        "args": {"model": namespace},
        "margin": inline["margin"],
        "minSamples": inline["minSamples"],
    }


@pytest.mark.usefixtures("outcomes")
@pytest.mark.parametrize("form", ["inline", "template"])
def test_a_worse_version_is_rolled_back_by_the_proportion_check(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    form: str,
) -> None:
    check = (
        proportion_check(cluster.namespace)
        if form == "inline"
        else template_check(cluster.control_plane, cluster.namespace)
    )
    spec = accuracy_spec(
        prometheus.url,
        cluster.namespace,
        "v1",
        warmup="3s",
        extra_checks=[check],
    )
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.95})
    # v1 had no other version to compare with: the check was not applicable, not failed.
    first = user_checks(cluster.status(MD)["lastEvaluation"])
    assert {c["name"]: c["reason"] for c in first}["accuracy-ab"] == "NoStableVersion"

    cluster.patch_spec(MD, {"version": version("v2")})
    start = time.monotonic()

    def v2_judged() -> dict[str, Any] | None:
        evaluation = cluster.status(MD).get("lastEvaluation") or {}
        if evaluation.get("version") != "v2":
            return None
        check = {c["name"]: c for c in user_checks(evaluation)}.get("accuracy-ab")
        return check if check and check.get("verdict") == "Failed" else None

    failed = cluster.wait(v2_judged, timeout=30, what="the proportion check failing v2")
    cluster.wait(
        lambda: cluster.running_version(DEPLOYMENT) == v("v1"),
        timeout=30,
        what="rolled back to v1",
    )
    elapsed = time.monotonic() - start

    assert_worse_by_counts(failed, TRUE_ACCURACY["v2"], TRUE_ACCURACY["v1"])
    if form == "template":
        assert failed["template"] == "ModelCheckTemplate/accuracy-vs-stable"
    evidence = failed["proportion"]
    # The check's margin, not the template's 0.2 (which this estimate would not breach).
    assert failed["threshold"].startswith("difference >= -0.02 ")
    assert evidence["samplesNeeded"] == evidence["stableSamplesNeeded"] == 0
    # v2 went live under a minute ago: the window is seconds, not a fixed range.
    assert 'model_correct_predictions_total{model="' in failed["query"]
    assert "[" in failed["query"]
    assert "s]))" in failed["query"]

    status = cluster.status(MD)
    assert [q["name"] for q in status["quarantinedVersions"]] == ["v2"]
    assert "vs stable" in status["quarantinedVersions"][0]["reason"]
    print(f"\nrolled back {elapsed:.1f}s after v2 was desired; evidence {evidence}")
