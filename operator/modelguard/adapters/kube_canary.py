"""The canary Deployment on the Kubernetes API (create, scale, delete), for KubeAdapter.

Only `<target>-canary` is ever created or deleted; the target Deployment is read (its
pod template is the canary's source) and never written here. Writes name the field
manager `modelguard`, so `kubectl get -o yaml --show-managed-fields` tells who did it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.core.api import ModelDeploymentSpec, ModelVersion
from modelguard.core.canary import Owner, build_for, canary_name
from modelguard.core.canary.manifest import TEMPLATE_HASH_ANNOTATION, derived_from
from modelguard.core.workload import (
    CanaryAction,
    CanaryWorkload,
    DeleteCanary,
    EnsureCanary,
    ScaleCanary,
)

FIELD_MANAGER = "modelguard"

Reader = Callable[[Any, str, str], "dict[str, Any] | None"]


class ForeignCanaryError(RuntimeError):
    """The canary's Deployment (or Service) name is taken by an object that is not ours.
    Create/delete is granted cluster-wide (RBAC cannot limit it by name), so a user's own
    object of that name is never scaled, replaced or deleted: the canary waits until it
    is renamed."""


def owned_by(body: dict[str, Any], owner: Owner) -> bool:
    """Owned by this very ModelDeployment (its uid, so not a re-created namesake's)."""
    refs = body["metadata"].get("ownerReferences") or []
    return any(ref.get("uid") == owner.uid for ref in refs)


def foreign(kind: str, name: str) -> ForeignCanaryError:
    return ForeignCanaryError(
        f"{kind} {name!r} exists and is not owned by this ModelDeployment: "
        "modelguard will not touch it; rename it to let the canary start"
    )


def canary_in_play(spec: ModelDeploymentSpec, canary_recorded: bool) -> bool:
    """Read the canary only when there can be one: no extra GET for other models."""
    return spec.canary is not None or canary_recorded


def read_canary(
    apps: client.AppsV1Api,
    read: Reader,
    namespace: str,
    spec: ModelDeploymentSpec,
    target: dict[str, Any],
    container_of: Callable[[dict[str, Any], str | None], dict[str, Any] | None],
) -> CanaryWorkload | None:
    body = read(apps.read_namespaced_deployment, canary_name(spec.target_ref.name), namespace)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    container = container_of(body, spec.target_ref.container)
    tag_env = spec.version.model_tag_env if spec.version else "MODEL_VERSION"
    version = None
    if container is not None:
        tag = next(
            (e.get("value") for e in container.get("env", []) if e.get("name") == tag_env), None
        )
        version = ModelVersion(image=container.get("image"), model_tag=tag)
    status = body.get("status") or {}
    observed = int(status.get("observedGeneration", 0)) >= int(
        body["metadata"].get("generation", 0)
    )
    # Ready pods of the current template only: while the canary itself rolls (derived
    # again), its old pods are Ready but are not what the step is about.
    ready = min(int(status.get("readyReplicas", 0)), int(status.get("updatedReplicas", 0)))
    return CanaryWorkload(
        replicas=int(body["spec"].get("replicas", 1)),
        ready_replicas=ready if observed else 0,
        version=version,
        current=derived_from(body, target),
    )


def apply_canary(
    apps: client.AppsV1Api,
    read: Reader,
    namespace: str,
    spec: ModelDeploymentSpec,
    owner: Owner,
    action: CanaryAction,
) -> None:
    name = canary_name(spec.target_ref.name)
    if isinstance(action, DeleteCanary | ScaleCanary):
        existing = read(apps.read_namespaced_deployment, name, namespace)
        if existing is None:
            return  # nothing to stop or delete
        if not owned_by(existing, owner):
            raise foreign("Deployment", name)
        try:
            if isinstance(action, DeleteCanary):
                # On the uid read: never a Deployment re-created under the name since.
                preconditions = client.V1Preconditions(uid=existing["metadata"].get("uid"))
                apps.delete_namespaced_deployment(
                    name,
                    namespace,
                    propagation_policy="Background",
                    body=client.V1DeleteOptions(preconditions=preconditions),
                )
            else:
                _scale(apps, name, namespace, action.replicas)
        except ApiException as exc:
            if exc.status not in (404, 409):  # 409: it went, and another took the name
                raise
        return
    assert isinstance(action, EnsureCanary)  # the route's actions go to kube_route
    _ensure(apps, read, namespace, spec, owner, action, name)


def _ensure(
    apps: client.AppsV1Api,
    read: Reader,
    namespace: str,
    spec: ModelDeploymentSpec,
    owner: Owner,
    action: EnsureCanary,
    name: str,
) -> None:
    target = read(apps.read_namespaced_deployment, spec.target_ref.name, namespace)
    if target is None:
        raise LookupError(f"Deployment {spec.target_ref.name!r} is gone")
    built = build_for(target, spec, owner, action)
    existing = read(apps.read_namespaced_deployment, name, namespace)
    if existing is None:
        try:
            # A plain dict body: the client serializes it as it is (camelCase already).
            apps.create_namespaced_deployment(namespace, built, field_manager=FIELD_MANAGER)  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status != 409:
                raise
            existing = read(apps.read_namespaced_deployment, name, namespace)
            if existing is None:
                raise
        else:
            return
    if not owned_by(existing, owner):
        raise foreign("Deployment", name)
    annotations = existing["metadata"].get("annotations") or {}
    wanted = built["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
    if annotations.get(TEMPLATE_HASH_ANNOTATION) != wanted:
        # Another version, or the target's template changed: the template is replaced
        # whole (a merge would keep fields the target no longer has).
        patch = [
            {"op": "replace", "path": "/spec/template", "value": built["spec"]["template"]},
            {"op": "replace", "path": "/spec/replicas", "value": action.replicas},
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {**annotations, **built["metadata"]["annotations"]},
            },
        ]
        apps.patch_namespaced_deployment(
            name,
            namespace,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type="application/json-patch+json",
        )
    elif existing["spec"].get("replicas") != action.replicas:
        _scale(apps, name, namespace, action.replicas)


def _scale(apps: client.AppsV1Api, name: str, namespace: str, replicas: int) -> None:
    apps.patch_namespaced_deployment(
        name, namespace, {"spec": {"replicas": replicas}}, field_manager=FIELD_MANAGER
    )
