"""End-to-end: two shards of the operator (deploy/shards/), each two real processes electing
a leader on a Lease of its own, against the real API server.

Shard a owns the ModelDeployments labelled modelguard.io/shard=a, shard b every other one
(`notin (a)`: unlabelled ones too). Each shard acts only on its own (every Event on an
object names one of its shard's replicas, and the other shard's processes never even
hear of it: the API server filters their watch); SIGKILL of shard a's leader hands over
to a's standby, which enforces, while shard b's Lease keeps its holder and b enforces its
own kill switch meanwhile within seconds; an object relabelled from a to b moves without
being torn down (its kill switch stays engaged, its finalizer stays) and b enforces it.
Short Lease timings (6 s) keep the failover quick.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from modelguard.core import api
from modelguard_testenv import ControlPlane, UserCredentials
from modelguard_testenv.operator_process import OperatorProcess
from modelguard_testenv.replicas import Replicas
from tests.e2e.cluster import Cluster
from tests.e2e.test_kill_switch import REASON, time_until

pytestmark = pytest.mark.e2e

LABEL = "modelguard.io/shard"
SELECTORS = {"a": f"{LABEL}=a", "b": f"{LABEL} notin (a)"}
# Short, so the failover is quick, yet each Lease call still has a second (its timeout
# is the retry period): on a loaded machine a shorter one lets a healthy leader lapse.
LEASE_DURATION = 6.0
TIMINGS = {
    "MODELGUARD_LEASE_DURATION_SECONDS": str(LEASE_DURATION),
    "MODELGUARD_RENEW_DEADLINE_SECONDS": "4",
    "MODELGUARD_RETRY_PERIOD_SECONDS": "1",
}
IMAGE = "registry.local/scorer:1.0"


@pytest.fixture
def shards(
    control_plane: ControlPlane,
    operator_identity: UserCredentials,
    namespace: str,
    tmp_path: Path,
) -> Iterator[dict[str, Replicas]]:
    started = {
        shard: Replicas(
            control_plane,
            operator_identity.kubeconfig,
            tmp_path / shard,
            namespaces=[namespace],
            env={
                "MODELGUARD_SHARD": shard,
                "MODELGUARD_SHARD_SELECTOR": selector,
                **TIMINGS,
            },
        )
        for shard, selector in SELECTORS.items()
    }
    for shard in started:
        (tmp_path / shard).mkdir()
    processes = [p for replicas in started.values() for p in replicas.processes]
    try:
        # All four at once: each waits for its /healthz, seconds on a loaded machine.
        with ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(OperatorProcess.start, processes))
        yield started
    finally:
        for shard, replicas in started.items():
            replicas.stop()
            for process in replicas.processes:
                print(f"--- shard {shard}, {process.identity}:\n{process.log_tail(30)}")


def create_model(cluster: Cluster, name: str, shard: str | None) -> None:
    """A Deployment of 3 and a kill-switch-only ModelDeployment guarding it, labelled for
    `shard` at creation (None: unlabelled), so no other shard ever sees it first."""
    cluster.create_deployment(name, IMAGE, replicas=3)
    metadata: dict[str, Any] = {"name": name, "namespace": cluster.namespace}
    if shard is not None:
        metadata["labels"] = {LABEL: shard}
    cluster.custom.create_namespaced_custom_object(
        api.GROUP,
        api.VERSION,
        cluster.namespace,
        api.PLURAL,
        {
            "apiVersion": f"{api.GROUP}/{api.VERSION}",
            "kind": api.KIND,
            "metadata": metadata,
            "spec": {"targetRef": {"name": name, "container": "server"}},
        },
    )


def engage(cluster: Cluster, name: str) -> None:
    cluster.patch_spec(name, {"killSwitch": {"enabled": True, "reason": REASON}})


def adopted(cluster: Cluster, *names: str) -> bool:
    return all(cluster.status(n).get("currentVersion") for n in names)


def reporters(cluster: Cluster, name: str) -> set[str]:
    """The reportingInstance of every operator Event on the object: who acted on it."""
    listed = cluster.core.list_namespaced_event(
        cluster.namespace, field_selector=f"involvedObject.name={name}"
    )
    return {
        e.reporting_instance or "" for e in listed.items if e.reporting_component == "modelguard"
    }


def enforced_by(cluster: Cluster, name: str) -> set[str]:
    listed = cluster.core.list_namespaced_event(
        cluster.namespace, field_selector=f"involvedObject.name={name}"
    )
    return {e.reporting_instance or "" for e in listed.items if e.reason == "KillSwitchEnforced"}


def lease(cluster: Cluster, replicas: Replicas) -> k8s.V1LeaseSpec:
    coordination = k8s.CoordinationV1Api(cluster.control_plane.api_client())
    spec = coordination.read_namespaced_lease(replicas.lease, replicas.lease_namespace).spec
    assert spec is not None
    return spec


def metrics(process: OperatorProcess) -> str:
    url = f"http://127.0.0.1:{process.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return str(response.read().decode())


def series_of(process: OperatorProcess, name: str) -> bool:
    """Whether the process's /metrics carries a per-object series of ModelDeployment `name`."""
    pattern = rf'^modelguard_info{{[^}}]*name="{name}"'
    return re.search(pattern, metrics(process), re.MULTILINE) is not None


