"""End-to-end: rules the operator used to break (the "trust" issue), on the real API
server, Prometheus and operator process."""

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
    image,
    v,
    version,
)
from tests.e2e.scenarios import events as reasons
from tests.e2e.test_rollback import names, settled_on

pytestmark = pytest.mark.e2e


def check_result(cluster: Cluster, on: str, check: str) -> dict[str, Any] | None:
    """The named check's result in the last evaluation, if that evaluation was of `on`."""
    last = cluster.status(MD).get("lastEvaluation") or {}
    if last.get("version") != on:
        return None
    return next((c for c in last.get("checks", []) if c["name"] == check), None)


def set_image(cluster: Cluster, name: str) -> None:
    """What a GitOps tool that owns the Deployment does on a sync: apply Git's version."""
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": image(name),
                            "env": [{"name": "MODEL_VERSION", "value": name}],
                        }
                    ]
                }
            }
        }
    }
    cluster.apps.patch_namespaced_deployment(
        DEPLOYMENT, cluster.namespace, patch, field_manager="argocd-controller"
    )


# ------------------------------------------------------------------ 1. {{stableVersion}}


def test_a_check_needing_the_stable_version_is_inconclusive_and_version_changes_apply(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """v1 only, and a check comparing with {{stableVersion}}: every reconcile used to fail
    on rendering it, with nothing in status or Events, and spec.version was not applied."""
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)
    exporter.set(model, "v2", accuracy=0.96)
    # avg(): the two sides differ in their version label, so a plain `-` matches nothing.
    relative = (
        f'avg(model_accuracy{{model="{model}",version="{{{{version}}}}"}})'
        f' - avg(model_accuracy{{model="{model}",version="{{{{stableVersion}}}}"}})'
    )
    stable_check = {"name": "vs-stable", "query": relative, "min": -0.05}
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1")
    cluster.create_md(MD, accuracy_spec(prometheus.url, model, "v1", extra_checks=[stable_check]))

    found = cluster.wait(
        lambda: check_result(cluster, "v1", "vs-stable"), timeout=20, what="v1 evaluated"
    )
    assert found["verdict"] == "Inconclusive"
    assert found["reason"] == "NoStableVersion"
    assert "{{stableVersion}}" in found["message"]
    assert condition(cluster, "MetricsAvailable")["status"] == "True"
    cluster.wait_promoted(MD, "v1")  # the accuracy check judges v1 on its own

    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(lambda: cluster.running_version(DEPLOYMENT) == v("v2"), timeout=10, what="v2")
    # With v1 known good, the check has its stable version and judges v2 against it.
    passed = cluster.wait(
        lambda: (r := check_result(cluster, "v2", "vs-stable")) and r["verdict"] == "Passed" and r,
        timeout=20,
        what="v2 compared with v1",
    )
    assert passed["reason"] == "WithinThreshold"
    assert 'version="v1"' in passed["query"]
    assert len(reasons(cluster, "VersionApplied")) == 1


# ------------------------------------------------------------------ 7. git revert


def test_reverting_spec_version_to_the_good_version_ends_the_rollback(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)
    exporter.set(model, "v2", accuracy=0.80)
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1")
    cluster.create_md(MD, accuracy_spec(prometheus.url, model, "v1"))
    cluster.wait_promoted(MD, "v1")

    with cluster.record_versions(DEPLOYMENT) as recorder:
        cluster.patch_spec(MD, {"version": version("v2")})
        cluster.wait(
            lambda: settled_on(cluster, "v1", "RolledBack"), timeout=30, what="rolled back"
        )
        assert cluster.status(MD)["desiredVersion"]["name"] == "v2"

        cluster.patch_spec(MD, {"version": version("v1")})  # git revert
        cluster.wait(
            lambda: (c := cluster.condition(MD, "RolledBack")) and c["status"] == "False" and c,
            timeout=10,
            what="RolledBack=False",
        )
        status = cluster.status(MD)
        assert status["desiredVersion"]["name"] == "v1"
        assert status["phase"] == "Healthy"
        rolled_back = condition(cluster, "RolledBack")
        assert rolled_back["reason"] == "DesiredIsKnownGood"
        assert rolled_back["observedGeneration"] == cluster.md(MD)["metadata"]["generation"]
        assert condition(cluster, "Ready")["status"] == "True"
        time.sleep(3)  # a few more evaluations of v1: it stays so
        status = cluster.status(MD)
        assert (status["phase"], status["desiredVersion"]["name"]) == ("Healthy", "v1")
        assert condition(cluster, "RolledBack")["reason"] == "DesiredIsKnownGood"
        seen = recorder.versions
    assert seen == [v("v1"), v("v2"), v("v1")], seen
    assert names(status["quarantinedVersions"]) == ["v2"]  # still on record
    assert len(reasons(cluster, "RolledBack")) == 1


# ------------------------------------------------------------------ 8. GitOps fight


def test_watch_mode_reverts_a_reapplied_quarantined_version_at_once_and_reports_once(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """No spec.version: a GitOps tool owns the Deployment and re-applies the quarantined
    image on every sync. It used to be guarded, analysed and rolled back again each time."""
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)
    exporter.set(model, "v2", accuracy=0.80)
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1")
    cluster.create_md(MD, accuracy_spec(prometheus.url, model, None))
    cluster.wait_promoted(MD, "v1")

    set_image(cluster, "v2")  # Git moves to v2; the tool rolls it out
    cluster.wait(lambda: settled_on(cluster, "v1", "Healthy"), timeout=30, what="rolled back")
    assert names(cluster.status(MD)["quarantinedVersions"]) == ["v2"]
    history = cluster.status(MD)["history"]
    assert len(reasons(cluster, "RolledBack")) == 1

    for sync in (1, 2):  # Git still says v2: the tool re-applies it
        set_image(cluster, "v2")
        start = time.monotonic()

        def reverted(n: int = sync) -> bool:
            return (
                cluster.running_version(DEPLOYMENT) == v("v1")
                and (cluster.status(MD).get("gitOpsConflict") or {}).get("count") == n
            )

        cluster.wait(
            reverted,
            timeout=10,
            what=f"sync {sync} reverted",
        )
        # At once: not after warmup (2s) + 2 failed evaluations, as a new analysis would.
        assert time.monotonic() - start < 4, f"sync {sync} took {time.monotonic() - start:.1f}s"
        status = cluster.status(MD)
        assert status["currentVersion"]["name"] == "v1"
        assert status["history"] == history  # v2 was not guarded (nor analysed) again
        time.sleep(1)

    conflict = cluster.status(MD)["gitOpsConflict"]
    assert (conflict["name"], conflict["image"], conflict["restored"]) == (
        "v2",
        image("v2"),
        "v1",
    )
    assert conflict["firstSeen"] <= conflict["lastSeen"]
    rolled_back = condition(cluster, "RolledBack")
    assert (rolled_back["status"], rolled_back["reason"]) == ("True", "GitOpsConflict")
    assert f"set the image in Git to {image('v1')}" in rolled_back["message"]
    assert "2 time(s)" in rolled_back["message"]
    fights = reasons(cluster, "QuarantinedVersionDeployed")
    assert len(fights) == 1, fights
    assert fights[0]["type"] == "Warning"
    assert f"set the image in Git to {image('v1')}" in fights[0]["message"]
    assert "clear the quarantine of v2" in fights[0]["message"]
    assert len(reasons(cluster, "RolledBack")) == 1  # no second rollback
    assert reasons(cluster, "VersionDetected") != []  # v2's first rollout, only
    assert len(reasons(cluster, "VersionDetected")) == 1
