"""The `<target>-canary` Deployment, derived from the target's Deployment.

Every label of the target's pods is kept (Services, NetworkPolicies, PodMonitors and
dashboards that select on them must see the canary too: Flagger's relabelling is what
its users complained about, #522, #1257); only the track label is added, and the
selector is the target's plus that label, so the canary never selects the target's
pods. The owner is the ModelDeployment (controller=true): Kubernetes deletes the canary
with it, and Argo CD does not flag it as an orphan (it is not top-level).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from modelguard.core.api import GROUP, ModelDeploymentSpec, ModelVersion
from modelguard.core.workload import EnsureCanary

TRACK_CANARY = "canary"
MODEL_DEPLOYMENT_LABEL = f"{GROUP}/model-deployment"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
TEMPLATE_HASH_ANNOTATION = f"{GROUP}/template-hash"
CANARY_OF_ANNOTATION = f"{GROUP}/canary-of"
# The hash of the target's pod template the canary was derived from: when the target's
# template changes (anything but the version, which a canary never moves on it), the
# canary is derived again and its step starts over (as Flagger does on a new revision).
SOURCE_HASH_ANNOTATION = f"{GROUP}/source-hash"
# Set by the ReplicaSet controller per template; copied, it would tie the canary's pods
# to the target's ReplicaSet hash.
_POD_TEMPLATE_HASH = "pod-template-hash"
_LABEL_LIMIT = 63


def canary_name(target: str) -> str:
    """`<target>-canary`, shortened with a hash when the target's name is long: pod
    names add a ReplicaSet and a pod suffix, and hostnames stop at 63 characters."""
    name = f"{target}-canary"
    if len(name) <= 47:
        return name
    digest = hashlib.sha256(target.encode()).hexdigest()[:8]
    return f"{target[:31].rstrip('-.')}-{digest}-canary"


def label_value(value: str) -> str:
    """A label value of at most 63 characters: long ones keep a prefix and a hash."""
    if len(value) <= _LABEL_LIMIT:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[: _LABEL_LIMIT - 11].rstrip('-_.')}-{digest}"


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment that owns the canary."""

    api_version: str
    kind: str
    name: str
    uid: str

    def reference(self) -> dict[str, Any]:
        """The ownerReference to it (controller: Kubernetes deletes what it owns with it)."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
        }


def _set_version(container: dict[str, Any], version: ModelVersion, tag_env: str) -> None:
    if version.image is not None:
        container["image"] = version.image
    if version.model_tag is not None:
        env = [e for e in container.get("env") or [] if e.get("name") != tag_env]
        container["env"] = [*env, {"name": tag_env, "value": version.model_tag}]


def template_hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]


def build_canary(
    target: dict[str, Any],
    *,
    owner: Owner,
    version: ModelVersion,
    container: str | None,
    tag_env: str,
    replicas: int,
    track_label: str,
) -> dict[str, Any]:
    """The canary Deployment for `target` (a Deployment as a camelCase dict). Raises
    LookupError when the target has no such container."""
    meta = target["metadata"]
    spec = target["spec"]
    template = copy.deepcopy(spec["template"])
    template_meta = template.setdefault("metadata", {})
    labels = dict(template_meta.get("labels") or {})
    labels.pop(_POD_TEMPLATE_HASH, None)
    labels[track_label] = TRACK_CANARY
    labels[MODEL_DEPLOYMENT_LABEL] = label_value(owner.name)
    template_meta["labels"] = labels
    containers = template.get("spec", {}).get("containers") or []
    chosen = next((c for c in containers if container is None or c.get("name") == container), None)
    if chosen is None:
        raise LookupError(f"Deployment {meta['name']!r} has no container {container!r}")
    _set_version(chosen, version, tag_env)

    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), track_label: TRACK_CANARY}
    own_labels = {
        MANAGED_BY_LABEL: "modelguard",
        MODEL_DEPLOYMENT_LABEL: label_value(owner.name),
        track_label: TRACK_CANARY,
    }
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": canary_name(meta["name"]),
            "namespace": meta.get("namespace"),
            "labels": own_labels,
            "annotations": {
                CANARY_OF_ANNOTATION: meta["name"],
                TEMPLATE_HASH_ANNOTATION: template_hash(template),
                SOURCE_HASH_ANNOTATION: template_hash(spec["template"]),
            },
            "ownerReferences": [owner.reference()],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    }
    for kept in ("minReadySeconds", "progressDeadlineSeconds", "strategy"):
        if kept in spec:
            body["spec"][kept] = copy.deepcopy(spec[kept])
    return body


def derived_from(canary: dict[str, Any], target: dict[str, Any]) -> bool:
    """Whether `canary` was built from the target's pod template as it is now."""
    annotations = canary.get("metadata", {}).get("annotations") or {}
    return bool(
        annotations.get(SOURCE_HASH_ANNOTATION) == template_hash(target["spec"]["template"])
    )


def build_for(
    target: dict[str, Any], spec: ModelDeploymentSpec, owner: Owner, action: EnsureCanary
) -> dict[str, Any]:
    """build_canary() with what a ModelDeployment's spec and an EnsureCanary say."""
    assert spec.canary is not None
    return build_canary(
        target,
        owner=owner,
        version=action.version,
        container=spec.target_ref.container,
        tag_env=action.tag_env,
        replicas=action.replicas,
        track_label=spec.canary.track_label,
    )
