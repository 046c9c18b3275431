"""How long `modelguard kill --all` and `release --all` take for a fleet, on the real local
control plane.

    python benchmarks/fleet_cli.py [--sizes 60,500] [--repeats 3] [--before REV]

What runs: ``modelguard_testenv.ControlPlane`` (etcd, kube-apiserver, controller-manager,
scheduler, kwok) and the CRD. No operator: what is measured is the CLI's part, from the
command's start to every patch accepted by the API server (the process exits only then).
For each N, one namespace holds N ModelDeployments, each with its 1-replica Deployment
(all Ready before anything is measured, so the cluster is quiet).

Each run is the CLI as a user starts it (``python -m modelguard.cli``, a fresh process,
the admin kubeconfig), timed from process start to exit; the script then checks that all
N objects say what the command asked (a run that left one unpatched is an error). Three
variants, each a kill then a release, taking turns ``--repeats`` times (medians reported):

- before: the CLI of REV (default: the parent of the commit that made patches parallel),
  taken with ``git archive`` into a temporary directory: one patch at a time;
- after --parallel 1: this checkout, one request at a time;
- after: this checkout with its default (--parallel 16).

``--rtt-ms 0,40`` (the default) runs everything twice: straight to the API server, and
through a loopback TCP proxy that delays each direction by half the given round trip, as
a control plane in another region would be (on this machine the API server's CPU, not
the network, is what a request waits for).

Results: ``benchmarks/results/fleet_cli.{md,json}`` (``--output`` changes the stem).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes import client as k8s

from modelguard.core import api
from modelguard_testenv import ControlPlane, wait_established, wait_for
from modelguard_testenv.recording import as_json

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "modelguard.io_modeldeployments.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "fleet_cli"
# The last commit before the CLI patched in parallel (and before kill kept engaged switches).
DEFAULT_BEFORE = "e3c7c18"
REASON = "INC-BENCH: fleet stop"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


def export_source(rev: str, into: Path) -> Path:
    """The operator/ tree of `rev`, without touching this checkout or its worktrees."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "operator"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "operator"


class DelayProxy:
    """A TCP proxy on loopback that holds every chunk for rtt/2 in each direction: the API
    server as far away as a managed control plane in another region. TLS passes through
    untouched (the serving certificate names 127.0.0.1). Latency only, no bandwidth cap."""

    def __init__(self, target: str, rtt: float) -> None:
        parsed = urlsplit(target)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 443
        self.delay = rtt / 2
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> DelayProxy:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop
        ).result(timeout=10)
        self.url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                if not data:
                    dst.close()
                    return
                dst.write(data)
                await dst.drain()

        sender = asyncio.create_task(send())
        try:
            while data := await src.read(65536):
                queue.put_nowait((self.loop.time() + self.delay, data))
        except ConnectionError:
            pass
        queue.put_nowait((self.loop.time() + self.delay, b""))
        with contextlib.suppress(ConnectionError):
            await sender


def kubeconfig_via(plane: ControlPlane, server: str, into: Path) -> Path:
    """The admin kubeconfig, pointed at `server` instead of the API server itself."""
    config = yaml.safe_load(plane.kubeconfig_path.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = server
    path = into / f"admin-via-{urlsplit(server).port}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


class Fleet:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.client = plane.api_client()
        self.apps = k8s.AppsV1Api(self.client)
        self.core = k8s.CoreV1Api(self.client)
        self.custom = k8s.CustomObjectsApi(self.client)

    def create(self, namespace: str, size: int) -> None:
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
        began = time.monotonic()
        for i in range(size):
            name = f"model-{i:04d}"
            labels = {"app": name}
            container = {"name": "server", "image": f"registry.local/{name}:1.0"}
            body = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [container]},
                    },
                },
            }
            self.apps.create_namespaced_deployment(namespace, k8s.V1Deployment.model_validate(body))
            self.custom.create_namespaced_custom_object(
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                {
                    "apiVersion": f"{api.GROUP}/{api.VERSION}",
                    "kind": api.KIND,
                    "metadata": {"name": name},
                    "spec": {"targetRef": {"name": name, "container": "server"}},
                },
            )
        log(f"created {size} ModelDeployments and Deployments in {time.monotonic() - began:.1f}s")

        def ready() -> bool:
            items = self.apps.list_namespaced_deployment(namespace).items
            return sum(((d.status and d.status.ready_replicas) or 0) >= 1 for d in items) >= size

        wait_for(ready, timeout=900, interval=2.0, what=f"{size} Deployments Ready")
        log("all Deployments Ready")

    def engaged(self, namespace: str) -> list[bool]:
        items = as_json(
            self.custom.list_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL)
        )["items"]
        return [bool((o["spec"].get("killSwitch") or {}).get("enabled")) for o in items]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Run:
    seconds: float  # CLI process start -> exit
    cli_cpu: float  # CPU seconds of the CLI process
    apiserver_cpu: float  # CPU seconds kube-apiserver used meanwhile
    etcd_cpu: float


