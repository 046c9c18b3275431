"""Real components for modelguard's end-to-end tests, started as local processes.

- ``ControlPlane``: etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler
  and kwok with one fake Node, so Deployments really roll out (envtest-style, no Docker).
- ``PrometheusServer``: Debian's Prometheus with a 1 s scrape/evaluation interval.
- ``NEVER_READY``: a container image containing it gets pods that never become Ready.
- ``SyntheticModelExporter``: per-(model, version) quality metrics that tests set directly;
  ``serving``/``Traffic``: live confusion-matrix, score and latency counts, changeable at run time.
- ``backfill``: past metric history (OpenMetrics) written into a TSDB by promtool.
- ``SilentServer``: accepts connections and never answers (a Prometheus that hangs).

Anything that fails to start raises ``ComponentStartError`` naming the component and its log
file; nothing here ever skips a test. Binaries come from ``hack/build-control-plane.sh``.
"""

from modelguard_testenv._process import ComponentStartError, ManagedProcess, MissingBinaryError
from modelguard_testenv.binaries import K8S_VERSION, find_binary, find_prometheus, find_promtool
from modelguard_testenv.controlplane import (
    COMPONENTS,
    PORT_NAMES,
    ControlPlane,
    KubectlError,
    UserCredentials,
)
from modelguard_testenv.crds import wait_established
from modelguard_testenv.exporter import SyntheticModelExporter
from modelguard_testenv.history import HistorySeries, backfill, openmetrics
from modelguard_testenv.prometheus import PrometheusServer
from modelguard_testenv.recovery import wait_until_workloads_run
from modelguard_testenv.silent import SilentServer
from modelguard_testenv.stages import NEVER_READY
from modelguard_testenv.traffic import Traffic, serving
from modelguard_testenv.waiting import wait_for

__all__ = [
    "COMPONENTS",
    "K8S_VERSION",
    "NEVER_READY",
    "PORT_NAMES",
    "ComponentStartError",
    "ControlPlane",
    "HistorySeries",
    "KubectlError",
    "ManagedProcess",
    "MissingBinaryError",
    "PrometheusServer",
    "SilentServer",
    "SyntheticModelExporter",
    "Traffic",
    "UserCredentials",
    "backfill",
    "find_binary",
    "find_prometheus",
    "find_promtool",
    "openmetrics",
    "serving",
    "wait_established",
    "wait_for",
    "wait_until_workloads_run",
]
