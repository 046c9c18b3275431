"""A real, local Kubernetes control plane for tests, in the style of controller-runtime's envtest.

etcd and kube-apiserver give a real API (schema validation, resourceVersion conflicts, the
status subresource, RBAC); kube-controller-manager, kube-scheduler and kwok with one fake
Node make Deployments produce ReplicaSets and Ready pods without any container runtime.
Everything binds 127.0.0.1 on free ports and lives in a temporary folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from kubernetes import client as k8s

from modelguard_testenv._process import (
    ComponentStartError,
    ManagedProcess,
    MissingBinaryError,
    StartStop,
    free_port,
    http_status,
    keep_logs_from_env,
)
from modelguard_testenv.binaries import find_binary, find_kwok_stages
from modelguard_testenv.pki import PKI, CertKeyPair, write_kubeconfig
from modelguard_testenv.stages import write_stages

__all__ = [
    "COMPONENTS",
    "PORT_NAMES",
    "ControlPlane",
    "KubectlError",
    "UserCredentials",
]

_T = TypeVar("_T")

ETCD = "etcd"
APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
KWOK = "kwok"
# Start order; stop() goes in reverse so nothing outlives what it depends on.
COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER, KWOK)
# Keys accepted by ``ports=``: one per listening socket.
PORT_NAMES = (ETCD, "etcd-peer", APISERVER, CONTROLLER_MANAGER, SCHEDULER, KWOK)

# kwok manages only nodes carrying this annotation, so it never touches anything else.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_ANNOTATION_VALUE = "fake"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class UserCredentials:
    """A client identity for the test cluster: a cert signed by its CA, and a kubeconfig."""

    user: str
    groups: tuple[str, ...]
    cert: Path
    key: Path
    kubeconfig: Path


class KubectlError(subprocess.CalledProcessError):
    """kubectl exited non-zero; unlike CalledProcessError, str() includes its output."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout: {self.stdout}\nstderr: {self.stderr}"