def run_cli(plane: ControlPlane, kubeconfig: Path, source: Path, argv: list[str]) -> Run:
    """One CLI command, timed from its process start to its exit; it must succeed."""
    env = {**os.environ, "PYTHONPATH": str(source), "KUBECONFIG": str(kubeconfig)}
    apiserver, etcd = (plane.processes[n].pid for n in ("kube-apiserver", "etcd"))
    before = (children_cpu(), cpu_seconds(apiserver), cpu_seconds(etcd))
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "modelguard.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return Run(
        seconds,
        children_cpu() - before[0],
        cpu_seconds(apiserver) - before[1],
        cpu_seconds(etcd) - before[2],
    )


def _fleet_command(
    plane: ControlPlane,
    kubeconfig: Path,
    source: Path,
    namespace: str,
    extra: list[str],
    phase: str,
) -> Run:
    argv = [phase, "--all", "-n", namespace, *extra]
    if phase == "kill":
        argv += ["--reason", REASON]
    return run_cli(plane, kubeconfig, source, argv)


def measure(
    fleet: Fleet, namespace: str, size: int, runs: Mapping[str, Callable[[str], Run]], repeats: int
) -> dict[str, dict[str, list[Run]]]:
    """Seconds per variant and phase. The variants take turns within each round, so a
    slow spell on the shared machine (another engineer's tests) hits all of them alike."""
    times: dict[str, dict[str, list[Run]]] = {v: {"kill": [], "release": []} for v in runs}
    for round_ in range(repeats):
        for variant, run in runs.items():
            for phase, want in (("kill", True), ("release", False)):
                times[variant][phase].append(run(phase))
                states = fleet.engaged(namespace)
                if len(states) != size or any(s is not want for s in states):
                    raise RuntimeError(f"{variant} {phase}: not all {size} MDs say {want}")
            log(
                f"N={size} round {round_ + 1} {variant}: "
                f"kill {times[variant]['kill'][-1].seconds:.2f}s, "
                f"release {times[variant]['release'][-1].seconds:.2f}s"
            )
    return times


def _stats(runs: list[Run]) -> dict[str, Any]:
    return {
        "median": statistics.median(r.seconds for r in runs),
        "cli_cpu": statistics.median(r.cli_cpu for r in runs),
        "apiserver_cpu": statistics.median(r.apiserver_cpu for r in runs),
        "etcd_cpu": statistics.median(r.etcd_cpu for r in runs),
        "samples": [asdict(r) for r in runs],
    }


