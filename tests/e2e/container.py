"""The operator image run with podman the way deploy/operator/operator.yaml runs it in a pod.

Everything the pod spec says about the process is taken from the manifest, not restated:
command and args, env, ports, the user, the read-only root filesystem, dropped
capabilities, no privilege escalation and the /tmp emptyDir. What a kubelet would add is
added the same way: the ServiceAccount's token, CA and namespace mounted at the standard
path and KUBERNETES_SERVICE_HOST/PORT, so the operator logs in exactly as it does in a pod.

The container gets its own network namespace (slirp4netns) with the host's loopback as
10.0.2.2, where the local API server listens; ``kubernetes.default.svc`` (a name on the API
server's certificate) resolves to it. Its ports are published on free host ports, so the
manifest's fixed 8080/9102 never collide with anything else on this shared machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelguard_testenv import wait_for
from modelguard_testenv._process import free_port

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
API_HOST = "kubernetes.default.svc"
# slirp4netns's address for the host's loopback (allow_host_loopback=true).
HOST_LOOPBACK = "10.0.2.2"


@dataclass(frozen=True)
class PodContract:
    """What deploy/operator/operator.yaml's pod spec asks of the operator's container."""

    namespace: str
    service_account: str
    argv: list[str]
    env: dict[str, str]
    ports: dict[str, int]
    user: str
    read_only: bool
    drop_all: bool
    no_new_privileges: bool
    tmpfs: dict[str, str]


def pod_contract(manifest: Path, pod_name: str) -> PodContract:
    """The operator Deployment's pod, read from ``manifest`` (fieldRef env resolved)."""
    (deployment,) = [
        d for d in yaml.safe_load_all(manifest.read_text()) if d and d["kind"] == "Deployment"
    ]
    namespace = deployment["metadata"]["namespace"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container.get("securityContext", {})
    pod_security = pod.get("securityContext", {})
    fields = {"metadata.namespace": namespace, "metadata.name": pod_name}
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        path = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if path not in fields:
            raise ValueError(
                f"env {var['name']}: only value and fieldRef {sorted(fields)} run here"
            )
        env[var["name"]] = fields[path]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    tmpfs: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" not in volume:
            raise ValueError(f"volume {mount['name']}: only emptyDir runs here")
        tmpfs[mount["mountPath"]] = str(volume["emptyDir"].get("sizeLimit", "64Mi"))
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    group = security.get("runAsGroup", pod_security.get("runAsGroup", user))
    return PodContract(
        namespace=namespace,
        service_account=pod["serviceAccountName"],
        argv=[*container.get("command", []), *container.get("args", [])],
        env=env,
        ports={p["name"]: int(p["containerPort"]) for p in container.get("ports", [])},
        user=f"{user}:{group}",
        read_only=bool(security.get("readOnlyRootFilesystem")),
        drop_all="ALL" in security.get("capabilities", {}).get("drop", []),
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        tmpfs=tmpfs,
    )


def runtime_flags() -> list[str]:
    """podman flags this machine needs (the same as hack/image.sh's, same reasons).

    runc: crun refuses this kind's cgroup v1/v2 hybrid. Limits: the sandbox forbids
    raising a hard limit and podman would ask for more than there is; nproc is further
    capped by pid_max, which podman applies to itself.
    """
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else nofile
    nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
    return [
        "--runtime",
        "runc",
        f"--ulimit=nofile={nofile}:{nofile}",
        f"--ulimit=nproc={nproc}:{nproc}",
    ]


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


class OperatorContainer:
    """One ``podman run`` of the operator image under ``contract``, authenticated by the
    ServiceAccount files in ``service_account_dir`` (token, ca.crt, namespace)."""

    def __init__(
        self, image: str, contract: PodContract, *, api_port: int, service_account_dir: Path
    ) -> None:
        self.image = image
        self.contract = contract
        self.api_port = api_port
        self.service_account_dir = service_account_dir
        self.name = f"modelguard-e2e-{uuid.uuid4().hex[:8]}"
        self.host_ports = {name: free_port() for name in contract.ports}
        self.logs = ""

    def url(self, port_name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.host_ports[port_name]}{path}"

    def argv(self) -> list[str]:
        c = self.contract
        flags = [
            *runtime_flags(),
            f"--name={self.name}",
            f"--user={c.user}",
            "--network=slirp4netns:allow_host_loopback=true",
            f"--add-host={API_HOST}:{HOST_LOOPBACK}",
            f"--volume={self.service_account_dir}:{SA_MOUNT}:ro",
            f"--env=KUBERNETES_SERVICE_HOST={API_HOST}",
            f"--env=KUBERNETES_SERVICE_PORT={self.api_port}",
            *(f"--env={k}={v}" for k, v in c.env.items()),
            *(f"--publish=127.0.0.1:{self.host_ports[n]}:{p}" for n, p in c.ports.items()),
            *(f"--tmpfs={path}:rw,size={_bytes(size)}" for path, size in c.tmpfs.items()),
        ]
        flags += ["--read-only"] if c.read_only else []
        flags += ["--cap-drop=ALL"] if c.drop_all else []
        flags += ["--security-opt=no-new-privileges"] if c.no_new_privileges else []
        # The manifest's command replaces the image's ENTRYPOINT, as a kubelet does.
        command, *args = c.argv
        return ["run", "--detach", f"--entrypoint={command}", *flags, self.image, *args]

    def start(self, timeout: float = 90) -> None:
        try:
            podman(*self.argv())
            wait_for(self._healthy, timeout=timeout, what=f"/healthz of container {self.name}")
        except TimeoutError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n--- container log:\n{self.logs}") from exc
        except BaseException:
            self.stop()  # a container that was created but never became healthy
            raise

    def _healthy(self) -> bool:
        if not self.inspect()["State"]["Running"]:
            raise AssertionError(f"container {self.name} exited:\n{self.read_logs()}")
        try:
            with urllib.request.urlopen(self.url("health", "/healthz"), timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def inspect(self) -> dict[str, Any]:
        (info,) = json.loads(podman("inspect", "--type=container", self.name).stdout)
        return dict(info)

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *argv, check=False)

    def read_logs(self) -> str:
        result = podman("logs", self.name, check=False)
        self.logs = result.stdout + result.stderr
        return self.logs

    def stop(self) -> None:
        podman("stop", "--time=10", self.name, check=False)
        self.read_logs()
        podman("rm", "--force", self.name, check=False)


def _bytes(quantity: str) -> int:
    """A Kubernetes quantity with a binary suffix (16Mi) as bytes, for --tmpfs size=."""
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)
