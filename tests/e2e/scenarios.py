"""Building blocks shared by the operator's end-to-end scenarios: one model Deployment
(``DEPLOYMENT``) guarded by one ModelDeployment (``MD``), the spec it starts from, and the
lookups and the "v1 known good" preamble most scenarios begin with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from modelguard_testenv import SyntheticModelExporter
from tests.e2e.cluster import Cluster

DEPLOYMENT = "fraud-scorer"
MD = "fraud"


def image(version: str) -> str:
    return f"registry.local/fraud-scorer:{version.lstrip('v')}.0"


def version(name: str) -> dict[str, str]:
    """A desired version: image and model tag move together."""
    return {"image": image(name), "modelTag": name}


def user_checks(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """A lastEvaluation's results of the spec's checks, without the built-in rollout one."""
    return [c for c in evaluation.get("checks", []) if c["name"] != "rollout"]


def accuracy_spec(
    prometheus_url: str,
    model: str,
    desired: str | None,
    *,
    interval: str = "1s",
    warmup: str = "2s",
    failure_threshold: int = 2,
    promote_after: str = "2s",
    no_data: str = "hold",
    automatic: bool = True,
    cooldown: str = "0s",
    extra_checks: list[dict[str, Any]] | None = None,
    kill_switch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ModelDeployment spec with one absolute accuracy check (min 0.9)."""
    spec: dict[str, Any] = {
        "targetRef": {"name": DEPLOYMENT, "container": "server"},
        "analysis": {
            "prometheus": {"url": prometheus_url, "timeout": "2s"},
            "interval": interval,
            "warmup": warmup,
            "failureThreshold": failure_threshold,
            "promoteAfter": promote_after,
            "noData": no_data,
            "checks": [
                {
                    "name": "accuracy",
                    "query": f'model_accuracy{{model="{model}",version="{{{{version}}}}"}}',
                    "min": 0.9,
                },
                *(extra_checks or []),
            ],
        },
        "rollback": {"automatic": automatic, "cooldown": cooldown},
    }
    if desired is not None:
        spec["version"] = version(desired)
    if kill_switch is not None:
        spec["killSwitch"] = kill_switch
    return spec


def v(name: str) -> tuple[str, str]:
    """(image, MODEL_VERSION) of a version as the Deployment shows it."""
    return image(name), name


def condition(cluster: Cluster, type_: str) -> dict[str, Any]:
    """The MD's condition of that type, which must be there."""
    found = cluster.condition(MD, type_)
    assert found is not None, f"no {type_} condition in {cluster.status(MD)}"
    return found


def events(cluster: Cluster, reason: str) -> list[dict[str, Any]]:
    """The MD's Events with that reason."""
    return [e for e in cluster.events(MD) if e["reason"] == reason]


def promote_v1(
    cluster: Cluster,
    exporter: SyntheticModelExporter,
    spec: dict[str, Any],
    accuracy: Mapping[str, float],
    *,
    replicas: int = 2,
) -> None:
    """The usual start: each version's accuracy set in the exporter (model = namespace),
    the Deployment on v1 and the MD with `spec` created, and v1 promoted to known good.
    The scenario then desires its next version."""
    for name, value in accuracy.items():
        exporter.set(cluster.namespace, name, accuracy=value)
    cluster.create_deployment(DEPLOYMENT, image("v1"), replicas=replicas, model_tag="v1")
    cluster.create_md(MD, spec)
    cluster.wait_promoted(MD, "v1")


def proportion_check(model: str) -> dict[str, Any]:
    """A proportion check: correct / labelled predictions of {{version}} against the
    stable's, counted since the version under test started (a canary: since its start)."""

    def counter(name: str) -> str:
        window = "{{sinceStart}}"
        return f'sum(increase({name}{{model="{model}",version="{{{{version}}}}"}}[{window}]))'

    return {
        "name": "accuracy-ab",
        "proportion": {
            "successQuery": counter("model_correct_predictions_total"),
            "totalQuery": counter("model_labeled_samples_total"),
            "margin": 0.02,
            "minSamples": 200,
        },
    }


def assert_worse_by_counts(check: dict[str, Any], candidate: float, stable: float) -> None:
    """proportion_check's Failed result when the version under test is truly `candidate`
    accurate and the stable `stable` (the exporter's counts): WorseThanMargin by the
    confidence sequence, with enough samples on both arms and an interval that holds the
    true difference and lies below -margin."""
    assert check["reason"] == "WorseThanMargin"
    evidence = check["proportion"]
    assert evidence["test"] == "sequential"
    assert evidence["total"] >= 200
    assert evidence["stableTotal"] >= 200
    assert evidence["low"] <= candidate - stable <= evidence["high"]
    assert evidence["high"] < -0.02
    assert check["value"] == pytest.approx(candidate, abs=0.05)
    assert check["baseline"] == pytest.approx(stable, abs=0.05)
