"""End-to-end: the image built from the repository's Dockerfile runs the operator.

hack/image.sh builds a Debian base with mmdebstrap and the operator image with buildah
(both cached); podman runs it as deploy/operator/operator.yaml's pod spec says (user 10001,
read-only root filesystem, no capabilities, the manifest's command, args and env),
logged in with a real ServiceAccount token mounted where a kubelet mounts it. Against
the local control plane, the containerised operator adopts a ModelDeployment, enforces
a kill and restores on release; /healthz answers and a real Prometheus scrapes /metrics.

Nothing here is skipped: a missing buildah/podman/mmdebstrap or a failed build FAILS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelguard_testenv import ControlPlane, PrometheusServer, UserCredentials
from tests.e2e.cluster import Cluster
from tests.e2e.container import OperatorContainer, PodContract, pod_contract
from tests.e2e.scenarios import DEPLOYMENT, MD, events, image

pytestmark = [pytest.mark.e2e, pytest.mark.image]

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "deploy" / "operator" / "operator.yaml"
REASON = "INC-5150: the containerised operator enforces it"
# A cold build (mmdebstrap + buildah, nothing cached) took about 5 minutes here.
BUILD_TIMEOUT = 1800


@pytest.fixture(scope="module")
def operator_image() -> str:
    """$MODELGUARD_IMAGE, else what hack/image.sh builds (cached after the first time)."""
    if given := os.environ.get("MODELGUARD_IMAGE"):
        return given
    try:
        built = subprocess.run(
            ["bash", str(REPO / "hack" / "image.sh")],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hack/image.sh did not finish in {BUILD_TIMEOUT}s", pytrace=False)
    if built.returncode != 0:
        pytest.fail(
            f"hack/image.sh failed ({built.returncode}):\n{built.stderr[-4000:]}", pytrace=False
        )
    return built.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def contract() -> PodContract:
    found = pod_contract(MANIFEST, pod_name="modelguard-0")
    # The guarantees this test exists to prove: a manifest that dropped them would make
    # the test weaker without failing it.
    assert found.user == "10001:10001"
    assert found.read_only and found.drop_all and found.no_new_privileges
    return found


@pytest.fixture(scope="module")
def service_account_dir(
    control_plane: ControlPlane,
    operator_identity: UserCredentials,  # applies deploy/base/rbac.yaml: the ServiceAccount exists
    contract: PodContract,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """What a kubelet projects into the pod: a bound token (TokenRequest), ca.crt, namespace."""
    token = control_plane.kubectl(
        "create", "token", contract.service_account, "-n", contract.namespace, "--duration=2h"
    ).stdout.strip()
    assert token.count(".") == 2, "TokenRequest returned no JWT"
    directory = tmp_path_factory.mktemp("serviceaccount")
    files = {
        "token": token,
        "ca.crt": control_plane.ca_cert.read_text(),
        "namespace": contract.namespace,
    }
    uid, gid = (int(part) for part in contract.user.split(":"))
    directory.chmod(0o755)
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        # Readable by the container's user only: the token is a credential.
        os.chown(path, uid, gid)
        path.chmod(0o400)
    return directory


@pytest.fixture(scope="module")
def container(
    operator_image: str,
    contract: PodContract,
    control_plane: ControlPlane,
    service_account_dir: Path,
) -> Iterator[OperatorContainer]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: hack/image.sh installs it with apt", pytrace=False)
    api_port = urllib.parse.urlsplit(control_plane.server_url).port
    assert api_port is not None
    running = OperatorContainer(
        operator_image, contract, api_port=api_port, service_account_dir=service_account_dir
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()
        print(f"--- container log, last lines:\n{chr(10).join(running.logs.splitlines()[-80:])}")


@pytest.fixture
def scraping(container: OperatorContainer) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping the container's /metrics under the ServiceMonitor's job."""
    target = urllib.parse.urlsplit(container.url("metrics", "/")).netloc
    server = PrometheusServer([target], job_name="modelguard-metrics")
    with server:
        server.wait_for_targets()
        yield server