def leaders(cluster: Cluster, shards: dict[str, Replicas]) -> dict[str, OperatorProcess]:
    found: dict[str, OperatorProcess] = {}
    for shard, replicas in shards.items():
        found[shard] = cluster.wait(replicas.leader, timeout=15, what=f"shard {shard}'s leader")
    return found


def log_of(process: OperatorProcess) -> str:
    return Path(process.log_file).read_text()


def test_each_shard_acts_on_its_own_and_a_failover_leaves_the_other_alone(
    cluster: Cluster, shards: dict[str, Replicas]
) -> None:
    leader = leaders(cluster, shards)
    create_model(cluster, "md-a", "a")
    create_model(cluster, "md-b", None)  # unlabelled: the catch-all shard b's
    cluster.wait(lambda: adopted(cluster, "md-a", "md-b"), timeout=20, what="both adopted")
    engage(cluster, "md-a")
    engage(cluster, "md-b")
    cluster.wait(
        lambda: cluster.replicas("md-a") == cluster.replicas("md-b") == 0,
        timeout=10,
        what="both killed",
    )
    cluster.wait(lambda: reporters(cluster, "md-b"), timeout=10, what="md-b's Events")
    assert reporters(cluster, "md-a") == {leader["a"].identity}
    assert reporters(cluster, "md-b") == {leader["b"].identity}
    # The other shard's processes never even heard of the object: the API server
    # filtered their watch (a client-side filter would still log and hold it).
    for shard, other in (("a", "md-b"), ("b", "md-a")):
        for process in shards[shard].processes:
            assert other not in log_of(process), (shard, process.identity)
    for shard, selector in SELECTORS.items():
        for process in shards[shard].processes:
            assert f'modelguard_shard_info{{selector="{selector}",shard="{shard}"}} 1.0' in (
                metrics(process)
            )
    assert series_of(leader["a"], "md-a") and not series_of(leader["a"], "md-b")
    assert series_of(leader["b"], "md-b") and not series_of(leader["b"], "md-a")

    # SIGKILL shard a's leader; while a has no leader, both kills are undone by hand.
    [standby] = shards["a"].others(leader["a"])
    b_before = lease(cluster, shards["b"])
    leader["a"].kill()
    killed = time.monotonic()
    cluster.scale("md-a", 3)
    cluster.scale("md-b", 3)
    b_took = time_until(
        lambda: cluster.replicas("md-b") == 0, since=killed, timeout=10, what="b enforcing"
    )
    a_took = time_until(
        lambda: cluster.replicas("md-a") == 0,
        since=killed,
        timeout=LEASE_DURATION + 15,
        what="a's standby enforcing",
    )
    print(f"after a's SIGKILL: b enforced in {b_took:.2f}s, a's standby in {a_took:.2f}s")
    # b was never interrupted: it enforced well before a's Lease could even expire.
    assert b_took < LEASE_DURATION, b_took
    assert a_took <= LEASE_DURATION + 5.0, a_took
    assert shards["a"].holder() == standby.identity
    # The Event follows the action: wait for it, then no other replica may have one.
    cluster.wait(lambda: enforced_by(cluster, "md-a"), timeout=10, what="a's Event")
    cluster.wait(lambda: enforced_by(cluster, "md-b"), timeout=10, what="b's Event")
    assert enforced_by(cluster, "md-a") == {standby.identity}
    assert enforced_by(cluster, "md-b") == {leader["b"].identity}
    b_after = lease(cluster, shards["b"])
    assert b_after.holder_identity == b_before.holder_identity == leader["b"].identity
    assert b_after.lease_transitions == b_before.lease_transitions
    assert b_before.renew_time is not None and b_after.renew_time is not None
    assert b_after.renew_time > b_before.renew_time  # b kept renewing throughout
    assert reporters(cluster, "md-b") == {leader["b"].identity}
    assert reporters(cluster, "md-a") <= {leader["a"].identity, standby.identity}


