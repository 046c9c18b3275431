"""deploy/base/rbac.yaml grants the operator exactly what it needs, checked on a real apiserver.

Three layers, so a failure says where the problem is:
1. the YAML itself: no wildcards, no Secrets, nothing beyond an allow-list of grants, and
   everything the operator needs;
2. the live apiserver, asked with SelfSubjectAccessReviews as the operator's ServiceAccount,
   agrees with the YAML verb by verb (so the binding and subjects are right, too);
3. real requests as that ServiceAccount succeed or get 403.

Changing deploy/base/rbac.yaml means updating REQUIRED/ALLOWED here, on purpose: a reviewer then
sees every widening of the operator's permissions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import urllib3
import yaml
from kubernetes import client as k8s

from modelguard_testenv import ControlPlane, UserCredentials, wait_established, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RBAC_FILE = REPO / "deploy" / "base" / "rbac.yaml"
CRD_FILE = REPO / "crds" / "modelguard.io_modeldeployments.yaml"
SA_NAMESPACE = "modelguard-system"
SA_NAME = "modelguard"
GROUP = "modelguard.io"

# (apiGroup, resource) -> verbs the operator needs: the role must grant at least these.
REQUIRED: dict[tuple[str, str], set[str]] = {
    # create, delete: the <target>-canary Deployment of a spec.canary.
    ("apps", "deployments"): {"get", "list", "watch", "patch", "create", "delete"},
    # create, delete: the httpRoute canary's own Service.
    ("", "services"): {"get", "patch", "create", "delete"},
    # get, update: the two weights, written with the route's resourceVersion.
    ("gateway.networking.k8s.io", "httproutes"): {"get", "update"},
    ("", "pods"): {"list"},
    # patch: the modelguard.io/restore finalizer, added and removed with a JSON patch.
    (GROUP, "modeldeployments"): {"get", "list", "watch", "patch"},
    (GROUP, "modeldeployments/status"): {"patch"},
    # Read at each evaluation of a check that names a template.
    (GROUP, "modelchecktemplates"): {"get"},
    (GROUP, "clustermodelchecktemplates"): {"get"},
    ("", "events"): {"create"},
}
# (apiGroup, resource) -> verbs the role may grant at most.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("", "namespaces"): {"get", "list", "watch"},
    (GROUP, "modeldeployments"): {"get", "list", "watch", "patch"},
    (GROUP, "modeldeployments/status"): {"get", "patch", "update"},
    (GROUP, "modelchecktemplates"): {"get", "list", "watch"},
    (GROUP, "clustermodelchecktemplates"): {"get", "list", "watch"},
    ("apps", "deployments"): {"get", "list", "watch", "patch", "create", "delete"},
    ("", "services"): {"get", "list", "watch", "patch", "create", "delete"},
    ("gateway.networking.k8s.io", "httproutes"): {"get", "update", "patch"},
    ("", "pods"): {"get", "list", "watch"},
    ("autoscaling", "horizontalpodautoscalers"): {"get", "list", "watch"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}
ALL_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# Never granted, whatever the allow-list says.
FORBIDDEN_RESOURCES = {"secrets", "configmaps", "serviceaccounts/token", "pods/exec"}
ESCALATION_VERBS = {"escalate", "bind", "impersonate", "*"}
# Resources checked against the live server, beyond those in the role.
ALSO_PROBED = [("", "secrets"), ("", "configmaps"), ("apps", "replicasets")]


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(RBAC_FILE.read_text()) if d]


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in _documents() if d["kind"] == kind]
    return doc


def _granted() -> dict[tuple[str, str], set[str]]:
    """The ClusterRole's rules flattened to (apiGroup, resource) -> verbs."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in _one("ClusterRole")["rules"]:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


# --------------------------------------------------------------------------- 1. the YAML


def test_rbac_yaml_is_least_privilege() -> None:
    role = _one("ClusterRole")
    for rule in role["rules"]:
        fields = [*rule.get("apiGroups", []), *rule.get("resources", []), *rule["verbs"]]
        assert "*" not in fields, f"wildcard in {rule}"
        assert not rule.get("nonResourceURLs"), f"non-resource URLs granted: {rule}"
        assert not ESCALATION_VERBS & set(rule["verbs"]), f"escalation verb in {rule}"
        assert not FORBIDDEN_RESOURCES & set(rule.get("resources", [])), f"forbidden: {rule}"
    assert "aggregationRule" not in role

    granted = _granted()
    for key, verbs in REQUIRED.items():
        assert verbs <= granted.get(key, set()), f"{key} lacks {verbs - granted.get(key, set())}"
    for key, verbs in granted.items():
        extra = verbs - ALLOWED.get(key, set())
        assert not extra, f"{key} grants more than allowed: {sorted(extra)}"

    binding = _one("ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}
    ]
    account = _one("ServiceAccount")
    assert account["metadata"] == {"name": SA_NAME, "namespace": SA_NAMESPACE}


# --------------------------------------------------------------------------- live fixtures


