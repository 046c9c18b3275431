"""Who did the work during a phase: CPU seconds per process (from /proc) and the API
server's requests by verb and resource (from its apiserver_request_total counters)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TypedDict

from modelguard_testenv import ControlPlane
from modelguard_testenv.operator_process import OperatorProcess


class Snapshot(TypedDict):
    cpu: dict[str, float]
    requests: dict[str, float]
    at: float


class Work(TypedDict):
    seconds: float
    cpu_seconds: dict[str, float]
    apiserver_requests: dict[str, int]


class Probe:
    """CPU seconds per process and API requests by verb/resource over a phase: who did
    the work while the fleet was being killed."""

    def __init__(self, plane: ControlPlane, operator: OperatorProcess) -> None:
        self.plane = plane
        self.pids: dict[str, int | None] = {
            name: proc.pid for name, proc in plane.processes.items()
        }
        self.pids["operator"] = operator.pid
        self.pids["benchmark"] = os.getpid()

    @staticmethod
    def _cpu(pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _requests(self) -> dict[str, float]:
        out: dict[str, float] = {}
        text = self.plane.kubectl("get", "--raw", "/metrics").stdout
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, value = line[len("apiserver_request_total{") :].rsplit("} ", 1)
            labels = dict(part.split("=", 1) for part in labels_text.split(",") if "=" in part)
            labels = {k: v.strip('"') for k, v in labels.items()}
            resource = labels.get("resource", "")
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            key = f"{labels.get('verb', '')} {resource}"
            out[key] = out.get(key, 0.0) + float(value)
        return out

    def snapshot(self) -> Snapshot:
        return {
            "cpu": {name: self._cpu(pid) for name, pid in self.pids.items()},
            "requests": self._requests(),
            "at": time.perf_counter(),
        }

    @staticmethod
    def delta(before: Snapshot, after: Snapshot) -> Work:
        cpu = {k: after["cpu"][k] - before["cpu"].get(k, 0.0) for k in after["cpu"]}
        requests = {
            k: v - before["requests"].get(k, 0.0)
            for k, v in after["requests"].items()
            if v - before["requests"].get(k, 0.0) >= 1
        }
        top = dict(sorted(requests.items(), key=lambda kv: -kv[1])[:14])
        return {
            "seconds": after["at"] - before["at"],
            "cpu_seconds": {k: round(v, 1) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])},
            "apiserver_requests": {k: int(v) for k, v in top.items()},
        }
