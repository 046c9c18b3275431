"""The canary Deployment manifest, built from the target's Deployment (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelguard.core.api import ModelVersion
from modelguard.core.canary import (
    MODEL_DEPLOYMENT_LABEL,
    Owner,
    build_canary,
    canary_name,
    label_value,
)

V2 = ModelVersion(image="reg.example/fraud:2.0", model_tag="v2")


def target(**labels: str) -> dict[str, Any]:
    pod_labels = {"app": "fraud", "pod-template-hash": "5d8f7", **labels}
    return {
        "metadata": {"name": "fraud-scorer", "namespace": "ml", "uid": "t-uid"},
        "spec": {
            "replicas": 9,
            "selector": {"matchLabels": {"app": "fraud"}},
            "minReadySeconds": 5,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {"a": "b"}},
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "envoy:1"},
                        {
                            "name": "server",
                            "image": "reg.example/fraud:1.0",
                            "env": [
                                {"name": "MODEL_VERSION", "value": "v1"},
                                {"name": "X", "value": "1"},
                            ],
                        },
                    ]
                },
            },
        },
    }


OWNER = Owner("modelguard.io/v1alpha1", "ModelDeployment", "fraud", "md-uid")


def build(body: dict[str, Any], replicas: int = 1) -> dict[str, Any]:
    return build_canary(
        body,
        owner=OWNER,
        version=V2,
        container="server",
        tag_env="MODEL_VERSION",
        replicas=replicas,
        track_label="modelguard.io/track",
    )


def test_canary_manifest_is_the_targets_template_with_the_candidate() -> None:
    source = target()
    out = build(source, replicas=2)
    assert out["metadata"]["name"] == "fraud-scorer-canary"
    assert out["metadata"]["namespace"] == "ml"
    assert out["spec"]["replicas"] == 2
    assert out["spec"]["minReadySeconds"] == 5
    assert out["spec"]["selector"] == {
        "matchLabels": {"app": "fraud", "modelguard.io/track": "canary"}
    }
    labels = out["spec"]["template"]["metadata"]["labels"]
    assert labels == {
        "app": "fraud",
        "modelguard.io/track": "canary",
        MODEL_DEPLOYMENT_LABEL: "fraud",
    }
    server = out["spec"]["template"]["spec"]["containers"][1]
    assert server["image"] == "reg.example/fraud:2.0"
    assert {e["name"]: e["value"] for e in server["env"]} == {"MODEL_VERSION": "v2", "X": "1"}
    assert out["spec"]["template"]["spec"]["containers"][0] == {
        "name": "sidecar",
        "image": "envoy:1",
    }
    assert out["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "modelguard.io/v1alpha1",
            "kind": "ModelDeployment",
            "name": "fraud",
            "uid": "md-uid",
            "controller": True,
        }
    ]
    # The target is only read.
    assert source == target()


def test_canary_selector_never_selects_the_targets_pods() -> None:
    out = build(target())
    selector = out["spec"]["selector"]["matchLabels"]
    target_pods = target()["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= target_pods.items()
    assert selector.items() <= out["spec"]["template"]["metadata"]["labels"].items()


def test_a_stable_track_label_on_the_target_becomes_canary() -> None:
    out = build(target(**{"modelguard.io/track": "stable"}))
    assert out["spec"]["template"]["metadata"]["labels"]["modelguard.io/track"] == "canary"


def test_template_changes_change_the_hash() -> None:
    a = build(target())["metadata"]["annotations"]["modelguard.io/template-hash"]
    changed = target()
    changed["spec"]["template"]["metadata"]["annotations"]["a"] = "c"
    assert build(changed)["metadata"]["annotations"]["modelguard.io/template-hash"] != a


def test_missing_container_is_refused() -> None:
    with pytest.raises(LookupError):
        build_canary(
            target(),
            owner=OWNER,
            version=V2,
            container="gpu",
            tag_env="MODEL_VERSION",
            replicas=1,
            track_label="modelguard.io/track",
        )


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=253))
def test_names_and_label_values_stay_within_limits(name: str) -> None:
    assert len(label_value(name)) <= 63
    assert len(canary_name(name)) <= 63
    assert canary_name(name).endswith("-canary")
    if len(name) <= 63:
        assert label_value(name) == name