class ControlPlane(StartStop):
    """etcd + kube-apiserver + controller-manager + scheduler + kwok, as local processes.

    Use as a context manager or call ``start()``/``stop()``. Failures to start raise one
    ``ComponentStartError`` naming the component and its log file; every wait is bounded
    by ``startup_timeout`` seconds.

    ``ports`` pins listening ports (keys from ``PORT_NAMES``) and ``extra_args`` appends
    command-line flags per component (keys from ``COMPONENTS``); a later flag wins, so they
    can also override the defaults. Both exist mainly so tests can provoke failures.
    """

    def __init__(
        self,
        *,
        bin_dir: str | Path | None = None,
        workdir: str | Path | None = None,
        ports: Mapping[str, int] | None = None,
        extra_args: Mapping[str, Sequence[str]] | None = None,
        startup_timeout: float = 60.0,
        keep_logs: bool | None = None,
        node_name: str = "kwok-node-0",
        service_cluster_ip_range: str = "10.96.0.0/16",
        pod_cidr: str = "10.244.0.1/16",
    ) -> None:
        _check_keys("ports", ports or {}, PORT_NAMES)
        _check_keys("extra_args", extra_args or {}, COMPONENTS)
        self._bin_dir = bin_dir
        self._requested_workdir = Path(workdir) if workdir is not None else None
        self._ports = dict(ports or {})
        self._extra_args = {name: list(args) for name, args in (extra_args or {}).items()}
        self.startup_timeout = startup_timeout
        self._keep_logs = keep_logs
        self.node_name = node_name
        self._service_range = service_cluster_ip_range
        self._pod_cidr = pod_cidr

        self._workdir: Path | None = None
        self._pki: PKI | None = None
        self._admin: UserCredentials | None = None
        self._users: dict[tuple[str, tuple[str, ...]], UserCredentials] = {}
        self._processes: dict[str, ManagedProcess] = {}
        self._kubectl: Path | None = None
        self._server_url: str | None = None
        self.startup_seconds: float | None = None
        # Seconds from launch to ready, per component (plus "node": create to Ready).
        self.component_seconds: dict[str, float] = {}
        self._launched_at: dict[str, float] = {}
        self.kept_logs_dir: Path | None = None

    # ---------------------------------------------------------------- properties

    @property
    def started(self) -> bool:
        return self._admin is not None and self.startup_seconds is not None

    @property
    def workdir(self) -> Path:
        return _require(self._workdir, "workdir")

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def server_url(self) -> str:
        return _require(self._server_url, "server_url")

    @property
    def kubeconfig_path(self) -> Path:
        """Admin kubeconfig (CN=admin, O=system:masters), certificates embedded."""
        return _require(self._admin, "kubeconfig_path").kubeconfig

    @property
    def ca_cert(self) -> Path:
        return _require(self._pki, "ca_cert").ca.cert

    @property
    def processes(self) -> Mapping[str, ManagedProcess]:
        return dict(self._processes)

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    # ---------------------------------------------------------------- lifecycle

    def _leave(self, *, failed: bool) -> None:
        self.stop(keep_logs=True if failed else None)  # a failed block keeps the logs

    def start(self) -> Self:
        if self.started:
            return self
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            # A half-started plane is useless: reap what runs, keep the logs for diagnosis.
            self.stop(keep_logs=True)
            raise
        self.startup_seconds = time.monotonic() - began
        # If nobody calls stop() (a crashed fixture, a script that just exits), stop in
        # order and clean up at interpreter exit; the per-process reaper is the last resort.
        atexit.register(self.stop)
        return self

    def stop(self, keep_logs: bool | None = None) -> None:
        """Stop all components (reverse start order) and clean up the work folder.

        Logs are kept when ``keep_logs`` is True, or when it is None and
        ``MODELGUARD_KEEP_LOGS=1`` (or the constructor's ``keep_logs``) says so; the kept
        folder is printed and stored in ``kept_logs_dir``.
        """
        atexit.unregister(self.stop)
        for name in reversed(list(self._processes)):
            self._processes[name].stop()
        if self._workdir is None:
            return
        keep = keep_logs
        if keep is None:
            keep = self._keep_logs if self._keep_logs is not None else keep_logs_from_env()
        self._cleanup(self._workdir, keep)
        self._admin = None
        self.startup_seconds = None
        self._users.clear()

    def stop_apiserver(self) -> None:
        """An API-server outage: stop kube-apiserver only. etcd (and with it every
        object) and the other components keep running; clients see refused connections
        until ``start_apiserver()``."""
        self._component(APISERVER).stop()

    def start_apiserver(self) -> float:
        """Start kube-apiserver again after ``stop_apiserver()``, with the same flags,
        port and certificates; return the seconds until it answered /readyz."""
        proc = self._component(APISERVER)
        proc.start()
        admin = _require(self._admin, "admin credentials")
        tls = ssl.create_default_context(cafile=str(self.ca_cert))
        tls.load_cert_chain(str(admin.cert), str(admin.key))
        readyz = f"{self.server_url}/readyz"
        return proc.wait_until(
            lambda: http_status(readyz, context=tls) == 200,
            timeout=self.startup_timeout,
            what="kube-apiserver /readyz",
        )

    def _component(self, name: str) -> ManagedProcess:
        if not self.started or name not in self._processes:
            raise RuntimeError(f"the control plane is not started: no {name} to stop or start")
        return self._processes[name]

    def _cleanup(self, workdir: Path, keep_logs: bool) -> None:
        # etcd's WAL preallocates 64 MB and the PKI is worthless once the plane is gone:
        # remove those always; the logs only when nobody needs them.
        for sub in ("etcd", "pki"):
            shutil.rmtree(workdir / sub, ignore_errors=True)
        if keep_logs:
            self.kept_logs_dir = workdir / "logs"
            print(
                f"modelguard-testenv: control-plane logs kept in {self.kept_logs_dir}",
                file=sys.stderr,
            )
        elif self._requested_workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            shutil.rmtree(workdir / "logs", ignore_errors=True)

    def _start(self) -> None:
        if self._requested_workdir is not None:
            self._requested_workdir.mkdir(parents=True, exist_ok=True)
            self._workdir = self._requested_workdir
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="modelguard-controlplane-"))
        self.logs_dir.mkdir(parents=True, exist_ok=True)

        # Find every binary before starting anything: a missing one fails in milliseconds.
        binaries = {name: self._binary(name) for name in COMPONENTS}
        self._kubectl = self._binary("kubectl", component="kubectl")
        try:
            stages = find_kwok_stages(self._bin_dir)
        except MissingBinaryError as exc:
            raise self._missing(KWOK, exc) from None

        ports = {name: self._ports.get(name) or free_port() for name in PORT_NAMES}
        pki = self._make_pki()
        admin = self._admin_credentials(pki, ports[APISERVER])

        etcd = self._launch(
            ETCD, binaries[ETCD], self._etcd_args(ports), ports, (ETCD, "etcd-peer")
        )
        self._wait(
            etcd,
            lambda: http_status(f"http://127.0.0.1:{ports[ETCD]}/health") == 200,
            "etcd /health",
        )

        api = self._launch(
            APISERVER, binaries[APISERVER], self._apiserver_args(ports, pki), ports, (APISERVER,)
        )
        tls = ssl.create_default_context(cafile=str(pki.ca.cert))
        tls.load_cert_chain(str(admin.cert), str(admin.key))
        readyz = f"{self.server_url}/readyz"
        self._wait(api, lambda: http_status(readyz, context=tls) == 200, "kube-apiserver /readyz")

        # The three clients start together and get ready in parallel.
        kc = str(admin.kubeconfig)
        serving = CertKeyPair(pki.directory / "serving.crt", pki.directory / "serving.key")
        kcm = self._launch(
            CONTROLLER_MANAGER,
            binaries[CONTROLLER_MANAGER],
            self._controller_manager_args(ports, pki, serving, kc),
            ports,
            (CONTROLLER_MANAGER,),
        )
        sched = self._launch(
            SCHEDULER,
            binaries[SCHEDULER],
            self._scheduler_args(ports, serving, kc),
            ports,
            (SCHEDULER,),
        )
        kwok = self._launch(
            KWOK, binaries[KWOK], self._kwok_args(ports, stages, kc), ports, (KWOK,)
        )

        verify = ssl.create_default_context(cafile=str(pki.ca.cert))
        for proc, port in ((kcm, ports[CONTROLLER_MANAGER]), (sched, ports[SCHEDULER])):
            self._wait(proc, _https_ok(f"https://127.0.0.1:{port}/healthz", verify), "/healthz")
        kwok_url = f"http://127.0.0.1:{ports[KWOK]}/healthz"
        self._wait(kwok, lambda: http_status(kwok_url) == 200, "kwok /healthz")

        began = time.monotonic()
        self._create_fake_node()
        kwok.wait_until(
            self._node_ready, timeout=self.startup_timeout, what=f"node {self.node_name} Ready"
        )
        self.component_seconds["node"] = time.monotonic() - began

    # ---------------------------------------------------------------- components

    def _binary(self, name: str, component: str | None = None) -> Path:
        try:
            return find_binary(name, self._bin_dir, component=component or name)
        except MissingBinaryError as exc:
            raise self._missing(component or name, exc) from None

    def _missing(self, component: str, exc: MissingBinaryError) -> MissingBinaryError:
        log = self.log_file(component)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"### {exc.reason}\n")
        return MissingBinaryError(component, exc.reason, log)

    def _launch(
        self,
        name: str,
        binary: Path,
        args: list[str],
        ports: Mapping[str, int],
        port_names: Sequence[str],
    ) -> ManagedProcess:
        proc = ManagedProcess(
            name,
            [str(binary), *args, *self._extra_args.get(name, [])],
            self.log_file(name),
            cwd=self.workdir,
        )
        self._processes[name] = proc
        for port_name in port_names:
            proc.ensure_port_free(ports[port_name], port_name)
        self._launched_at[name] = time.monotonic()
        proc.start()
        return proc

    def _wait(self, proc: ManagedProcess, probe: Callable[[], bool], what: str) -> None:
        proc.wait_until(probe, timeout=self.startup_timeout, what=what)
        self.component_seconds[proc.name] = time.monotonic() - self._launched_at[proc.name]

    def _make_pki(self) -> PKI:
        pki = PKI(self.workdir / "pki")
        self._pki = pki
        pki.create_ca()
        pki.issue(
            "serving",
            common_name="kube-apiserver",
            hosts=[
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
        )
        sa_key = pki.new_key(pki.directory / "service-account.key")
        pki.public_key(sa_key, pki.directory / "service-account.pub")
        return pki

    def _admin_credentials(self, pki: PKI, apiserver_port: int) -> UserCredentials:
        self._server_url = f"https://127.0.0.1:{apiserver_port}"
        self._admin = self._mint(pki, "admin", ("system:masters",), file_stem="admin")
        return self._admin

    def _etcd_args(self, ports: Mapping[str, int]) -> list[str]:
        client = f"http://127.0.0.1:{ports[ETCD]}"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            "--name=modelguard-testenv",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=modelguard-testenv={peer}",
            # A throwaway store: durability buys nothing and fsync costs seconds per test.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_args(self, ports: Mapping[str, int], pki: PKI) -> list[str]:
        d = pki.directory
        return [
            f"--etcd-servers=http://127.0.0.1:{ports[ETCD]}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports[APISERVER]}",
            f"--cert-dir={d}",
            f"--tls-cert-file={d / 'serving.crt'}",
            f"--tls-private-key-file={d / 'serving.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            # Real authorization, so RBAC manifests are tested for what they grant.
            "--authorization-mode=RBAC",
            # Pods need no token Secret/projection: there is no kubelet to mount it (envtest).
            "--disable-admission-plugins=ServiceAccount",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={d / 'service-account.pub'}",
            f"--service-account-signing-key-file={d / 'service-account.key'}",
            f"--service-cluster-ip-range={self._service_range}",
            "--allow-privileged=true",
            # The 'kubernetes' Endpoints would point at 127.0.0.1, which validation rejects;
            # nothing in-cluster needs to reach this apiserver.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ]

    def _controller_manager_args(
        self, ports: Mapping[str, int], pki: PKI, serving: CertKeyPair, kubeconfig: str
    ) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            "--controllers=*",
            "--leader-elect=false",
            # One admin identity for all controllers: per-controller service accounts would
            # need tokens, and RBAC of the controllers themselves is not under test.
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={pki.directory / 'service-account.key'}",
            f"--root-ca-file={pki.ca.cert}",
            f"--service-cluster-ip-range={self._service_range}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports[CONTROLLER_MANAGER]}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            # Its default (/usr/libexec/kubernetes/...) is created at start: stay in workdir.
            f"--flex-volume-plugin-dir={self.workdir / 'flexvolume'}",
            "--profiling=false",
        ]

    def _scheduler_args(
        self, ports: Mapping[str, int], serving: CertKeyPair, kubeconfig: str
    ) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports[SCHEDULER]}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            "--profiling=false",
        ]

    def _kwok_args(self, ports: Mapping[str, int], stages: Path, kubeconfig: str) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            f"--config={stages}",
            # The harness's own stages (pods that never get Ready), beside kwok's.
            f"--config={write_stages(self.workdir)}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector="
            f"{KWOK_NODE_ANNOTATION}={KWOK_NODE_ANNOTATION_VALUE}",
            f"--server-address=127.0.0.1:{ports[KWOK]}",
            # kwok's default pod CIDR (10.0.0.1/24) would overlap the service range and
            # caps a node at 254 pods.
            f"--cidr={self._pod_cidr}",
        ]

    def _create_fake_node(self) -> None:
        resources = {"cpu": "64", "memory": "256Gi", "pods": "1000"}
        node = k8s.V1Node(
            metadata=k8s.V1ObjectMeta(
                name=self.node_name,
                annotations={KWOK_NODE_ANNOTATION: KWOK_NODE_ANNOTATION_VALUE},
                labels={
                    "type": "kwok",
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            ),
            # No taints: ordinary pods (no tolerations) must land on it.
            spec=k8s.V1NodeSpec(),
            # kwok's node-initialize stage keeps allocatable/capacity when they are set.
            status=k8s.V1NodeStatus(allocatable=resources, capacity=resources),
        )
        with self.api_client() as api:
            try:
                k8s.CoreV1Api(api).create_node(node)
            except k8s.ApiException as exc:
                raise ComponentStartError(
                    KWOK,
                    f"could not create fake node {self.node_name}: {exc}",
                    self.log_file(APISERVER),
                ) from exc

    def _node_ready(self) -> bool:
        with self.api_client() as api:
            try:
                node = k8s.CoreV1Api(api).read_node_status(self.node_name, _request_timeout=5)
            except (k8s.ApiException, OSError):
                return False
        conditions = (node.status.conditions if node.status else None) or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    # ---------------------------------------------------------------- clients

    def _mint(
        self, pki: PKI, user: str, groups: Sequence[str], *, file_stem: str
    ) -> UserCredentials:
        pair = pki.issue(file_stem, common_name=user, organizations=groups)
        kubeconfig = write_kubeconfig(
            self.workdir / "kubeconfigs" / f"{file_stem}.kubeconfig",
            server=self.server_url,
            ca=pki.ca.cert,
            client=pair,
            user=user,
            cluster="modelguard-testenv",
        )
        return UserCredentials(user, tuple(groups), pair.cert, pair.key, kubeconfig)

    def user_credentials(self, user: str, groups: Sequence[str] = ()) -> UserCredentials:
        """Mint (once) a client cert and kubeconfig for any user and groups.

        The apiserver maps CN to the user name and each O to a group; RBAC then treats the
        user exactly like a real one (``system:authenticated`` is added by the apiserver).
        """
        key = (user, tuple(groups))
        if key not in self._users:
            pki = _require(self._pki, "user_credentials")
            self._users[key] = self._mint(pki, user, groups, file_stem=f"user-{len(self._users)}")
        return self._users[key]

    def service_account_credentials(self, namespace: str, name: str) -> UserCredentials:
        """Credentials that authenticate exactly as ServiceAccount ``namespace/name`` does."""
        return self.user_credentials(
            f"system:serviceaccount:{namespace}:{name}",
            [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
        )

    def client_configuration(self, credentials: UserCredentials | None = None) -> Any:
        """A ``kubernetes.client.Configuration`` for admin or the given credentials."""
        creds = credentials or _require(self._admin, "client_configuration")
        config = k8s.Configuration()
        config.host = self.server_url
        config.ssl_ca_cert = str(self.ca_cert)
        config.cert_file = str(creds.cert)
        config.key_file = str(creds.key)
        config.verify_ssl = True
        return config

    def api_client(self, credentials: UserCredentials | None = None) -> k8s.ApiClient:
        """A new ``kubernetes.client.ApiClient`` (admin unless ``credentials`` is given).

        The caller owns it: close it (it is a context manager) to release its thread pool.
        """
        return k8s.ApiClient(self.client_configuration(credentials))

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        timeout: float = 120.0,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster (admin unless ``kubeconfig``)."""
        argv = [
            str(_require(self._kubectl, "kubectl")),
            f"--kubeconfig={kubeconfig or self.kubeconfig_path}",
            *args,
        ]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``KUBECONFIG``: for starting an operator process against us."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig_path)}


def _require(value: _T | None, what: str) -> _T:
    if value is None:
        raise RuntimeError(f"ControlPlane.{what} is only available after start()")
    return value


def _https_ok(url: str, context: ssl.SSLContext) -> Callable[[], bool]:
    return lambda: http_status(url, context=context) == 200


def _check_keys(param: str, given: Mapping[str, object], allowed: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"{param}: unknown keys {unknown}; expected some of {list(allowed)}")