@pytest.fixture(scope="module")
def installed(control_plane: ControlPlane) -> ControlPlane:
    """deploy/base/rbac.yaml and the CRD applied with kubectl, as a user would install them."""
    if not CRD_FILE.is_file():
        pytest.fail(f"{CRD_FILE} is missing: generate it (python -m modelguard.crdgen)")
    # create-or-keep: the session's control plane may already have it.
    ns = control_plane.kubectl(
        "create", "namespace", SA_NAMESPACE, "--dry-run=client", "-o=yaml"
    ).stdout
    control_plane.kubectl("apply", "-f", "-", input=ns)
    control_plane.kubectl("apply", "-f", str(CRD_FILE))
    control_plane.kubectl("apply", "-f", str(RBAC_FILE))
    wait_established(control_plane, "modeldeployments.modelguard.io")
    return control_plane


@pytest.fixture(scope="module")
def operator_sa(installed: ControlPlane) -> UserCredentials:
    """A client cert that authenticates exactly as the operator's ServiceAccount."""
    return installed.service_account_credentials(SA_NAMESPACE, SA_NAME)


@pytest.fixture(scope="module")
def as_operator(installed: ControlPlane, operator_sa: UserCredentials) -> Iterator[k8s.ApiClient]:
    with installed.api_client(operator_sa) as api:
        yield api


def _crd_version() -> str:
    crd = yaml.safe_load(CRD_FILE.read_text())
    (version,) = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
    return str(version)


def _allowed(api: k8s.ApiClient, verb: str, group: str, resource: str, namespace: str) -> bool:
    resource, _, subresource = resource.partition("/")
    review = k8s.V1SelfSubjectAccessReview(
        spec=k8s.V1SelfSubjectAccessReviewSpec(
            resource_attributes=k8s.V1ResourceAttributes(
                verb=verb,
                group=group,
                resource=resource,
                subresource=subresource or None,
                namespace=namespace,
            )
        )
    )
    result = k8s.AuthorizationV1Api(api).create_self_subject_access_review(review)
    assert result.status is not None, "the review came back without a verdict"
    return bool(result.status.allowed)


def _status(call: Any, *args: Any, **kwargs: Any) -> int:
    """HTTP status of a client call: 200 if it returned, else the ApiException's status."""
    try:
        result = call(*args, **kwargs)
    except k8s.ApiException as exc:
        return int(exc.status)
    if kwargs.get("_preload_content") is False:
        result.close()  # a raw (watch) response: drop its connection, unread
    return 200


# --------------------------------------------------------------------------- 2. the server


def test_leases_only_in_the_operators_namespace(as_operator: k8s.ApiClient) -> None:
    """Leader election: get/create/update Leases in modelguard-system, nothing elsewhere
    and nothing more (no delete, list or watch)."""
    role = _one("Role")
    assert role["metadata"]["namespace"] == SA_NAMESPACE
    assert _one("RoleBinding")["subjects"] == [
        {"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}
    ]
    got = {
        (verb, namespace): _allowed(as_operator, verb, "coordination.k8s.io", "leases", namespace)
        for verb in ALL_VERBS
        for namespace in (SA_NAMESPACE, "some-team")
    }
    granted = {"get", "create", "update"}
    assert got == {(v, ns): v in granted and ns == SA_NAMESPACE for v, ns in got}


def test_identity_is_the_operator_service_account(as_operator: k8s.ApiClient) -> None:
    review = k8s.AuthenticationV1Api(as_operator).create_self_subject_review(
        k8s.V1SelfSubjectReview()
    )
    assert review.status is not None
    info = review.status.user_info
    assert info is not None
    assert info.username == f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"
    assert {"system:serviceaccounts", f"system:serviceaccounts:{SA_NAMESPACE}"} <= set(
        info.groups or []
    )


def test_server_grants_exactly_what_the_yaml_says(as_operator: k8s.ApiClient) -> None:
    granted = _granted()
    mismatches = []
    for group, resource in sorted({*granted, *ALSO_PROBED}):
        for verb in ALL_VERBS:
            expected = verb in granted.get((group, resource), set())
            # A ClusterRoleBinding grants in every namespace; probe one it never saw.
            allowed = _allowed(as_operator, verb, group, resource, "some-team")
            if allowed != expected:
                mismatches.append(f"{verb} {group or 'core'}/{resource}: server says {allowed}")
    assert not mismatches, "\n".join(mismatches)


# --------------------------------------------------------------------------- 3. real requests


@pytest.fixture
def workload(k8s_api: k8s.ApiClient, namespace: str) -> str:
    """A Deployment and a Service named 'scorer', created as admin."""
    labels = {"app": "scorer"}
    k8s.AppsV1Api(k8s_api).create_namespaced_deployment(
        namespace,
        k8s.V1Deployment(
            metadata=k8s.V1ObjectMeta(name="scorer"),
            spec=k8s.V1DeploymentSpec(
                replicas=1,
                selector=k8s.V1LabelSelector(match_labels=labels),
                template=k8s.V1PodTemplateSpec(
                    metadata=k8s.V1ObjectMeta(labels=labels),
                    spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="s", image="x:1")]),
                ),
            ),
        ),
    )
    k8s.CoreV1Api(k8s_api).create_namespaced_service(
        namespace,
        k8s.V1Service(
            metadata=k8s.V1ObjectMeta(name="scorer"),
            spec=k8s.V1ServiceSpec(selector=labels, ports=[k8s.V1ServicePort(port=80)]),
        ),
    )
    k8s.CoreV1Api(k8s_api).create_namespaced_secret(
        namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="prom-auth"))
    )
    return namespace


