"""The ModelDeployment itself on the Kubernetes API, for KubeAdapter: read it, write its
status and its finalizer, each fenced on the resourceVersion a decision was read from.
Plain functions of a CustomObjectsApi, run in the adapter's worker threads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.adapters.kube_canary import FIELD_MANAGER
from modelguard.core import api
from modelguard.core.api import ModelDeploymentStatus
from modelguard.core.ports import ConflictError

_FINALIZER_ATTEMPTS = 5


def get_model_deployment(
    custom: client.CustomObjectsApi, namespace: str, name: str
) -> dict[str, Any] | None:
    try:
        body = custom.get_namespaced_custom_object(
            api.GROUP, api.VERSION, namespace, api.PLURAL, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return cast(dict[str, Any], body)


def list_model_deployments(custom: client.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    listed = custom.list_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL)
    return [dict(item) for item in cast(dict[str, Any], listed).get("items", [])]


def write_status(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    status: ModelDeploymentStatus,
    resource_version: str | None,
) -> str | None:
    # A merge patch with explicit nulls: a field the core cleared (pendingAction,
    # killSwitch.saved) must be deleted, not left behind by the merge. With a
    # resourceVersion in the patch, the API server applies it only if the object
    # still has that version and answers 409 otherwise: the fencing of the decision.
    body: dict[str, Any] = {"status": status.model_dump(mode="json", by_alias=True)}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    try:
        stored = custom.patch_namespaced_custom_object_status(
            api.GROUP,
            api.VERSION,
            namespace,
            api.PLURAL,
            name,
            body,
            field_manager=FIELD_MANAGER,
        )
    except ApiException as exc:
        if exc.status == 409:
            raise ConflictError(f"{namespace}/{name} changed since it was read") from exc
        raise
    return _version(stored)


def set_finalizer(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    finalizer: str,
    present: bool,
    expected: str | None,
    known: Sequence[str] | None = None,
) -> str | None:
    # A JSON patch that first tests the resourceVersion just read: the finalizer list
    # is replaced whole, so a finalizer someone else added in between must not be
    # dropped (or a removed one put back). On a conflict, read again and retry, unless
    # the caller fenced the write on the version it decided from (`expected`): then
    # the conflict is the caller's to handle, from a fresh read of its own.
    # With `known` (the finalizers at `expected`) there is nothing to read first: the
    # test of the resourceVersion proves the list is still that one. The engage of a
    # kill switch adds the finalizer right before it scales, so that read was a round
    # trip on the way to stopping the model.
    for _ in range(_FINALIZER_ATTEMPTS):
        if expected is not None and known is not None:
            meta: dict[str, Any] = {"resourceVersion": expected, "finalizers": list(known)}
        else:
            body = get_model_deployment(custom, namespace, name)
            if body is None:
                return None
            meta = body["metadata"]
        if expected is not None and meta["resourceVersion"] != expected:
            raise ConflictError(f"{namespace}/{name} changed since it was read")
        finalizers = list(meta.get("finalizers") or [])
        if (finalizer in finalizers) == present:
            return None
        if present and meta.get("deletionTimestamp"):
            return None  # the API server refuses new finalizers on an object being deleted
        wanted = [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
        patch = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": meta["resourceVersion"],
            },
            {"op": "add", "path": "/metadata/finalizers", "value": wanted},
        ]
        try:
            stored = custom.patch_namespaced_custom_object(
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                name,
                patch,
                field_manager=FIELD_MANAGER,
                _content_type="application/json-patch+json",
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            # 422: the test failed (the object changed since it was read); 409: a
            # conflicting write. Both mean: read it again.
            if exc.status not in (409, 422):
                raise
            if expected is not None:
                raise ConflictError(f"{namespace}/{name} changed since it was read") from exc
        else:
            return _version(stored)
    raise RuntimeError(f"finalizer {finalizer} of {namespace}/{name}: the object kept changing")


def _version(stored: object) -> str | None:
    """The resourceVersion of an object as a patch returned it (a dict from CustomObjectsApi)."""
    if isinstance(stored, dict):
        version = (stored.get("metadata") or {}).get("resourceVersion")
        return str(version) if version is not None else None
    return None
