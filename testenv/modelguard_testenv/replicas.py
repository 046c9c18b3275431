"""Several real operator processes competing for one leader Lease, as deploy/'s replicas do.

Each replica has its own identity (its "pod name"), metrics port and log; they share one
Lease. The e2e tier and benchmarks/failover.py use it to kill the leader and watch the
other take over. What it reads is what an SRE would look at: the Lease's holder, each
replica's `modelguard_leader` gauge, and the Events' `reportingInstance`.
"""

from __future__ import annotations

import contextlib
import re
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from modelguard_testenv._process import free_port
from modelguard_testenv.controlplane import ControlPlane
from modelguard_testenv.operator_process import OperatorProcess


class Replicas:
    def __init__(
        self,
        control_plane: ControlPlane,
        kubeconfig: Path,
        log_dir: Path,
        *,
        count: int = 2,
        namespaces: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        lease_namespace: str = "modelguard-system",
    ) -> None:
        token = uuid.uuid4().hex[:6]
        self.lease = f"leader-{token}"
        self.lease_namespace = lease_namespace
        self._coordination = k8s.CoordinationV1Api(control_plane.api_client())
        self.processes = [
            OperatorProcess(
                kubeconfig,
                log_dir / f"replica-{i}.log",
                namespaces=namespaces or [],
                env={"MODELGUARD_METRICS_PORT": str(free_port()), **(env or {})},
                identity=f"replica-{i}-{token}",
                lease=self.lease,
                lease_namespace=lease_namespace,
            )
            for i in range(count)
        ]

    def start(self) -> Replicas:
        for process in self.processes:
            process.start()
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[Replicas]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # ------------------------------------------------------------- what is observed

    def holder(self) -> str | None:
        """The Lease's holderIdentity as stored (None: no Lease, or released)."""
        try:
            lease = self._coordination.read_namespaced_lease(self.lease, self.lease_namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return (lease.spec.holder_identity if lease.spec else None) or None

    def by_identity(self, identity: str | None) -> OperatorProcess | None:
        return next((p for p in self.processes if p.identity == identity), None)

    def leader(self) -> OperatorProcess | None:
        """The running replica that holds the Lease, if any."""
        process = self.by_identity(self.holder())
        return process if process is not None and process.running else None

    def others(self, process: OperatorProcess) -> list[OperatorProcess]:
        return [p for p in self.processes if p is not process]

    @staticmethod
    def gauge(process: OperatorProcess) -> float | None:
        """The replica's modelguard_leader, scraped from its /metrics (None: no answer)."""
        url = f"http://127.0.0.1:{process.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                text = response.read().decode()
        except OSError:
            return None
        match = re.search(r"^modelguard_leader (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else None

    @staticmethod
    def healthy(process: OperatorProcess) -> bool:
        url = f"http://127.0.0.1:{process.health_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                return bool(response.status == 200)
        except OSError:
            return False