def test_a_relabelled_model_deployment_moves_to_the_other_shard_without_a_teardown(
    cluster: Cluster, shards: dict[str, Replicas]
) -> None:
    leader = leaders(cluster, shards)
    create_model(cluster, "md-a", "a")
    cluster.wait(lambda: adopted(cluster, "md-a"), timeout=20, what="md-a adopted")
    engage(cluster, "md-a")
    cluster.wait(lambda: cluster.replicas("md-a") == 0, timeout=10, what="md-a killed")
    assert "modelguard.io/restore" in cluster.md("md-a")["metadata"]["finalizers"]
    cluster.wait(lambda: series_of(leader["a"], "md-a"), timeout=10, what="a's series")

    cluster.custom.patch_namespaced_custom_object(
        api.GROUP,
        api.VERSION,
        cluster.namespace,
        api.PLURAL,
        "md-a",
        {"metadata": {"labels": {LABEL: "b"}}},
    )
    # Shard a forgets it (its watch says DELETED, as the object left its selector) and
    # shard b picks it up from its status: neither restores the Deployment.
    cluster.wait(lambda: not series_of(leader["a"], "md-a"), timeout=10, what="a forgetting")
    cluster.wait(lambda: series_of(leader["b"], "md-a"), timeout=10, what="b taking it over")
    time.sleep(2)  # long enough for a wrong teardown or restore to show
    moved = cluster.md("md-a")
    assert cluster.replicas("md-a") == 0
    assert moved["status"]["killSwitch"]["engaged"]
    assert "modelguard.io/restore" in moved["metadata"]["finalizers"]
    assert "KillSwitchReleased" not in {e["reason"] for e in cluster.events("md-a")}

    # Now b guards it: undoing the kill by hand is enforced by b's leader.
    cluster.scale("md-a", 3)
    cluster.wait(lambda: cluster.replicas("md-a") == 0, timeout=10, what="b enforcing")
    cluster.wait(lambda: enforced_by(cluster, "md-a"), timeout=10, what="the Event")
    assert enforced_by(cluster, "md-a") == {leader["b"].identity}
    # And b releases it as a itself would have: replicas restored, finalizer gone.
    cluster.patch_spec("md-a", {"killSwitch": {"enabled": False}})
    cluster.wait(lambda: cluster.replicas("md-a") == 3, timeout=10, what="b releasing")
    cluster.wait(
        lambda: not cluster.md("md-a")["metadata"].get("finalizers"),
        timeout=10,
        what="the finalizer removed",
    )
    assert reporters(cluster, "md-a") == {leader["a"].identity, leader["b"].identity}
