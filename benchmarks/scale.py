"""A large fleet on one operator: CPU, memory, API requests and Prometheus queries per
evaluation, evaluation lag and kill latency, for N ModelDeployments at a 30 s interval.

    PYTHONPATH=operator:testenv python -m benchmarks.scale [--sizes 1000,5000]
        [--label before|after] [--operator-src DIR] [--window 120] [--kills 20]

Real control plane (testenv, with an audit log of the operator's requests) and real
Prometheus scraping the synthetic exporter; per N a fresh operator process, started
after the objects exist (see benchmarks/README.md for what is measured and how).
Results: benchmarks/results/scale.{md,json}, one row per (label, N), merged with the
rows of earlier runs of other labels.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.killswitch.bench import log
from benchmarks.killswitch.samples import percentile
from benchmarks.scaling import readings
from benchmarks.scaling.fleet import NAMESPACE, Fleet, model
from benchmarks.scaling.kills import Killer
from benchmarks.scaling.report import judge, write
from modelguard_testenv import (
    ControlPlane,
    PrometheusServer,
    SyntheticModelExporter,
    wait_established,
    wait_for,
)
from modelguard_testenv.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "modelguard.io_modeldeployments.yaml"
RBAC = ROOT / "deploy" / "base" / "rbac.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "scale"
OPERATOR_NAMESPACE = "modelguard-system"
PROMETHEUS_QUERY = "/api/v1/query"


def git_state(directory: Path) -> str:
    """The checkout's commit, the last commit that changed ``directory`` (the operator
    code measured), and whether its files differ from that."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("log", "-1", "--format=%h", "--", ".") or "unknown"
    dirty = git("status", "--porcelain", ".")
    return f"{head} (this directory last changed in {changed})" + (
        " + uncommitted changes" if dirty else ""
    )


def loadavg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


