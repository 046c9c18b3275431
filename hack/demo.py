"""The modelguard demo: a local control plane, Prometheus, a synthetic model, the operator.

It shows, with the real components: v1 promoted -> v2 applied -> v2's accuracy degrades
-> automatic rollback to v1 (v2 quarantined, with the evidence) -> the kill switch stops
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

from modelguard_testenv import (
    ControlPlane,
    PrometheusServer,
    SyntheticModelExporter,
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


def manifest(prometheus_url: str, version: str) -> str:
    return f"""
apiVersion: modelguard.io/v1alpha1
kind: ModelDeployment
metadata: {{name: {MODEL}, namespace: {NS}}}
spec:
  targetRef: {{name: {MODEL}, container: server}}
  version: {{image: "registry.local/{MODEL}:{version[1:]}.0", modelTag: "{version}"}}
  analysis:
    prometheus: {{url: "{prometheus_url}", timeout: 2s}}
    interval: 2s
    warmup: 4s
    failureThreshold: 3
    promoteAfter: 6s
    noData: hold
    checks:
      - name: accuracy
        query: model_accuracy{{model="{MODEL}",version="{{{{version}}}}"}}
        min: 0.9
  rollback: {{automatic: true, cooldown: 0s}}
  killSwitch: {{enabled: false, mode: scaleToZero}}
"""


def deployment() -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {MODEL}, namespace: {NS}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: {MODEL}}}}}
  template:
    metadata: {{labels: {{app: {MODEL}}}}}
    spec:
      containers:
        - name: server
          image: registry.local/{MODEL}:1.0
          env: [{{name: MODEL_VERSION, value: v1}}]
"""


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="modelguard-demo-"))
    with ControlPlane() as cp, SyntheticModelExporter() as exporter:
        step(
            f"Control plane up in {cp.startup_seconds:.1f}s (etcd, kube-apiserver, "
            "controller-manager, scheduler, kwok with a fake node)"
        )
        with PrometheusServer([exporter.target]) as prometheus:
            prometheus.wait_for_targets()
            exporter.set(MODEL, "v1", accuracy=0.96)
            exporter.set(MODEL, "v2", accuracy=0.95)
            step(f"Prometheus {prometheus.url} scrapes the synthetic model every second")

            cp.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
            wait_established(cp, "modeldeployments.modelguard.io")
            cp.kubectl("create", "namespace", "modelguard-system")
            cp.kubectl("apply", "-f", str(ROOT / "deploy" / "base" / "rbac.yaml"))
            cp.kubectl("create", "namespace", NS)
            cp.kubectl("apply", "-f", "-", input=deployment())
            identity = cp.service_account_credentials("modelguard-system", "modelguard")
            operator = OperatorProcess(identity.kubeconfig, workdir / "operator.log")
            operator.start()
            step(
                "modelguard operator running as its ServiceAccount (deploy/base/rbac.yaml); "
                f"log: {workdir / 'operator.log'}"
            )
            try:
                run_story(cp, exporter, prometheus.url)
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


def run_story(cp: ControlPlane, exporter: SyntheticModelExporter, prometheus_url: str) -> None:
    step("Guard the model at v1 (kubectl apply)")
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

    step("v2's accuracy degrades to 0.81 (below min 0.9)")
    exporter.set(MODEL, "v2", accuracy=0.81)
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
