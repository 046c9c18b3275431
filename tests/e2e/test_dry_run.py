"""End-to-end: MODELGUARD_DRY_RUN=true on the real operator process. Decisions are
recorded in status, Events and the log; the Deployment is never written to."""

from __future__ import annotations

import pytest

from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD, events, image, version
from tests.e2e.test_kill_switch import (
    REASON,
    create_model,
    engage,
    holds,
    kill_switch_only,
)

pytestmark = pytest.mark.e2e

DRY_RUN = {"MODELGUARD_DRY_RUN": "true"}


def managers(cluster: Cluster) -> set[str]:
    fields = cluster.deployment(DEPLOYMENT)["metadata"].get("managedFields") or []
    return {str(entry.get("manager")) for entry in fields}


@pytest.mark.parametrize("operator", [DRY_RUN], indirect=True)
def test_dry_run_records_the_kill_switch_and_a_new_version_but_writes_no_workload(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    create_model(cluster, 3, kill_switch_only())
    condition = cluster.condition(MD, "DryRun")
    assert condition is not None and condition["status"] == "True"

    engage(cluster)
    cluster.wait(
        lambda: cluster.status(MD).get("killSwitch", {}).get("engaged"), 10, "engaged in status"
    )
    assert cluster.status(MD)["phase"] == "Killed"
    condition = cluster.condition(MD, "DryRun")
    assert condition is not None
    assert condition["message"] == f"would scale Deployment {DEPLOYMENT} to 0 replicas"
    (event,) = cluster.wait(lambda: events(cluster, "KillSwitchEngaged"), 5, "engaged Event")
    assert event["message"].startswith("[dry run, nothing applied] Kill switch engaged")
    assert REASON in event["message"]
    holds(lambda: cluster.replicas(DEPLOYMENT) == 3, 2, "replicas 3 in dry run")
    assert f"dry run: would scale Deployment {cluster.namespace}/{DEPLOYMENT} to 0" in (
        operator.log_file.read_text()
    )

    # A change of the Deployment wakes a reconcile that decides "scale back to 0" again:
    # the same held decision, so no KillSwitchEnforced Event and still no write.
    cluster.scale(DEPLOYMENT, 5)
    holds(lambda: cluster.replicas(DEPLOYMENT) == 5, 3, "replicas 5 in dry run")
    assert events(cluster, "KillSwitchEnforced") == []
    assert len(events(cluster, "KillSwitchEngaged")) == 1

    # Released, then a new version: decided and pending, the Deployment keeps v1.
    cluster.patch_spec(MD, {"killSwitch": {"enabled": False}, "version": version("v2")})
    cluster.wait(
        lambda: (cluster.status(MD).get("pendingAction") or {}).get("target"),
        10,
        "the version change recorded as pending",
    )
    cluster.wait(lambda: events(cluster, "VersionApplied"), 5, "VersionApplied Event")
    holds(lambda: cluster.running_version(DEPLOYMENT) == (image("v1"), "v1"), 3, "v1 runs")
    assert len(events(cluster, "VersionApplied")) == 1
    assert "modelguard" not in managers(cluster)  # the operator never wrote the Deployment