def test_operator_can_do_its_job(as_operator: k8s.ApiClient, workload: str) -> None:
    ns = workload
    apps = k8s.AppsV1Api(as_operator)
    core = k8s.CoreV1Api(as_operator)

    listed = apps.list_namespaced_deployment(ns).items
    assert [d.metadata.name if d.metadata else None for d in listed] == ["scorer"]
    # A watch: raw response, since the client cannot parse an event stream as a list.
    stream = cast(  # the client's signature names the list type, whatever _preload_content
        urllib3.BaseHTTPResponse,
        apps.list_deployment_for_all_namespaces(
            watch=True, timeout_seconds=1, _preload_content=False
        ),
    )
    assert stream.status == 200
    # close(), not release_conn(): the unread stream must not go back to the pool.
    stream.close()
    apps.patch_namespaced_deployment("scorer", ns, {"spec": {"replicas": 0}})
    assert apps.read_namespaced_deployment("scorer", ns).spec.replicas == 0

    core.patch_namespaced_service("scorer", ns, {"spec": {"selector": {"app": "fallback"}}})
    service = core.read_namespaced_service("scorer", ns)
    assert service.spec is not None
    assert service.spec.selector == {"app": "fallback"}
    core.list_namespaced_pod(ns)

    core.create_namespaced_event(
        ns,
        k8s.CoreV1Event(
            metadata=k8s.V1ObjectMeta(name=f"scorer.{uuid.uuid4().hex[:10]}"),
            involved_object=k8s.V1ObjectReference(
                api_version="apps/v1", kind="Deployment", name="scorer", namespace=ns
            ),
            reason="RolledBack",
            message="rbac test",
            type="Normal",
        ),
    )


def test_operator_cannot_overreach(as_operator: k8s.ApiClient, workload: str) -> None:
    ns = workload
    apps = k8s.AppsV1Api(as_operator)
    core = k8s.CoreV1Api(as_operator)
    denied = {
        "list secrets": _status(core.list_namespaced_secret, ns),
        "get secret": _status(core.read_namespaced_secret, "prom-auth", ns),
        "list secrets cluster-wide": _status(core.list_secret_for_all_namespaces),
        "create replicaset": _status(
            apps.create_namespaced_replica_set,
            ns,
            {"metadata": {"name": "rogue"}, "spec": {"selector": {}, "template": {}}},
        ),
        # (Services may be deleted: RBAC cannot limit that to the httpRoute canary's own.)
        "delete namespace": _status(core.delete_namespace, ns),
        "delete pods": _status(core.delete_collection_namespaced_pod, ns),
    }
    assert denied == dict.fromkeys(denied, 403)


def test_operator_modeldeployment_permissions(as_operator: k8s.ApiClient, namespace: str) -> None:
    """Real requests on the CRD. Authorization runs before the object is looked up, so on a
    name that does not exist an allowed request gets 404 and a denied one 403."""
    custom = k8s.CustomObjectsApi(as_operator)
    version = _crd_version()
    plural = "modeldeployments"
    missing = "does-not-exist"

    # The CRD is served (and listing it is allowed) once discovery has caught up.
    wait_for(
        lambda: (
            _status(custom.list_namespaced_custom_object, GROUP, version, namespace, plural) == 200
        ),
        timeout=30,
        what="list modeldeployments as the operator",
    )
    got = {
        "watch": _status(
            custom.list_cluster_custom_object, GROUP, version, plural, watch=True,
            timeout_seconds=1, _preload_content=False,
        ),
        "get": _status(custom.get_namespaced_custom_object, GROUP, version, namespace, plural,
                       missing),
        "patch": _status(custom.patch_namespaced_custom_object, GROUP, version, namespace,
                         plural, missing, {"metadata": {"annotations": {"a": "b"}}}),
        "patch status": _status(custom.patch_namespaced_custom_object_status, GROUP, version,
                                namespace, plural, missing, {"status": {"phase": "x"}}),
        "create": _status(custom.create_namespaced_custom_object, GROUP, version, namespace,
                          plural, {"apiVersion": f"{GROUP}/{version}",
                                   "kind": "ModelDeployment", "metadata": {"name": "x"}}),
        "delete": _status(custom.delete_namespaced_custom_object, GROUP, version, namespace,
                          plural, missing),
    }  # fmt: skip
    assert got == {
        "watch": 200,
        "get": 404,
        "patch": 404,
        "patch status": 404,
        "create": 403,
        "delete": 403,
    }