def bench(
    plane: ControlPlane,
    fleet: Fleet,
    size: int,
    rtt_ms: int,
    sources: tuple[Path, Path],
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """One row: every variant, kill and release, `args.repeats` rounds, at this RTT."""
    namespace = f"fleet-{size}"
    kubeconfig = plane.kubeconfig_path
    proxy = None
    if rtt_ms:
        proxy = DelayProxy(plane.server_url, rtt_ms / 1000).start()
        kubeconfig = kubeconfig_via(plane, proxy.url, workdir)
    before_source, after_source = sources
    variants: dict[str, tuple[Path, list[str]]] = {
        "before": (before_source, []),
        "after_parallel_1": (after_source, ["--parallel", "1"]),
        "after": (after_source, []),
    }
    runs = {
        variant: partial(_fleet_command, plane, kubeconfig, source, namespace, extra)
        for variant, (source, extra) in variants.items()
    }
    log(f"N={size}, round trip {rtt_ms} ms added")
    try:
        times = measure(fleet, namespace, size, runs, args.repeats)
    finally:
        if proxy is not None:
            proxy.stop()
            kubeconfig.unlink()
    row: dict[str, Any] = {"size": size, "rtt_ms": rtt_ms}
    for variant, phases in times.items():
        row[variant] = {phase: _stats(runs_) for phase, runs_ in phases.items()}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="60,500")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--rtt-ms",
        default="0,40",
        help="round trips to add between the CLI and the API server, ms (0: direct)",
    )
    parser.add_argument("--before", default=DEFAULT_BEFORE, metavar="REV")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rtts = [int(r) for r in args.rtt_ms.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="fleet-cli-"))
    sources = (export_source(args.before, tmp), ROOT / "operator")
    plane = ControlPlane(
        extra_args={"kube-controller-manager": ["--kube-api-qps=200", "--kube-api-burst=400"]}
    )
    log("starting the control plane")
    plane.start()
    rows: list[dict[str, Any]] = []
    try:
        plane.kubectl("apply", "--server-side", "-f", str(CRD))
        wait_established(plane, f"{api.PLURAL}.{api.GROUP}")
        fleet = Fleet(plane)
        with plane.api_client() as c:
            server = k8s.VersionApi(c).get_code().git_version
        for size in sizes:
            fleet.create(f"fleet-{size}", size)
            for rtt_ms in rtts:
                rows.append(bench(plane, fleet, size, rtt_ms, sources, args, tmp))
        facts = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "kubernetes": server,
            "loadavg_end": os.getloadavg(),
            "before": args.before,
            "after": subprocess.run(
                ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip(),
        }
    finally:
        plane.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    text = report(rows, facts, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".md").write_text(text)
    data = {"rows": rows, "machine": facts, "repeats": args.repeats}
    args.output.with_suffix(".json").write_text(json.dumps(data, indent=1))
    print("\n" + text)
    return 0


def report(rows: list[dict[str, Any]], facts: dict[str, Any], args: argparse.Namespace) -> str:
    def s(row: dict[str, Any], variant: str, phase: str) -> str:
        return f"{row[variant][phase]['median']:.2f}"

    command = shlex.join(["python", "benchmarks/fleet_cli.py", *sys.argv[1:]])
    lines = [
        "# Fleet-wide kill and release from the CLI",
        "",
        f"`{command}`",
        "",
        "Real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok),",
        "no operator. Seconds from starting `python -m modelguard.cli kill --all` (or",
        "`release --all`) to its exit, when the API server has accepted every patch; median",
        f"of {args.repeats}. before = the CLI at {facts['before']} (one patch at a time);",
        f"after = {facts['after']}, with --parallel 1 and with its default (16).",
        "Added RTT: through a loopback TCP proxy that delays each direction by half of it,",
        "as a control plane in another region would be; 0 ms: straight to the API server.",
        "",
        "| N | added RTT | kill before | kill after --parallel 1 | kill after | "
        "release before | release after --parallel 1 | release after |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['rtt_ms']} ms | {s(r, 'before', 'kill')} | "
            f"{s(r, 'after_parallel_1', 'kill')} | "
            f"{s(r, 'after', 'kill')} | {s(r, 'before', 'release')} | "
            f"{s(r, 'after_parallel_1', 'release')} | {s(r, 'after', 'release')} |"
        )
    lines += [
        "",
        "CPU seconds used during a kill (median): the CLI process / kube-apiserver / etcd.",
        "",
        "| N | added RTT | before | after --parallel 1 | after |",
        "|--:|--:|--|--|--|",
    ]
    for r in rows:
        cells = [
            f"{r[v]['kill']['cli_cpu']:.1f} / {r[v]['kill']['apiserver_cpu']:.1f} / "
            f"{r[v]['kill']['etcd_cpu']:.1f}"
            for v in ("before", "after_parallel_1", "after")
        ]
        lines.append(f"| {r['size']} | {r['rtt_ms']} ms | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Machine: {facts['nproc']} CPUs (shared), Python {facts['python']}, Kubernetes "
        f"{facts['kubernetes']}, {facts['date']}, load average at the end "
        f"{', '.join(f'{x:.1f}' for x in facts['loadavg_end'])}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