def test_the_container_runs_as_the_pod_spec_says(container: OperatorContainer) -> None:
    info = container.inspect()
    assert info["Config"]["User"] == "10001:10001"
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert container.exec("id", "-u").stdout.strip() == "10001"
    written = container.exec("touch", "/usr/local/lib/probe")
    assert written.returncode != 0
    assert "Read-only file system" in written.stderr
    # /tmp is the manifest's emptyDir: writable, and the only place that is.
    assert container.exec("touch", "/tmp/probe").returncode == 0
    # No build tools were left behind by the build.
    assert container.exec("sh", "-c", "command -v gcc cc make").returncode != 0
    # It logged in with the mounted ServiceAccount, not a kubeconfig.
    env = container.exec("env").stdout
    assert "KUBECONFIG" not in env
    assert "KUBERNETES_SERVICE_HOST=kubernetes.default.svc" in env


def test_healthz_answers(container: OperatorContainer) -> None:
    with urllib.request.urlopen(container.url("health", "/healthz"), timeout=5) as response:
        assert response.status == 200


def test_containerised_operator_reconciles_and_enforces_a_kill(
    cluster: Cluster, container: OperatorContainer, scraping: PrometheusServer
) -> None:
    ns = cluster.namespace
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=3, model_tag="v1")
    cluster.create_md(MD, {"targetRef": {"name": DEPLOYMENT, "container": "server"}})

    def adopted() -> dict[str, Any] | None:
        status = cluster.status(MD)
        return status if status.get("phase") and status.get("currentVersion") else None

    status = cluster.wait(adopted, timeout=30, what="the container to adopt the model")
    assert status["observedGeneration"] == cluster.md(MD)["metadata"]["generation"]
    assert status["currentVersion"]["modelTag"] == "v1"

    cluster.control_plane.kubectl(
        "patch", "mdep", MD, "-n", ns, "--type=merge",
        "-p", json.dumps({"spec": {"killSwitch": {"enabled": True, "reason": REASON}}}),
    )  # fmt: skip
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=15, what="replicas 0")
    kill = cluster.wait(
        lambda: cluster.status(MD).get("killSwitch", {}).get("engaged") and cluster.status(MD),
        timeout=10,
        what="status.killSwitch.engaged",
    )["killSwitch"]
    assert kill["saved"] == {"replicas": 3}
    assert kill["reason"] == REASON
    (event,) = cluster.wait(lambda: events(cluster, "KillSwitchEngaged"), 10, "the Event")
    assert "3 -> 0" in event["message"]

    # /metrics, read directly and scraped by Prometheus: the kill shows on the gauge.
    with urllib.request.urlopen(container.url("metrics", "/metrics"), timeout=5) as response:
        families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
    info = [s.labels for s in families["modelguard_info"].samples if s.labels["namespace"] == ns]
    assert [(i["name"], i["phase"]) for i in info] == [(MD, "Killed")]
    engaged = f'modelguard_kill_switch_engaged{{job="modelguard-metrics",namespace="{ns}"}}'
    # Its scrape before the kill saw 0; wait for one after it.
    cluster.wait(lambda: _values(scraping, engaged) == [1.0], timeout=20, what=f"{engaged} == 1")

    cluster.control_plane.kubectl(
        "patch", "mdep", MD, "-n", ns, "--type=merge",
        "-p", json.dumps({"spec": {"killSwitch": {"enabled": False}}}),
    )  # fmt: skip
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 3, timeout=15, what="replicas 3 again")
    # The container did the work: its log names the object it reconciled.
    assert ns in container.read_logs()


def _values(prometheus: PrometheusServer, promql: str) -> list[float]:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        result: list[dict[str, Any]] = json.load(response)["data"]["result"]
    return [float(r["value"][1]) for r in result]
