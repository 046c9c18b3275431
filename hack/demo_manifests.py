"""The demo's manifests, built in one place for every act (hack/demo.py, demo_canary.py).

JSON documents (kubectl applies them as it does YAML) built from dicts, so that no act
escapes PromQL braces inside an f-string of YAML by hand.
"""

from __future__ import annotations

import json
from typing import Any


def model_deployment(
    model: str,
    ns: str,
    version: str,
    prometheus_url: str,
    *,
    checks: list[dict[str, Any]],
    timing: dict[str, Any],
    canary: dict[str, Any] | None = None,
    kill_switch: bool = False,
) -> str:
    """A ModelDeployment guarding Deployment `model` at `version` ("v2": image tag 2.0,
    model tag v2). `timing` holds the analysis' interval, warmup and the like."""
    spec: dict[str, Any] = {
        "targetRef": {"name": model, "container": "server"},
        "version": {"image": f"registry.local/{model}:{version[1:]}.0", "modelTag": version},
        "analysis": {
            "prometheus": {"url": prometheus_url, "timeout": "2s"},
            "noData": "hold",
            **timing,
            "checks": checks,
        },
        "rollback": {"automatic": True, "cooldown": "0s"},
    }
    if canary is not None:
        spec["canary"] = canary
    if kill_switch:
        spec["killSwitch"] = {"enabled": False, "mode": "scaleToZero"}
    return _doc("modelguard.io/v1alpha1", "ModelDeployment", model, ns, spec)


def deployment(model: str, ns: str, replicas: int) -> str:
    """The model server's Deployment at v1 (kwok runs its pods: no image is pulled)."""
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": model}},
        "template": {
            "metadata": {"labels": {"app": model}},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": f"registry.local/{model}:1.0",
                        "env": [{"name": "MODEL_VERSION", "value": "v1"}],
                    }
                ]
            },
        },
    }
    return _doc("apps/v1", "Deployment", model, ns, spec)


def gauge_check(name: str, model: str, minimum: float) -> dict[str, Any]:
    """A raw PromQL check on the model's accuracy gauge (no template)."""
    return {
        "name": name,
        "query": f'model_accuracy{{model="{model}",version="{{{{version}}}}"}}',
        "min": minimum,
    }


def _doc(api_version: str, kind: str, name: str, ns: str, spec: dict[str, Any]) -> str:
    meta = {"name": name, "namespace": ns}
    return json.dumps({"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec})
