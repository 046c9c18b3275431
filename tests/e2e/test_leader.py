"""End-to-end: two real operator processes, one Lease, the real API server.

Exactly one replica acts (every Event names it, the standby's gauge says 0 and its
/healthz stays green); SIGKILL the leader and the other takes over, enforcing a kill
switch engaged right after the crash within lease duration + 2 s; a graceful stop hands
over in seconds. And the fencing the election relies on, against the real server: a
status write carrying an old resourceVersion is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelguard.adapters.kube import KubeAdapter
from modelguard.core.api import ModelDeploymentStatus, Phase
from modelguard.core.ports import ConflictError
from modelguard_testenv import ControlPlane, UserCredentials
from modelguard_testenv.operator_process import OperatorProcess
from modelguard_testenv.replicas import Replicas
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD
from tests.e2e.test_kill_switch import engage, guarded, kill_switch_only, time_until

pytestmark = pytest.mark.e2e

LEASE_DURATION = 15.0  # the default, client-go's: what the promise below is made with
TAKEOVER_WITHIN = LEASE_DURATION + 2.0


@pytest.fixture
def replicas(
    control_plane: ControlPlane,
    operator_identity: UserCredentials,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Replicas]:
    pair = Replicas(control_plane, operator_identity.kubeconfig, tmp_path, namespaces=[namespace])
    with pair.running():
        try:
            yield pair
        finally:
            for process in pair.processes:
                print(f"--- {process.identity} ({process.log_file}):\n{process.log_tail(40)}")


def decision_events(cluster: Cluster) -> list[tuple[str, str]]:
    """(reason, reportingInstance) of every Event the operator posted in the namespace."""
    listed = cluster.core.list_namespaced_event(cluster.namespace)
    return [
        (e.reason or "", e.reporting_instance or "")
        for e in listed.items
        if e.reporting_component == "modelguard"
    ]


def wait_for_leader(cluster: Cluster, replicas: Replicas, timeout: float = 10) -> OperatorProcess:
    return cluster.wait(replicas.leader, timeout=timeout, what="a replica holding the Lease")


def adopted_kill_switch_model(cluster: Cluster) -> None:
    cluster.create_deployment(DEPLOYMENT, "registry.local/scorer:1.0", replicas=3)
    cluster.create_md(MD, kill_switch_only())
    cluster.wait(lambda: guarded(cluster), timeout=15, what="the model adopted")


def test_exactly_one_replica_acts(cluster: Cluster, replicas: Replicas) -> None:
    leader = wait_for_leader(cluster, replicas)
    [standby] = replicas.others(leader)
    adopted_kill_switch_model(cluster)
    engage(cluster)
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="killed")
    cluster.wait(
        lambda: ("KillSwitchEngaged", leader.identity) in decision_events(cluster),
        timeout=10,
        what="the engage Event",
    )
    time.sleep(3)  # long enough for a second actor to show itself
    events = decision_events(cluster)
    assert {instance for _, instance in events} == {leader.identity}, events
    assert [r for r, _ in events].count("KillSwitchEngaged") == 1
    assert replicas.holder() == leader.identity
    assert replicas.gauge(leader) == 1.0
    assert replicas.gauge(standby) == 0.0
    assert replicas.healthy(standby)  # a standby is not dead
    standby_log = Path(standby.log_file).read_text()
    assert "Applying" not in standby_log
    assert "Reconciling" not in standby_log


def test_sigkill_of_the_leader_the_standby_takes_over_and_enforces_a_kill(
    cluster: Cluster, replicas: Replicas
) -> None:
    leader = wait_for_leader(cluster, replicas)
    [standby] = replicas.others(leader)
    adopted_kill_switch_model(cluster)
    leader.kill()  # SIGKILL: the Lease is not released
    killed = time.monotonic()
    engage(cluster)  # right after the crash, while nobody leads
    enforced = time_until(
        lambda: cluster.replicas(DEPLOYMENT) == 0,
        since=killed,
        timeout=TAKEOVER_WITHIN + 10,
        what="the kill enforced by the new leader",
    )
    assert enforced <= TAKEOVER_WITHIN, f"kill enforced {enforced:.1f}s after the SIGKILL"
    assert replicas.holder() == standby.identity
    assert replicas.gauge(standby) == 1.0
    cluster.wait(
        lambda: ("KillSwitchEngaged", standby.identity) in decision_events(cluster),
        timeout=10,
        what="the engage Event",
    )
    time.sleep(2)
    events = decision_events(cluster)
    assert [r for r, _ in events].count("KillSwitchEngaged") == 1, events
    assert cluster.status(MD)["killSwitch"]["engaged"]


def test_a_graceful_stop_hands_over_in_seconds(cluster: Cluster, replicas: Replicas) -> None:
    leader = wait_for_leader(cluster, replicas)
    [standby] = replicas.others(leader)
    adopted_kill_switch_model(cluster)
    stopping = time.monotonic()
    leader.stop()  # SIGTERM: kopf's cleanup stops the scheduler, then releases the Lease
    stopped = time.monotonic() - stopping
    assert leader.returncode is not None
    handed = time_until(
        lambda: replicas.holder() == standby.identity,
        since=stopping,
        timeout=20,
        what="the standby holding the Lease",
    )
    # The release makes the standby take over at its next poll (retry period, 2 s), not
    # after the lease duration.
    assert handed - stopped <= 2.0 + 1.0, f"stop took {stopped:.1f}s, handover {handed:.1f}s"
    assert handed < LEASE_DURATION
    engaged = engage(cluster)
    took = time_until(
        lambda: cluster.replicas(DEPLOYMENT) == 0, since=engaged, timeout=10, what="killed"
    )
    assert took <= 5.0


def test_a_status_write_on_an_old_resource_version_is_refused(
    control_plane: ControlPlane, cluster: Cluster, operator: OperatorProcess
) -> None:
    """The fencing mechanism itself, as the operator's ServiceAccount would meet it: the
    CRD's status subresource honours the resourceVersion in a merge patch."""
    operator.stop()  # nothing else writes the object
    cluster.create_md(MD, kill_switch_only())
    adapter = KubeAdapter(control_plane.api_client())

    async def scenario() -> dict[str, Any]:
        body = await adapter.get_model_deployment(cluster.namespace, MD)
        assert body is not None
        read = body["metadata"]["resourceVersion"]
        first = ModelDeploymentStatus(phase=Phase.HEALTHY)
        written = await adapter.write_status(cluster.namespace, MD, first, read)
        assert written is not None and written != read
        stale = ModelDeploymentStatus(phase=Phase.KILLED)
        with pytest.raises(ConflictError):
            await adapter.write_status(cluster.namespace, MD, stale, read)  # the old version
        with pytest.raises(ConflictError):
            await adapter.set_finalizer(cluster.namespace, MD, "modelguard.io/restore", True, read)
        fresh = await adapter.get_model_deployment(cluster.namespace, MD)
        assert fresh is not None
        return fresh

    stored = asyncio.run(scenario())
    assert stored["status"]["phase"] == "Healthy"  # the stale decision never landed
    assert not stored["metadata"].get("finalizers")
