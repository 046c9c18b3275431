"""End-to-end: notifications from the real operator process to a real local webhook
receiver. Each decision (a promotion, a rollback, the kill switch engaged and released)
reaches each receiver exactly once, across a SIGKILL of the operator in the middle of a
delivery and a restart after it, with its evidence; a receiver that answers 500 or never
answers does not delay a kill; the webhook URL appears in no log, Event or status."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e import webhook
from tests.e2e.cluster import Cluster
from tests.e2e.conftest import OPERATOR_NAMESPACE
from tests.e2e.scenarios import DEPLOYMENT, MD, accuracy_spec, events, promote_v1, version
from tests.e2e.test_kill_switch import ENFORCE_WITHIN, engage, release, time_until

pytestmark = pytest.mark.e2e

SECRET = "modelguard-webhooks"
# Event reason -> the CloudEvents type the notice of that decision carries.
TYPES = {
    "VersionPromoted": "io.modelguard.promoted",
    "RolledBack": "io.modelguard.rolledback",
    "KillSwitchEngaged": "io.modelguard.killswitchengaged",
    "KillSwitchReleased": "io.modelguard.killswitchreleased",
}


@pytest.fixture
def receiver() -> Iterator[webhook.Receiver]:
    with webhook.serve() as served:
        yield served


def grant_webhook_secret(cluster: Cluster, tmp_path: Path, urls: dict[str, str]) -> None:
    """The Secret with the URLs, and the Role that lets the operator read that one Secret
    (deploy/base/rbac.yaml grants no Secret: examples/notifications.yaml does it so)."""
    rbac = {"apiVersion": "rbac.authorization.k8s.io/v1"}
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SECRET},
            "stringData": urls,
        },
        rbac
        | {
            "kind": "Role",
            "metadata": {"name": "modelguard-webhooks"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": [SECRET],
                    "verbs": ["get"],
                }
            ],
        },
        rbac
        | {
            "kind": "RoleBinding",
            "metadata": {"name": "modelguard-webhooks"},
            "roleRef": {
                "apiGroup": rbac["apiVersion"].split("/")[0],
                "kind": "Role",
                "name": "modelguard-webhooks",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "modelguard", "namespace": OPERATOR_NAMESPACE}
            ],
        },
    ]
    path = tmp_path / "webhooks.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    cluster.control_plane.kubectl("apply", "-n", cluster.namespace, "-f", str(path))


def receivers() -> dict[str, Any]:
    return {
        "receivers": [
            {"name": "oncall", "urlSecretRef": {"name": SECRET, "key": "ce"}},
            {"name": "chat", "format": "slack", "urlSecretRef": {"name": SECRET, "key": "slack"}},
        ]
    }


def types(bodies: list[dict[str, Any]]) -> Counter[str]:
    return Counter(b["type"] for b in bodies)


def settled(cluster: Cluster) -> bool:
    """Every notice decided has an outcome recorded in status."""
    return not (cluster.status(MD).get("notifications") or {}).get("pending")


def test_each_decision_is_notified_exactly_once_across_restarts_with_its_evidence(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    receiver: webhook.Receiver,
    tmp_path: Path,
) -> None:
    grant_webhook_secret(
        cluster, tmp_path, {"ce": receiver.url("ce"), "slack": receiver.url("slack")}
    )
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1") | {"notifications": receivers()}
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.80})

    # A rollback: v2 fails its check twice and goes back to v1.
    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(
        lambda: types(receiver.bodies("ce"))["io.modelguard.rolledback"] == 1,
        timeout=40,
        what="the rollback notified",
    )
    cluster.wait(lambda: settled(cluster), timeout=10, what="the outcome recorded")

    # The kill switch engaged while the receiver hangs, and the operator SIGKILLed in the
    # middle of that delivery: decided and acted on, never delivered.
    receiver.set_mode("hang")
    engage(cluster)
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="killed")
    cluster.wait(
        lambda: any(
            b.get("type") == "io.modelguard.killswitchengaged"
            for b in receiver.bodies("ce", accepted=False)
        ),
        timeout=10,
        what="the engage notification arriving at the hanging receiver",
    )
    operator.kill()
    pending = (cluster.status(MD).get("notifications") or {}).get("pending") or []
    assert [n["decision"] for n in pending] == ["killSwitchEngaged"]
    receiver.set_mode("ok")
    operator.start()
    cluster.wait(
        lambda: (
            types(receiver.bodies("ce"))["io.modelguard.killswitchengaged"] == 1
            and len(receiver.bodies("slack")) == 3
        ),
        timeout=30,
        what="the engage notification sent by the restarted operator",
    )

    release(cluster)
    cluster.wait(
        lambda: types(receiver.bodies("ce"))["io.modelguard.killswitchreleased"] == 1,
        timeout=30,
        what="the release notified",
    )
    cluster.wait(lambda: settled(cluster), timeout=10, what="every outcome recorded")
    # Another restart: what the status records as delivered is never sent again.
    operator.kill()
    operator.start()
    time.sleep(5)

    # Exactly one notification per decision (the decision's Event), per receiver.
    decided = Counter({TYPES[r]: len(events(cluster, r)) for r in TYPES})
    assert decided == Counter(dict.fromkeys(TYPES.values(), 1)), decided
    ce = receiver.bodies("ce")
    assert types(ce) == decided
    assert len({b["id"] for b in ce}) == len(ce)
    assert len(receiver.bodies("slack")) == len(ce)
    sent = cluster.status(MD)["notifications"]["sent"]
    assert Counter((s["receiver"], s["outcome"]) for s in sent) == {
        ("oncall", "Delivered"): 4,
        ("chat", "Delivered"): 4,
    }

    # The evidence.
    by_type = {b["type"]: b for b in ce}
    rolled_back = by_type["io.modelguard.rolledback"]
    assert rolled_back["specversion"] == "1.0"
    assert rolled_back["source"] == f"/modelguard/{cluster.namespace}/{MD}"
    data = rolled_back["data"]
    assert (data["versions"]["from"], data["versions"]["to"]) == ("v2", "v1")
    assert data["versions"]["quarantined"] == "v2"
    assert data["versions"]["knownGood"] == ["v1"]
    [accuracy] = [c for c in data["evaluation"]["checks"] if c["name"] == "accuracy"]
    assert (accuracy["value"], accuracy["verdict"]) == (0.8, "Failed")
    assert "0.9" in accuracy["threshold"]
    assert "0.8 < min 0.9" in data["reason"]
    assert data["object"]["uid"] == cluster.md(MD)["metadata"]["uid"]
    engaged = by_type["io.modelguard.killswitchengaged"]["data"]
    assert engaged["requestedBy"] == "unknown (field manager kubectl-patch)"
    assert engaged["reason"].startswith("INC-4711")
    assert by_type["io.modelguard.killswitchreleased"]["data"]["requestedBy"]
    slack = receiver.bodies("slack")
    assert all(m["text"] and m["blocks"] for m in slack)
    assert any("rolled back" in m["text"] for m in slack)

    # The URL is a credential: in no log line, Event or status.
    assert webhook.SECRET_MARK not in operator.log_file.read_text()
    assert webhook.SECRET_MARK not in str(cluster.events(MD))
    assert webhook.SECRET_MARK not in str(cluster.md(MD))


def kill_latencies(cluster: Cluster, cycles: int) -> list[float]:
    """Engage and release `cycles` times; the seconds from each patch to replicas 0."""
    took = []
    for _ in range(cycles):
        patched = engage(cluster)
        took.append(time_until(lambda: cluster.replicas(DEPLOYMENT) == 0, patched, 15, "killed"))
        patched = release(cluster)
        time_until(lambda: cluster.replicas(DEPLOYMENT) == 2, patched, 15, "released")
    return took


def test_a_failing_or_hanging_receiver_never_delays_a_kill(
    cluster: Cluster,
    operator: OperatorProcess,
    receiver: webhook.Receiver,
    tmp_path: Path,
) -> None:
    grant_webhook_secret(
        cluster, tmp_path, {"ce": receiver.url("ce"), "slack": receiver.url("slack")}
    )
    cluster.create_deployment(
        DEPLOYMENT, "registry.local/fraud-scorer:1.0", replicas=2, model_tag="v1"
    )
    cluster.create_md(MD, {"targetRef": {"name": DEPLOYMENT, "container": "server"}})
    cluster.wait(lambda: cluster.status(MD).get("currentVersion"), timeout=20, what="adopted")

    figures: dict[str, list[float]] = {"none": kill_latencies(cluster, 3)}
    cluster.patch_spec(MD, {"notifications": receivers()})
    for mode in ("fail", "hang"):
        receiver.set_mode(mode)
        figures[mode] = kill_latencies(cluster, 3)
    assert len(receiver.bodies("ce", accepted=False)) >= 2  # the receiver was really tried
    assert receiver.bodies("ce") == []  # and never accepted one
    print(
        "kill latency (patch -> replicas 0), seconds: "
        + "; ".join(
            f"{mode}: median {statistics.median(t):.2f} max {max(t):.2f}"
            for mode, t in figures.items()
        )
    )
    for mode, took in figures.items():
        assert max(took) < ENFORCE_WITHIN, f"{mode}: {took}"
    # Generous: the hanging receiver's kills are not slower by anything like a timeout.
    assert statistics.median(figures["hang"]) < statistics.median(figures["none"]) + 1.5, figures
