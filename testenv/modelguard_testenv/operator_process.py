"""The real modelguard operator (`kopf run -m modelguard.runtime.handlers`) as a child process.

Tests, the demo and the benchmark run the same command a pod runs, against the local
control plane, so that what they measure is the operator and not an in-process stand-in.

Leader election is on, as in a pod. Each process has an identity of its own that survives
its restarts (as a pod name survives a container restart, so a restarted operator takes
its Lease back at once), and by default a Lease of its own too, so that independent
operators (one per test namespace) never wait for each other; processes meant to compete
are given the same `lease`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from modelguard_testenv._process import ManagedProcess, StartStop, free_port, tail_lines


class OperatorProcess(StartStop):
    """Start/stop/restart the operator; ``namespaces`` empty = all namespaces; with
    ``metrics``, /metrics is served on ``metrics_port`` (a free port per start)."""

    def __init__(
        self,
        kubeconfig: Path,
        log_file: Path,
        *,
        namespaces: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        metrics: bool = False,
        identity: str | None = None,
        lease: str | None = None,
        lease_namespace: str = "modelguard-system",
    ) -> None:
        token = uuid.uuid4().hex[:8]
        self.identity = identity or f"operator-{token}"
        self.lease = lease or f"modelguard-{token}"
        self.lease_namespace = lease_namespace
        self.kubeconfig = kubeconfig
        self.log_file = log_file
        self.namespaces = list(namespaces)
        self.startup_timeout = startup_timeout
        self._extra_env = dict(env or {})
        self._proc: ManagedProcess | None = None
        self.health_port = 0
        self.metrics = metrics
        self.metrics_port = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running

    @property
    def pid(self) -> int | None:
        """The operator process id, None before the first start (the benchmark reads its CPU)."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> Self:
        self.health_port = free_port()
        self.metrics_port = free_port() if self.metrics else 0
        scope = [f"--namespace={ns}" for ns in self.namespaces] or ["--all-namespaces"]
        argv = [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "-m",
            "modelguard.runtime.handlers",
            "--standalone",
            *scope,
            "--log-format=json",
            f"--liveness=http://127.0.0.1:{self.health_port}/healthz",
        ]
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MODELGUARD_METRICS_PORT": str(self.metrics_port),
            "MODELGUARD_IDENTITY": self.identity,
            "MODELGUARD_LEASE_NAME": self.lease,
            "MODELGUARD_LEASE_NAMESPACE": self.lease_namespace,
            "PYTHONUNBUFFERED": "1",
            **self._extra_env,
        }
        self.metrics_port = int(env["MODELGUARD_METRICS_PORT"])
        self._proc = ManagedProcess("modelguard-operator", argv, self.log_file, env=env)
        self._proc.start()
        self._proc.wait_until(self._healthy, timeout=self.startup_timeout, what="/healthz")
        return self

    def _healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self, grace: float = 10.0) -> None:
        if self._proc is not None:
            self._proc.stop(grace=grace)

    @property
    def returncode(self) -> int | None:
        """The exit code once it exited (negative: killed by that signal), else None."""
        return self._proc.returncode if self._proc is not None else None

    def send_signal(self, sig: signal.Signals) -> None:
        """Deliver `sig` to the operator process (not its group), e.g. a test hook's."""
        if self._proc is not None and self._proc.pid is not None and self._proc.running:
            os.kill(self._proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to finish what it was doing."""
        if self._proc is not None and self._proc.pid is not None and self._proc.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self.stop()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(tail_lines(self.log_file, lines))
