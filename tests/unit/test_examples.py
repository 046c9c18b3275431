"""Every example in examples/ is valid against the API and consistent with itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modelguard.core import api
from modelguard.core.canary import weights
from modelguard.core.canary.route import observe, route_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def _model_deployments() -> list[tuple[str, dict[str, Any]]]:
    return [(f, d) for f, d in _documents() if d.get("kind") == api.KIND]


def test_examples_exist() -> None:
    files = {f for f, _ in _documents()}
    assert {
        "fraud-scorer.yaml",
        "kill-switch-only.yaml",
        "prometheus-auth-secret-role.yaml",
        "argocd-application.yaml",
        "flux-kustomization.yaml",
        "notifications.yaml",
        "canary-replicas.yaml",
        "canary-httproute.yaml",
    } <= files
    assert len(_model_deployments()) >= 2


@pytest.mark.parametrize(
    ("file", "obj"), _model_deployments(), ids=[f for f, _ in _model_deployments()]
)
def test_model_deployment_spec_is_valid(file: str, obj: dict[str, Any]) -> None:
    assert obj["apiVersion"] == f"{api.GROUP}/{api.VERSION}"
    api.ModelDeploymentSpec.model_validate(obj["spec"])


def test_fraud_scorer_refers_to_what_it_defines() -> None:
    docs = [d for f, d in _documents() if f == "fraud-scorer.yaml"]
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    spec = api.ModelDeploymentSpec.model_validate(by_kind[api.KIND]["fraud-scorer"]["spec"])

    target = by_kind["Deployment"][spec.target_ref.name]
    containers = {c["name"]: c for c in target["spec"]["template"]["spec"]["containers"]}
    assert spec.target_ref.container in containers
    assert spec.version is not None
    env = {e["name"] for e in containers[spec.target_ref.container or ""].get("env", [])}
    assert spec.version.model_tag_env in env

    fallback = spec.kill_switch.fallback
    assert fallback is not None
    assert spec.kill_switch.mode is api.KillSwitchMode.FALLBACK
    assert fallback.service_name in by_kind["Service"]
    fallback_pods = [
        d["spec"]["template"]["metadata"]["labels"] for d in by_kind["Deployment"].values()
    ]
    assert fallback.selector in fallback_pods

    assert spec.analysis is not None
    checks = {c.name: c for c in spec.analysis.checks}
    assert checks["accuracy"].min is not None
    relative = checks["accuracy-vs-stable"]
    assert relative.max_drop is not None
    assert relative.min_samples is not None
    assert "{{stableVersion}}" in (relative.baseline_query or "")
    assert "histogram_quantile(0.95" in (checks["latency-p95"].query or "")
    assert checks["latency-p95"].max is not None


def test_examples_never_declare_the_kill_switch_state() -> None:
    """A re-apply or GitOps sync of an example must not release a pulled kill switch."""
    for _, obj in _model_deployments():
        kill = obj["spec"].get("killSwitch", {})
        assert "enabled" not in kill
        assert "reason" not in kill


def test_prometheus_secret_role_grants_get_on_one_secret() -> None:
    docs = {d["kind"]: d for f, d in _documents() if f == "prometheus-auth-secret-role.yaml"}
    (rule,) = docs["Role"]["rules"]
    assert rule["resources"] == ["secrets"]
    assert rule["verbs"] == ["get"]
    assert rule["resourceNames"] == [docs["Secret"]["metadata"]["name"]]
    (subject,) = docs["RoleBinding"]["subjects"]
    assert (subject["kind"], subject["name"], subject["namespace"]) == (
        "ServiceAccount",
        "modelguard",
        "modelguard-system",
    )
    assert docs["RoleBinding"]["roleRef"]["name"] == docs["Role"]["metadata"]["name"]


def test_notification_receivers_name_keys_of_the_secret_the_role_grants() -> None:
    docs = {d["kind"]: d for f, d in _documents() if f == "notifications.yaml"}
    secret = docs["Secret"]
    (rule,) = docs["Role"]["rules"]
    assert (rule["resources"], rule["verbs"]) == (["secrets"], ["get"])
    assert rule["resourceNames"] == [secret["metadata"]["name"]]
    assert docs["RoleBinding"]["roleRef"]["name"] == docs["Role"]["metadata"]["name"]
    spec = api.ModelDeploymentSpec.model_validate(docs[api.KIND]["spec"])
    assert spec.notifications is not None
    formats = set()
    for receiver in spec.notifications.receivers:
        ref = receiver.url_secret_ref
        assert ref.name == secret["metadata"]["name"]
        assert secret["stringData"][ref.key].startswith("https://")
        formats.add(receiver.format)
    assert formats == set(api.NotificationFormat)


def test_argocd_application_leaves_modelguards_fields_alone() -> None:
    (app,) = [d for f, d in _documents() if f == "argocd-application.yaml"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
    ignored = {(i["group"], i["kind"]): i for i in app["spec"]["ignoreDifferences"]}
    deployment = ignored[("apps", "Deployment")]
    assert "/spec/replicas" in deployment["jsonPointers"]
    jq = " ".join(deployment["jqPathExpressions"])
    assert ".image" in jq
    assert "MODEL_VERSION" in jq
    assert "/spec/selector" in ignored[("", "Service")]["jsonPointers"]
    assert "/spec/killSwitch/enabled" in ignored[(api.GROUP, api.KIND)]["jsonPointers"]


def test_canary_example_reaches_its_first_step() -> None:
    """The example's replica count can carry its first step within the tolerance, and
    the Service selects the canary's pods too (it carries every label of the target's)."""
    docs = {
        (d["kind"], d["metadata"]["name"]): d
        for f, d in _documents()
        if f == "canary-replicas.yaml"
    }
    spec = api.ModelDeploymentSpec.model_validate(docs[api.KIND, "fraud-scorer"]["spec"])
    assert spec.canary is not None
    target = docs["Deployment", spec.target_ref.name]
    first = weights(
        target["spec"]["replicas"],
        spec.canary.steps[0],
        spec.canary.max_canary_replicas,
        spec.canary.max_weight_overshoot,
    )
    assert first.reachable
    pod_labels = target["spec"]["template"]["metadata"]["labels"]
    selector = docs["Service", "fraud-scorer"]["spec"]["selector"]
    assert selector.items() <= pod_labels.items()
    assert spec.canary.track_label not in selector


def test_the_httproute_canary_example_is_one_the_operator_would_not_hold() -> None:
    docs = {
        (d["kind"], d["metadata"]["name"]): d
        for f, d in _documents()
        if f == "canary-httproute.yaml"
    }
    spec = api.ModelDeploymentSpec.model_validate(docs[api.KIND, "fraud-scorer"]["spec"])
    assert spec.canary is not None
    http = route_of(spec.canary)
    assert http is not None
    target = docs["Deployment", spec.target_ref.name]
    stable = docs["Service", http.stable_backend]["spec"]["selector"]
    pod_labels = target["spec"]["template"]["metadata"]["labels"]
    seen = observe(
        http,
        docs["HTTPRoute", http.name],
        stable,
        False,
        pod_labels,
        spec.canary.track_label,
    )
    assert seen.problem == ""  # both backendRefs there; the stable never selects the canary
    assert stable.items() <= pod_labels.items()  # ... but does select the target's pods
