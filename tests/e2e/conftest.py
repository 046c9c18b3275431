"""Fixtures for end-to-end tests of the operator: the CRD, the operator's RBAC identity,
and a real operator process per test, watching only that test's namespace (so tests
cannot interfere, and a test may kill and restart its operator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelguard_testenv import ControlPlane, UserCredentials, wait_established
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "modelguard-system"


@pytest.fixture(scope="session")
def crd(control_plane: ControlPlane) -> Path:
    path = ROOT / "crds" / "modelguard.io_modeldeployments.yaml"
    control_plane.kubectl("apply", "--server-side", "-f", str(path))
    wait_established(control_plane, "modeldeployments.modelguard.io")
    return path


@pytest.fixture(scope="session")
def operator_identity(control_plane: ControlPlane, crd: Path) -> UserCredentials:
    """The operator runs as its ServiceAccount with deploy/base/rbac.yaml: the e2e tier proves
    those permissions are enough, not just that an admin could do it."""
    control_plane.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    control_plane.kubectl("apply", "-f", str(ROOT / "deploy" / "base" / "rbac.yaml"))
    return control_plane.service_account_credentials(OPERATOR_NAMESPACE, "modelguard")


@pytest.fixture
def cluster(control_plane: ControlPlane, k8s_api: object, namespace: str, crd: Path) -> Cluster:
    return Cluster(control_plane, namespace)


@pytest.fixture
def operator(
    request: pytest.FixtureRequest,
    operator_identity: UserCredentials,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """The operator for this test's namespace; extra environment variables by indirect
    parametrization: ``@pytest.mark.parametrize("operator", [{...}], indirect=True)``."""
    log_file = tmp_path_factory.mktemp("operator") / "operator.log"
    # Every status change written (as before core.significance) and evaluations not on
    # per-object slots nor spread after a start: many tests wait for the next evaluation
    # to show in status, at once. test_evaluation_cost runs the production defaults.
    env: dict[str, str] = {
        "MODELGUARD_STATUS_REFRESH_SECONDS": "0",
        "MODELGUARD_SPREAD_EVALUATIONS": "false",
        "MODELGUARD_STARTUP_SPREAD_SECONDS": "0",
        **(getattr(request, "param", None) or {}),
    }
    process = OperatorProcess(
        operator_identity.kubeconfig, log_file, namespaces=[namespace], env=env
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
        # Shown by pytest only when the test failed: the operator's side of the story.
        print(f"--- operator log ({log_file}), last lines:\n{process.log_tail(80)}")
