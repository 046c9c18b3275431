"""deploy/ and examples/ on a real API server: they build, validate and run.

The image is not run here (tests/e2e/test_image.py builds and runs it with podman), but
kwok runs the pod on a fake node, so the Deployment rolls out through the real controllers
and the Pod Security admission of the namespace (restricted) judges the pod spec.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelguard_testenv import ControlPlane, wait_established

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "modelguard-system"


def test_kustomize_builds_the_whole_install(control_plane: ControlPlane) -> None:
    built = control_plane.kubectl("kustomize", str(REPO / "deploy")).stdout
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built) if d)
    assert kinds == [
        ("ClusterRole", "modelguard"),
        ("ClusterRoleBinding", "modelguard"),
        ("CustomResourceDefinition", "clustermodelchecktemplates.modelguard.io"),
        ("CustomResourceDefinition", "modelchecktemplates.modelguard.io"),
        ("CustomResourceDefinition", "modeldeployments.modelguard.io"),
        ("Deployment", "modelguard"),
        ("Namespace", NAMESPACE),
        ("PodDisruptionBudget", "modelguard"),
        ("Role", "modelguard-leader-election"),
        ("RoleBinding", "modelguard-leader-election"),
        ("Service", "modelguard-metrics"),
        ("ServiceAccount", "modelguard"),
    ]


def test_kustomize_builds_the_sharded_install(control_plane: ControlPlane) -> None:
    """deploy/shards/: the shared base and the metrics Service once, the operator twice
    (a Deployment and a PDB per shard), each shard's pods, selectors and env its own."""
    built = control_plane.kubectl("kustomize", str(REPO / "deploy" / "shards")).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    single = control_plane.kubectl("kustomize", str(REPO / "deploy")).stdout
    shared = {
        (d["kind"], d["metadata"]["name"])
        for d in yaml.safe_load_all(single)
        if d and d["kind"] not in ("Deployment", "PodDisruptionBudget")
    }
    per_shard = {
        (kind, f"modelguard-shard-{shard}")
        for shard in ("a", "b")
        for kind in ("Deployment", "PodDisruptionBudget")
    }
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == sorted(shared | per_shard)
    env = {}
    for doc in docs:
        shard = doc["metadata"].get("labels", {}).get("modelguard.io/shard")
        if doc["kind"] == "Deployment":
            spec = doc["spec"]
            assert spec["replicas"] == 2
            pods = spec["template"]["metadata"]["labels"]
            assert spec["selector"]["matchLabels"] == pods
            assert pods["modelguard.io/shard"] == shard
            [container] = spec["template"]["spec"]["containers"]
            env[shard] = {e["name"]: e.get("value") for e in container["env"]}
        elif doc["kind"] == "PodDisruptionBudget":
            assert doc["spec"]["selector"]["matchLabels"]["modelguard.io/shard"] == shard
        elif doc["kind"] == "Service":  # every shard's pods, one Prometheus job
            assert "modelguard.io/shard" not in doc["spec"]["selector"]
    assert {s: (e["MODELGUARD_SHARD"], e["MODELGUARD_LEASE_NAME"]) for s, e in env.items()} == {
        "a": ("a", "modelguard-leader-a"),
        "b": ("b", "modelguard-leader-b"),
    }
    assert env["a"]["MODELGUARD_SHARD_SELECTOR"] == "modelguard.io/shard=a"
    assert env["b"]["MODELGUARD_SHARD_SELECTOR"] == "modelguard.io/shard notin (a)"


def test_plain_apply_of_the_crds_folder_still_works(control_plane: ControlPlane) -> None:
    """crds/ holds a kustomization too; `kubectl apply -f crds/` must not choke on it."""
    control_plane.kubectl("apply", "-f", str(REPO / "crds"))


def test_install_rolls_out(control_plane: ControlPlane) -> None:
    control_plane.kubectl("apply", "-k", str(REPO / "deploy"))
    try:
        control_plane.kubectl(
            "rollout", "status", "deployment/modelguard", "-n", NAMESPACE, "--timeout=60s"
        )
        pods = control_plane.kubectl(
            "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=modelguard",
            "-o", "jsonpath={.items[*].spec.serviceAccountName}",
        ).stdout.split()  # fmt: skip
        assert pods == ["modelguard", "modelguard"]  # two replicas, one leader
    finally:
        # Leave the namespace, CRD and RBAC: other tests share them.
        control_plane.kubectl(
            "delete", "deployment/modelguard", "service/modelguard-metrics",
            "poddisruptionbudget/modelguard", "-n", NAMESPACE,
            "--ignore-not-found", "--wait=false",
        )  # fmt: skip


def test_examples_pass_server_side_validation(control_plane: ControlPlane, namespace: str) -> None:
    """The CRD's schema and CEL rules, not only the pydantic models, accept the examples."""
    control_plane.kubectl("apply", "-f", str(REPO / "crds" / "modelguard.io_modeldeployments.yaml"))
    wait_established(control_plane, "modeldeployments.modelguard.io")
    for example in (
        "fraud-scorer.yaml",
        "kill-switch-only.yaml",
        "prometheus-auth-secret-role.yaml",
        "notifications.yaml",
    ):
        control_plane.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / example))
    names = control_plane.kubectl(
        "get", "modeldeployments", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}"
    ).stdout.split()
    assert sorted(names) == ["fraud-scorer", "payments-scorer", "recommender"]