class Run:
    """One control plane, Prometheus and exporter; a fresh operator per N."""

    def __init__(self, args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack):
        self.args = args
        self.workdir = workdir
        audit_flags, self.audit_log = readings.audit_args(workdir)
        faster = ["--kube-api-qps=300", "--kube-api-burst=600"]
        self.plane = ControlPlane(
            extra_args={
                "kube-apiserver": audit_flags,
                # 5000 Deployments roll out in minutes, not tens of minutes; neither is
                # on the measured path.
                "kube-controller-manager": [
                    *faster,
                    # 5 workers each by default, and each sync waits on a loaded apiserver.
                    "--concurrent-deployment-syncs=25",
                    "--concurrent-replicaset-syncs=25",
                ],
                "kube-scheduler": faster,
            }
        )
        began = time.monotonic()
        self.plane.start()
        stack.callback(self.plane.stop)
        self.exporter = stack.enter_context(SyntheticModelExporter())
        # Every 5 s is plenty: the values never change; 1 s would cost the shared CPU.
        self.prometheus = stack.enter_context(
            PrometheusServer([self.exporter.target], scrape_interval="5s", evaluation_interval="5s")
        )
        self.plane.kubectl("apply", "--server-side", "-f", str(CRD))
        wait_established(self.plane, "modeldeployments.modelguard.io")
        self.plane.kubectl("create", "namespace", OPERATOR_NAMESPACE)
        self.plane.kubectl("apply", "-f", str(RBAC))
        self.fleet = Fleet(self.plane)
        stack.callback(self.fleet.close)
        self.fleet.create_namespace()
        self.started = time.monotonic() - began
        log(f"control plane, Prometheus and exporter up in {self.started:.1f}s")

    def operator(self) -> OperatorProcess:
        identity = self.plane.service_account_credentials(OPERATOR_NAMESPACE, "modelguard")
        env = {"PYTHONPATH": str(self.args.operator_src)}
        return OperatorProcess(
            identity.kubeconfig, self.workdir / "operator.log", env=env, metrics=True
        )

    def measure(self, size: int) -> dict[str, Any]:
        args = self.args
        load_start = loadavg()
        log(f"N = {size}: creating models {self.fleet.present}..{size - 1}")
        for i in range(self.fleet.present, size):
            self.exporter.set(model(i), "v1", accuracy=0.97)
        phases = self.fleet.grow_to(size, self.prometheus.url, f"{args.interval}s")
        began = time.monotonic()
        self.prometheus.wait_for_targets()
        time.sleep(6.0)  # a scrape with every new series
        # The apiserver appends (O_APPEND): emptying the log between sizes keeps /tmp small.
        if self.audit_log.exists():
            os.truncate(self.audit_log, 0)
        operator = self.operator().start()
        try:
            row = self._measure(size, operator, began)
        finally:
            operator.stop()
        row["phases"] = {**phases, **row.pop("phases")}
        row["run"] = self._facts(load_start)
        row["met"] = judge(row)
        return row

    def _measure(self, size: int, operator: OperatorProcess, began: float) -> dict[str, Any]:
        args = self.args
        pid = operator.pid
        assert pid is not None
        # Listing thousands of ModelDeployments costs the shared CPU too: poll less often.
        poll = max(5.0, size / 250)
        wait_for(lambda: self._all_evaluated(size), timeout=1800, interval=poll, what="evaluated")
        startup = time.monotonic() - began
        startup_cpu = readings.cpu_seconds(pid)
        log(f"  every ModelDeployment evaluated {startup:.1f}s after the operator started")
        warmup = max(args.warmup, args.interval)
        log(f"  warm-up {warmup:.0f}s")
        time.sleep(warmup)
        metrics_url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
        prom_url = f"{self.prometheus.url}/metrics"
        killer = Killer(self.plane, args.kill_timeout)
        names = [model(i) for i in range(size)]
        victims = [names[(i * 7919) % size] for i in range(args.kills)]  # spread, distinct
        rss: list[float] = []
        with killer.watching() as watcher:
            offset = self.audit_log.stat().st_size if self.audit_log.exists() else 0
            ops_before, prom_before = readings.scrape(metrics_url), readings.scrape(prom_url)
            cpu_before, wall_before, t0 = readings.cpu_seconds(pid), time.time(), time.monotonic()
            log(f"  window {args.window:.0f}s with {args.kills} kills")
            next_kill = 0
            while (now := time.monotonic() - t0) < args.window:
                rss.append(readings.memory_mb(pid)[0])
                if next_kill < len(victims) and now >= (next_kill + 0.5) * args.window / len(
                    victims
                ):
                    latency = killer.kill(victims[next_kill], watcher)
                    log(f"    kill {victims[next_kill]}: {latency * 1000:.0f} ms")
                    next_kill += 1
                else:
                    time.sleep(1.0)
            cpu_after, wall_after = readings.cpu_seconds(pid), time.time()
            seconds = time.monotonic() - t0
            ops_after, prom_after = readings.scrape(metrics_url), readings.scrape(prom_url)
            peak = readings.memory_mb(pid)[1]
        killer.close()
        evaluations = readings.total(ops_after, "modelguard_evaluations_total") - readings.total(
            ops_before, "modelguard_evaluations_total"
        )
        queries = readings.total(
            prom_after, "prometheus_http_requests_total", handler=PROMETHEUS_QUERY
        ) - readings.total(prom_before, "prometheus_http_requests_total", handler=PROMETHEUS_QUERY)
        time.sleep(1.0)  # the audit log's last lines
        requests, of_kills = readings.audit_requests(
            self.audit_log, wall_before, wall_after, killer.spans, offset
        )
        lag = self._lag(ops_before, ops_after)
        reconciles = {
            part: readings.total(ops_after, f"modelguard_reconcile_duration_seconds_{part}")
            - readings.total(ops_before, f"modelguard_reconcile_duration_seconds_{part}")
            for part in ("sum", "count")
        }
        kills = killer.latencies
        total_requests = sum(requests.values())

        def per_eval(n: float) -> float | None:
            return n / evaluations if evaluations else None

        return {
            "label": args.label,
            "size": size,
            "interval_seconds": args.interval,
            "operator_cores": (cpu_after - cpu_before) / seconds,
            "rss_peak_mb": peak,
            "rss_steady_mb": statistics.median(rss),
            "rss_steady_max_mb": max(rss),
            "startup_seconds": startup,
            "startup_cpu_seconds": startup_cpu,
            "warmup_seconds": warmup,
            "window_seconds": seconds,
            "evaluations": evaluations,
            "evaluations_expected": size * seconds / args.interval,
            "evaluations_per_second": evaluations / seconds,
            "api_requests": dict(requests),
            "api_requests_total": total_requests,
            "api_requests_kills": sum(of_kills.values()),
            "api_per_eval": per_eval(total_requests),
            "api_per_eval_without_kills": per_eval(total_requests - sum(of_kills.values())),
            "prometheus_queries": queries,
            "prometheus_queries_per_eval": per_eval(queries),
            "query_dedupe": "none possible: one distinct query per ModelDeployment",
            **lag,
            # Where an evaluation's time goes when the operator falls behind: a reconcile
            # waits on the API server and Prometheus, at most `concurrency` at a time.
            "reconciles": reconciles["count"],
            "reconcile_seconds_mean": (
                reconciles["sum"] / reconciles["count"] if reconciles["count"] else None
            ),
            "kills": len(kills),
            "kill_timeouts": killer.timeouts,
            "kill_p50": percentile(kills, 50) if kills else None,
            "kill_p95": percentile(kills, 95) if kills else None,
            "kill_max": max(kills) if kills else None,
            "kill_latencies": kills,
            "phases": {"operator_start_to_all_evaluated": startup},
        }

    def _all_evaluated(self, size: int) -> bool:
        done = self.fleet.reconciled()
        log(f"    {done}/{size} ModelDeployments evaluated")
        return done >= size

    @staticmethod
    def _lag(before: str, after: str) -> dict[str, float | None]:
        end = readings.lag_buckets(after)
        if end is None:
            return {"lag_p50": None, "lag_p95": None, "lag_max": None}
        start = readings.lag_buckets(before) or {}
        window = {bound: count - start.get(bound, 0.0) for bound, count in end.items()}
        return {
            "lag_p50": readings.bucket_quantile(0.5, window),
            "lag_p95": readings.bucket_quantile(0.95, window),
            "lag_max": readings.bucket_max(window),
        }

    def _facts(self, load_start: str) -> dict[str, Any]:
        return {
            "command": shlex.join(["python", "-m", "benchmarks.scale", *sys.argv[1:]]),
            "operator_src": str(self.args.operator_src),
            "operator_commit": git_state(self.args.operator_src),
            "benchmark_commit": git_state(ROOT),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "loadavg_start": load_start,
            "loadavg_end": loadavg(),
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "namespace": NAMESPACE,
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000", help="comma-separated N, ascending")
    parser.add_argument("--label", default="after", help="e.g. before or after")
    parser.add_argument(
        "--operator-src",
        type=Path,
        default=ROOT / "operator",
        help="the operator/ directory whose code the operator process runs",
    )
    parser.add_argument("--interval", type=int, default=30, help="analysis interval (s)")
    parser.add_argument("--warmup", type=float, default=45.0, help="s, at least one interval")
    parser.add_argument("--window", type=float, default=120.0, help="steady window (s)")
    parser.add_argument("--kills", type=int, default=20, help="kills spread over the window")
    parser.add_argument("--kill-timeout", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=RESULTS, help="stem of the .md/.json")
    args = parser.parse_args(argv)
    args.size_list = [int(x) for x in args.sizes.split(",")]
    if args.size_list != sorted(args.size_list):
        parser.error("--sizes must ascend: models are added, never recreated")
    args.operator_src = args.operator_src.resolve()
    if not (args.operator_src / "modelguard").is_dir():
        parser.error(f"--operator-src {args.operator_src} has no modelguard/ package")
    return args


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A run in the background (nohup ... &) ignores SIGINT: SIGTERM must still stop the
    # control plane, Prometheus and the operator on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    began = time.monotonic()
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="modelguard-scale-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        run = Run(args, Path(tmp), stack)
        for size in args.size_list:
            rows.append(run.measure(size))
            write(args.output, rows, rows[-1]["run"])  # each N is kept as soon as it is done
    wall = time.monotonic() - began
    text = write(args.output, rows, {**rows[-1]["run"], "wall_seconds": wall})
    print(text)
    log(f"wall time {wall / 60:.1f} min")
    return 0 if all(v != "NO" for r in rows for v in r["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
