"""deploy/, the Dockerfile and kind-config.yaml agree with each other and with the operator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from modelguard.runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _one(path: Path, kind: str) -> dict[str, Any]:
    (doc,) = [d for d in _docs(path) if d["kind"] == kind]
    return doc


def _container() -> dict[str, Any]:
    deployment = _one(DEPLOY / "operator" / "operator.yaml", "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_kustomizations_list_files_that_exist() -> None:
    for directory in (DEPLOY, DEPLOY / "base", DEPLOY / "operator"):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        for resource in kustomization["resources"]:
            assert (directory / resource).exists(), (directory, resource)
    assert yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"] == [
        "base",
        "operator",
    ]
    assert (
        "../../crds"
        in yaml.safe_load((DEPLOY / "base" / "kustomization.yaml").read_text())["resources"]
    )
    # Without an extension, so `kubectl apply -f crds/` does not try to apply it.
    crds = yaml.safe_load((REPO / "crds" / "Kustomization").read_text())
    for resource in crds["resources"]:
        assert (REPO / "crds" / resource).is_file(), resource
    assert not (REPO / "crds" / "kustomization.yaml").exists()


def test_two_replicas_one_leader() -> None:
    """Two replicas that elect a leader on a Lease (not kopf peering: --standalone), a
    rollout that never runs fewer than two, and a drain that never takes both."""
    deployment = _one(DEPLOY / "operator" / "operator.yaml", "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert "--standalone" in _container()["args"]
    labels = spec["template"]["metadata"]["labels"]
    budget = _one(DEPLOY / "operator" / "operator.yaml", "PodDisruptionBudget")
    assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": labels}}
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti  # kind has one node
    [term] = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"] == {
        "topologyKey": "kubernetes.io/hostname",
        "labelSelector": {"matchLabels": labels},
    }


def test_election_identity_and_namespace_come_from_the_pod() -> None:
    env = {e["name"]: e for e in _container()["env"]}
    assert env["MODELGUARD_LEADER_ELECTION"]["value"] == "true"
    assert env["MODELGUARD_LEASE_NAME"]["value"] == Settings().lease_name
    assert env["MODELGUARD_IDENTITY"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["MODELGUARD_LEASE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }


def test_lease_rbac_is_a_role_in_the_operators_namespace() -> None:
    namespace = _one(DEPLOY / "operator" / "operator.yaml", "Deployment")["metadata"]["namespace"]
    role = _one(DEPLOY / "base" / "rbac.yaml", "Role")
    assert role["metadata"]["namespace"] == namespace
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        }
    ]
    binding = _one(DEPLOY / "base" / "rbac.yaml", "RoleBinding")
    assert binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    account = _one(DEPLOY / "base" / "rbac.yaml", "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": namespace}
    ]
    cluster_rules = _one(DEPLOY / "base" / "rbac.yaml", "ClusterRole")["rules"]
    assert all("coordination.k8s.io" not in r["apiGroups"] for r in cluster_rules)


def test_namespace_and_service_account_match_rbac() -> None:
    namespace = _one(DEPLOY / "base" / "namespace.yaml", "Namespace")["metadata"]["name"]
    account = _one(DEPLOY / "base" / "rbac.yaml", "ServiceAccount")["metadata"]
    deployment = _one(DEPLOY / "operator" / "operator.yaml", "Deployment")
    assert deployment["metadata"]["namespace"] == namespace == account["namespace"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]


def test_probes_and_ports_match_the_process() -> None:
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    liveness = next(a for a in container["args"] if a.startswith("--liveness="))
    match = re.fullmatch(r"--liveness=http://0\.0\.0\.0:(\d+)(/\S+)", liveness)
    assert match is not None
    assert ports["health"] == int(match.group(1))
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": match.group(2), "port": "health"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["MODELGUARD_METRICS_PORT"]) == ports["metrics"] == Settings().metrics_port
    args = container["args"]
    assert args[args.index("-m") + 1] == "modelguard.runtime.handlers"


def test_hardened_pod() -> None:
    deployment = _one(DEPLOY / "operator" / "operator.yaml", "Deployment")
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container()
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert container["imagePullPolicy"] == "IfNotPresent"


def test_dockerfile_runs_what_the_deployment_runs() -> None:
    dockerfile = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.MULTILINE)
    assert entrypoint is not None
    container = _container()
    assert json.loads(entrypoint.group(1)) == container["command"] + container["args"]
    user = re.search(r"^USER (\d+)", dockerfile, re.MULTILINE)
    assert user is not None
    assert (
        int(user.group(1))
        == _one(DEPLOY / "operator" / "operator.yaml", "Deployment")["spec"]["template"]["spec"][
            "securityContext"
        ]["runAsUser"]
    )
    assert container["image"] in (REPO / "kind-config.yaml").read_text()


def test_kind_config_is_one_control_plane_node() -> None:
    config = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["nodes"] == [{"role": "control-plane"}]


def test_every_operator_setting_is_documented_and_in_the_manifest() -> None:
    """A setting nobody can find is one nobody sets: each MODELGUARD_ variable the
    operator reads is in the README; dry run is offered in deploy/operator/operator.yaml as a
    commented option (on by a default manifest it would stop every rollback)."""
    source = (REPO / "operator" / "modelguard" / "runtime" / "settings.py").read_text()
    names = set(re.findall(r'"(MODELGUARD_[A-Z_]+)"', source))
    assert "MODELGUARD_DRY_RUN" in names
    readme = (REPO / "README.md").read_text()
    manifest = (DEPLOY / "operator" / "operator.yaml").read_text()
    assert [n for n in sorted(names) if n not in readme] == []
    assert "# - name: MODELGUARD_DRY_RUN" in manifest
