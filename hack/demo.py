"""The modelguard demo: a local control plane, Prometheus, a synthetic model, the operator.

It shows, with the real components: the check library installed (deploy/checks/) -> v1,
guarded by its f1-score and latency-p99 templates, promoted -> v2 applied -> v2's F1
drops (the synthetic server's confusion-matrix counts change at run time) -> automatic
rollback to v1 (v2 quarantined, with the evidence) -> the kill switch stops
the model -> releasing it restores the exact replica count; then a canary act (see
hack/demo_canary.py): v2 at 10 % -> 50 % -> promoted, v3 aborted at its first step by a
proportion check while v2 keeps serving. Run it with hack/demo.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import demo_canary  # hack/ is on sys.path: this script's own directory
import demo_manifests

from modelguard_testenv import (
    ControlPlane,
    PrometheusServer,
    SyntheticModelExporter,
    Traffic,
    serving,
    wait_established,
    wait_for,
)
from modelguard_testenv.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[1]
NS = "demo"
MODEL = "fraud-scorer"
BIN = Path(sys.executable).parent


def step(title: str) -> None:
    print(f"\n\033[1;36m==> {title}\033[0m", flush=True)


def show(cp: ControlPlane, *argv: str) -> None:
    print(f"$ {' '.join(argv)}", flush=True)
    if argv[0] == "kubectl":
        out = cp.kubectl(*argv[1:], check=False)
        print(out.stdout + out.stderr, end="", flush=True)
    else:
        env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig_path)}
        subprocess.run([str(BIN / argv[0]), *argv[1:]], env=env, check=False)


def wait(cp: ControlPlane, what: str, check: Callable[[], object], timeout: float = 90) -> None:
    started = time.monotonic()
    wait_for(check, timeout=timeout, interval=0.5, what=what)
    print(f"    ... {what} ({time.monotonic() - started:.1f}s)", flush=True)


def jsonpath(cp: ControlPlane, kind: str, name: str, path: str) -> str:
    out = cp.kubectl("get", kind, name, "-n", NS, "-o", f"jsonpath={{{path}}}", check=False)
    return out.stdout.strip()


# The checks guarding the model: two templates of the library (deploy/checks/), with
# their default thresholds (f1-score: min 0.8 on 200 labelled predictions; latency-p99:
# max 0.5 s on 100 requests). Their `model` parameter defaults to the ModelDeployment's
# name, which is the model label here; the latency window is shortened for the demo.
CHECKS = [
    {"name": "f1", "templateRef": {"name": "f1-score"}},
    {"name": "latency", "templateRef": {"name": "latency-p99"}, "args": {"window": "30s"}},
]
# What each version's server counts every 0.1 s (the exporter's confusion-matrix
# counters and latency histogram): F1 0.95 and p99 0.22 s while healthy, F1 0.59 once
# v2 degrades, at the same latency (the latency check keeps passing).
LATENCIES = {0.02: 15, 0.05: 4, 0.2: 1}
HEALTHY = Traffic(tp=18, fp=1, fn=1, tn=20, latencies=LATENCIES)
DEGRADED = Traffic(tp=10, fp=6, fn=8, tn=16, latencies=LATENCIES)


def manifest(prometheus_url: str, version: str) -> str:
    return demo_manifests.model_deployment(
        MODEL,
        NS,
        version,
        prometheus_url,
        checks=CHECKS,
        timing={"interval": "2s", "warmup": "4s", "failureThreshold": 3, "promoteAfter": "6s"},
        kill_switch=True,
    )


def say(text: str) -> None:
    """Narration: what the user is looking at, and why."""
    print(f"    {text}", flush=True)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="modelguard-demo-"))
    with ControlPlane() as cp, SyntheticModelExporter() as exporter:
        step(
            f"Control plane up in {cp.startup_seconds:.1f}s (etcd, kube-apiserver, "
            "controller-manager, scheduler, kwok with a fake node)"
        )
        with PrometheusServer([exporter.target]) as prometheus:
            prometheus.wait_for_targets()
            step(f"Prometheus {prometheus.url} scrapes the synthetic model every second")

            cp.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
            for plural in ("modeldeployments", "modelchecktemplates", "clustermodelchecktemplates"):
                wait_established(cp, f"{plural}.modelguard.io")
            cp.kubectl("create", "namespace", "modelguard-system")
            cp.kubectl("apply", "-f", str(ROOT / "deploy" / "base" / "rbac.yaml"))
            cp.kubectl("create", "namespace", NS)
            cp.kubectl("apply", "-f", "-", input=demo_manifests.deployment(MODEL, NS, 3))
            identity = cp.service_account_credentials("modelguard-system", "modelguard")
            operator = OperatorProcess(identity.kubeconfig, workdir / "operator.log")
            operator.start()
            step(
                "modelguard operator running as its ServiceAccount (deploy/base/rbac.yaml); "
                f"log: {workdir / 'operator.log'}"
            )
            try:
                traffic = {"v1": HEALTHY, "v2": HEALTHY}
                with serving(exporter, MODEL, traffic):
                    run_story(cp, traffic, prometheus.url)
                demo_canary.run(
                    cp,
                    exporter,
                    prometheus.url,
                    NS,
                    step=step,
                    show=lambda *argv: show(cp, *argv),
                    wait=lambda what, check: wait(cp, what, check),
                    read=lambda kind, name, path: jsonpath(cp, kind, name, path),
                )
            finally:
                operator.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    step("Done: everything was stopped and cleaned up")
    return 0


def run_story(cp: ControlPlane, traffic: dict[str, Traffic], prometheus_url: str) -> None:
    step("Install the check library (kubectl apply -k deploy/checks/)")
    cp.kubectl("apply", "-k", str(ROOT / "deploy" / "checks"))
    show(cp, "kubectl", "get", "clustermodelchecktemplates")
    say("Reusable checks: a ModelDeployment names one (templateRef) instead of spelling PromQL.")

    step("Guard the model at v1 with the f1-score and latency-p99 templates (kubectl apply)")
    say(f"v1 serves with F1 {HEALTHY.f1:.2f} (confusion-matrix counters) and p99 0.22 s")
    cp.kubectl("apply", "-f", "-", input=manifest(prometheus_url, "v1"))
    wait(
        cp,
        "v1 promoted to known good",
        lambda: jsonpath(cp, "mdep", MODEL, ".status.stableVersion.name") == "v1",
    )
    show(cp, "kubectl", "get", "mdep", "-n", NS)

    step("Roll out v2 (GitOps changes spec.version)")
    cp.kubectl("apply", "-f", "-", input=manifest(prometheus_url, "v2"))
    wait(
        cp,
        "Deployment runs v2",
        lambda: jsonpath(cp, "deploy", MODEL, ".spec.template.spec.containers[0].image").endswith(
            ":2.0"
        ),
    )
    show(cp, "kubectl", "get", "mdep", "-n", NS)

    step(f"v2's F1 drops to {DEGRADED.f1:.2f} (the f1-score template's min is 0.8)")
    traffic["v2"] = DEGRADED
    say("F1 = 2tp / (2tp + fp + fn), counted since v2 went live; 3 failed evaluations in")
    say("a row (failureThreshold) roll it back. Its latency is unchanged and keeps passing.")
    wait(
        cp,
        "rolled back to v1",
        lambda: jsonpath(cp, "deploy", MODEL, ".spec.template.spec.containers[0].image").endswith(
            ":1.0"
        ),
    )
    wait(
        cp, "status recorded", lambda: jsonpath(cp, "mdep", MODEL, ".status.phase") == "RolledBack"
    )
    show(cp, "kubectl", "get", "mdep", "-n", NS)
    show(cp, "modelguard", "status", MODEL, "-n", NS)
    say("The TEMPLATE column: the check each result came from; v2 is quarantined.")
    show(cp, "modelguard", "history", MODEL, "-n", NS)
    show(
        cp,
        "kubectl",
        "get",
        "events",
        "-n",
        NS,
        "--field-selector",
        f"involvedObject.name={MODEL}",
        "--sort-by=.metadata.creationTimestamp",
    )

    step("Incident: stop the model now (kill switch)")
    show(cp, "modelguard", "kill", MODEL, "-n", NS, "--reason", "INC-42 bad predictions")
    wait(
        cp, "Deployment scaled to 0", lambda: jsonpath(cp, "deploy", MODEL, ".spec.replicas") == "0"
    )
    show(cp, "kubectl", "get", "mdep", "-n", NS)

    step("Release: restore exactly what was there")
    show(cp, "modelguard", "release", MODEL, "-n", NS)
    wait(cp, "3 replicas restored", lambda: jsonpath(cp, "deploy", MODEL, ".spec.replicas") == "3")
    wait(
        cp,
        "kill switch released",
        lambda: jsonpath(cp, "mdep", MODEL, ".status.killSwitch.engaged") == "false",
    )
    show(cp, "kubectl", "get", "mdep", "-n", NS)
    show(cp, "kubectl", "get", "deploy", MODEL, "-n", NS)


if __name__ == "__main__":
    sys.exit(main())
