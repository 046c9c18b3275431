"""End-to-end: what the CRD lets into the real API server, and what the operator does with
an object the schema cannot judge (InvalidSpec).

Every rejection must name the offending field, so that whoever runs `kubectl apply` (or
reads an Argo CD sync error) knows what to fix without reading the CRD.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from modelguard.core import api
from modelguard_testenv import PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from modelguard_testenv.recording import as_json
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import DEPLOYMENT, MD, accuracy_spec, image

pytestmark = pytest.mark.e2e

PROMETHEUS = "http://prometheus.monitoring:9090"

Spec = dict[str, Any]


def valid_spec() -> Spec:
    """A complete, valid spec; each case below breaks exactly one thing in it."""
    spec = accuracy_spec(PROMETHEUS, "fraud", "v2")
    spec["analysis"]["checks"].append(
        {
            "name": "accuracy-vs-stable",
            "query": 'model_accuracy{model="fraud",version="{{version}}"}',
            "baselineQuery": 'model_accuracy{model="fraud",version="{{stableVersion}}"}',
            "maxDrop": 0.02,
            "samplesQuery": 'sum(model_labeled_samples_total{version="{{version}}"})',
            "minSamples": 500,
        }
    )
    spec["analysis"]["checks"].append(
        {
            "name": "accuracy-ab",
            "proportion": {
                "successQuery": 'sum(increase(ok_total{version="{{version}}"}[{{sinceStart}}]))',
                "totalQuery": 'sum(increase(all_total{version="{{ version }}"}[{{sinceStart}}]))',
                "margin": 0.02,
                "alpha": 0.05,
            },
        }
    )
    spec["killSwitch"] = {
        "enabled": False,
        "mode": "fallback",
        "fallback": {"serviceName": "fraud-scorer", "selector": {"app": "fraud-rules"}},
    }
    spec["notifications"] = {
        "receivers": [
            {"name": "oncall", "urlSecretRef": {"name": "hooks", "key": "oncall"}},
            {
                "name": "chat",
                "format": "slack",
                "urlSecretRef": {"name": "hooks", "key": "chat"},
                "decisions": ["rolledBack", "killSwitchEngaged"],
            },
        ]
    }
    return spec


def _del(*path: str) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _set(value: Any, *path: str | int) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        node: Any = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _all(*mutations: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        for m in mutations:
            m(spec)

    return mutate


def _first_check(**fields: Any) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        spec["analysis"]["checks"][0].update(fields)

    return mutate


def _duplicate_check(spec: Spec) -> None:
    spec["analysis"]["checks"][1]["name"] = "accuracy"


def _proportion(**fields: Any) -> Callable[[Spec], None]:
    """Change the proportion check (the third): its own fields, "proportion.x" for its
    proportion block's."""

    def mutate(spec: Spec) -> None:
        check = spec["analysis"]["checks"][2]
        for key, value in fields.items():
            if key.startswith("proportion."):
                check["proportion"][key.removeprefix("proportion.")] = value
            else:
                check[key] = value

    return mutate


def _receiver(**fields: Any) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        spec["notifications"]["receivers"][1].update(fields)

    return mutate


def _kill_switch(**fields: Any) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        spec["killSwitch"] = fields

    return mutate


# (id, how to break the spec, strings the API server's message must contain: the field
# path first, then what is wrong with it)
INVALID: list[tuple[str, Callable[[Spec], None], tuple[str, ...]]] = [
    ("missing-targetRef", _del("targetRef"), ("spec.targetRef", "Required value")),
    (
        "uppercase-targetRef-name",
        _set("Fraud-Scorer", "targetRef", "name"),
        ("spec.targetRef.name", "should match"),
    ),
    (
        "version-without-image-or-tag",
        _set({"modelTagEnv": "MODEL_VERSION"}, "version"),
        ("spec.version", "version needs an image, a modelTag, or both"),
    ),
    (
        "check-min-above-max",
        _first_check(min=0.9, max=0.5),
        ("spec.analysis.checks[0].min", "min must be less than or equal to max"),
    ),
    (
        "check-without-threshold",
        _set([{"name": "accuracy", "query": "up"}], "analysis", "checks"),
        ("spec.analysis.checks[0]", "a check needs at least one of min, max"),
    ),
    (
        "maxDrop-without-baselineQuery",
        _first_check(maxDrop=0.02),
        ("spec.analysis.checks[0].baselineQuery", "maxDrop/maxIncrease and baselineQuery"),
    ),
    (
        "minSamples-without-samplesQuery",
        _first_check(minSamples=500),
        ("spec.analysis.checks[0].samplesQuery", "minSamples and samplesQuery go together"),
    ),
    (
        "query-and-proportion",
        _proportion(query="up"),
        (
            "spec.analysis.checks[2]",
            "a check needs exactly one of query, proportion and templateRef",
        ),
    ),
    (
        "proportion-with-min",
        _proportion(min=0.9),
        ("spec.analysis.checks[2]", "a proportion check takes no min, max"),
    ),
    (
        "proportion-margin-zero",
        _proportion(**{"proportion.margin": 0}),
        ("spec.analysis.checks[2].proportion.margin", "should be greater than 0"),
    ),
    (
        "proportion-alpha-half",
        _proportion(**{"proportion.alpha": 0.5}),
        ("spec.analysis.checks[2].proportion.alpha", "should be less than 0.5"),
    ),
    (
        "proportion-query-without-version",
        _proportion(**{"proportion.totalQuery": 'sum(labeled_total{version="v1"})'}),
        (
            "spec.analysis.checks[2].proportion.totalQuery",
            "must use {{version}}: it is rendered once per arm",
        ),
    ),
    (
        "duplicate-check-names",
        _duplicate_check,
        ("spec.analysis.checks[1]", "Duplicate value", "accuracy"),
    ),
    ("no-checks", _set([], "analysis", "checks"), ("spec.analysis.checks", "at least 1")),
    (
        "interval-below-1s",
        _set("500ms", "analysis", "interval"),
        ("spec.analysis.interval", "must be at least 1s"),
    ),
    (
        "duration-in-words",
        _set("ten seconds", "analysis", "warmup"),
        ("spec.analysis.warmup", "should match"),
    ),
    (
        "failureThreshold-zero",
        _set(0, "analysis", "failureThreshold"),
        ("spec.analysis.failureThreshold", "greater than or equal to 1"),
    ),
    (
        "noData-not-in-enum",
        _set("maybe", "analysis", "noData"),
        ("spec.analysis.noData", "Unsupported value", '"maybe"', '"hold"'),
    ),
    (
        "prometheus-url-without-scheme",
        _set("prometheus:9090", "analysis", "prometheus", "url"),
        ("spec.analysis.prometheus.url", "should match"),
    ),
    (
        "kill-switch-without-reason",
        _kill_switch(enabled=True, mode="scaleToZero"),
        ("spec.killSwitch.reason", "reason is required when the kill switch is enabled"),
    ),
    (
        "kill-switch-blank-reason",
        _kill_switch(enabled=True, mode="scaleToZero", reason="   "),
        ("spec.killSwitch.reason", "reason is required when the kill switch is enabled"),
    ),
    (
        "fallback-mode-without-fallback",
        _kill_switch(enabled=False, mode="fallback"),
        ("spec.killSwitch.fallback", "mode fallback needs fallback.serviceName"),
    ),
    (
        "kill-switch-mode-not-in-enum",
        _kill_switch(enabled=True, mode="off", reason="incident"),
        ("spec.killSwitch.mode", "Unsupported value", '"off"'),
    ),
    (
        "duplicate-receiver-names",
        _receiver(name="oncall"),
        ("spec.notifications.receivers[1]", "Duplicate value", "oncall"),
    ),
    (
        "receiver-format-not-in-enum",
        _receiver(format="teams"),
        ("spec.notifications.receivers[1].format", "Unsupported value", '"teams"'),
    ),
    (
        "receiver-decision-not-in-enum",
        _receiver(decisions=["deployed"]),
        ("spec.notifications.receivers[1].decisions[0]", "Unsupported value", '"deployed"'),
    ),
    (
        "receiver-decision-twice",
        _receiver(decisions=["rolledBack", "rolledBack"]),
        ("spec.notifications.receivers[1].decisions[1]", "Duplicate value"),
    ),
    (
        "receiver-url-in-the-spec",
        _receiver(urlSecretRef=None, url="https://hooks.example.com/x"),
        ("spec.notifications.receivers[1].urlSecretRef", "Required value"),
    ),
    (
        "canary-steps-descending",
        _set({"steps": [50, 20]}, "canary"),
        ("spec.canary.steps", "steps must be strictly ascending"),
    ),
    (
        "canary-step-repeated",
        _set({"steps": [20, 20]}, "canary"),
        ("spec.canary.steps[1]", "Duplicate value"),
    ),
    (
        "canary-step-100",
        _set({"steps": [20, 100]}, "canary"),
        ("spec.canary.steps[1]", "less than or equal to 99"),
    ),
    (
        "canary-httpRoute-without-route",
        _set({"steps": [20], "traffic": {"mode": "httpRoute"}}, "canary"),
        ("spec.canary.traffic.httpRoute", "mode httpRoute needs httpRoute.name"),
    ),
    (
        "canary-without-analysis",
        _all(_set({"steps": [20]}, "canary"), _del("analysis")),
        ("spec.canary", "canary needs version and analysis"),
    ),
]


def _body(name: str, namespace: str, spec: Spec) -> dict[str, Any]:
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": api.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _create(cluster: Cluster, spec: Spec, **kwargs: Any) -> Any:
    return cluster.custom.create_namespaced_custom_object(
        api.GROUP,
        api.VERSION,
        cluster.namespace,
        api.PLURAL,
        _body(MD, cluster.namespace, spec),
        **kwargs,
    )


def _rejection(cluster: Cluster, spec: Spec, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(k8s.ApiException) as info:
        _create(cluster, spec, **kwargs)
    assert info.value.body is not None, "the API server said nothing about the rejection"
    status = json.loads(info.value.body)
    return int(info.value.status), str(status.get("message", ""))


def _assert_nothing_created(cluster: Cluster) -> None:
    listed = as_json(
        cluster.custom.list_namespaced_custom_object(
            api.GROUP, api.VERSION, cluster.namespace, api.PLURAL
        )
    )
    assert listed["items"] == []


def test_valid_spec_is_accepted_strictly(cluster: Cluster) -> None:
    created = _create(cluster, valid_spec(), field_validation="Strict")
    assert created["spec"]["analysis"]["checks"][1]["minSamples"] == 500
    assert cluster.md(MD)["spec"] == valid_spec()  # nothing pruned, nothing defaulted


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_spec_is_rejected_naming_the_field(
    cluster: Cluster, mutate: Callable[[Spec], None], expected: tuple[str, ...]
) -> None:
    spec = copy.deepcopy(valid_spec())
    mutate(spec)
    code, message = _rejection(cluster, spec)
    assert code == 422, message
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"
    _assert_nothing_created(cluster)


def test_unknown_field_is_rejected_by_strict_field_validation(cluster: Cluster) -> None:
    spec = valid_spec()
    spec["analysis"]["intervall"] = "1s"  # a typo a user would otherwise never notice
    code, message = _rejection(cluster, spec, field_validation="Strict")
    assert code == 400, message
    assert 'unknown field "spec.analysis.intervall"' in message
    _assert_nothing_created(cluster)


def test_kubectl_strict_validation_names_the_field(cluster: Cluster) -> None:
    """What a user sees: `kubectl create --validate=strict` with two mistakes at once."""
    spec = valid_spec()
    spec["rollbak"] = {"automatic": False}
    spec["analysis"]["checks"][0].update(min=0.9, max=0.5)
    manifest = yaml.safe_dump(_body(MD, cluster.namespace, spec))
    unknown = cluster.control_plane.kubectl(
        "create", "--validate=strict", "-f", "-", input=manifest, check=False
    )
    assert unknown.returncode != 0
    assert 'unknown field "spec.rollbak"' in unknown.stderr, unknown.stderr

    del spec["rollbak"]
    manifest = yaml.safe_dump(_body(MD, cluster.namespace, spec))
    invalid = cluster.control_plane.kubectl(
        "create", "--validate=strict", "-f", "-", input=manifest, check=False
    )
    assert invalid.returncode != 0
    assert "spec.analysis.checks[0].min" in invalid.stderr, invalid.stderr
    assert "min must be less than or equal to max" in invalid.stderr
    _assert_nothing_created(cluster)


# ------------------------------------------------------------------ InvalidSpec


def _invalid_spec_events(cluster: Cluster) -> list[dict[str, Any]]:
    return [e for e in cluster.events(MD) if e["reason"] == "InvalidSpec"]


def test_unknown_placeholder_sets_invalid_spec_once_and_fixing_clears_it(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
) -> None:
    """`{{versoin}}` passes the schema (a PromQL string is free text) but would match
    nothing forever: the operator refuses it loudly, once, and does not crash-loop."""
    model = cluster.namespace
    exporter.set(model, "v1", accuracy=0.95)
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1")
    spec = accuracy_spec(prometheus.url, model, "v1")
    good_query = spec["analysis"]["checks"][0]["query"]
    spec["analysis"]["checks"][0]["query"] = good_query.replace("{{version}}", "{{versoin}}")
    cluster.create_md(MD, spec)

    invalid = cluster.wait(
        lambda: (c := cluster.condition(MD, "InvalidSpec")) and c["status"] == "True" and c,
        timeout=15,
        what="InvalidSpec=True",
    )
    assert "'accuracy'" in invalid["message"]
    assert "versoin" in invalid["message"]
    assert invalid["observedGeneration"] == cluster.md(MD)["metadata"]["generation"]
    status = cluster.status(MD)
    assert status["phase"] == "Invalid"
    ready = cluster.condition(MD, "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    assert ready["reason"] == "InvalidSpec"
    # Nothing was done to the Deployment on the strength of a spec it cannot act on.
    assert cluster.running_version(DEPLOYMENT) == (image("v1"), "v1")

    cluster.wait(lambda: len(_invalid_spec_events(cluster)) >= 1, timeout=10, what="Event")
    # Other activity keeps kicking reconciles (status writes, Deployment updates, a
    # scale by a user): still exactly one Event, not one per reconcile.
    cluster.scale(DEPLOYMENT, 3)
    time.sleep(5)
    events = _invalid_spec_events(cluster)
    assert len(events) == 1, events
    assert events[0]["type"] == "Warning"
    assert "'accuracy'" in events[0]["message"]
    assert "versoin" in events[0]["message"]
    assert cluster.status(MD)["phase"] == "Invalid"

    assert operator.running, "the operator process died"
    log = operator.log_file.read_text()
    assert "Traceback" not in log, operator.log_tail(80)
    assert "Reconcile of" not in log, operator.log_tail(80)  # no failed-reconcile retries

    # The fix clears InvalidSpec and the resource goes on to guard v1.
    checks = cluster.md(MD)["spec"]["analysis"]["checks"]
    checks[0]["query"] = good_query
    cluster.patch_spec(MD, {"analysis": {"checks": checks}})
    cluster.wait(
        lambda: (c := cluster.condition(MD, "InvalidSpec")) and c["status"] == "False" and c,
        timeout=15,
        what="InvalidSpec=False",
    )
    cluster.wait(
        lambda: cluster.status(MD).get("phase") == "Healthy",
        timeout=20,
        what="phase Healthy once v1 passes",
    )
    assert len(_invalid_spec_events(cluster)) == 1
    assert "Traceback" not in operator.log_file.read_text()


def test_kill_switch_is_obeyed_even_when_the_rest_of_the_spec_is_invalid(
    cluster: Cluster,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
) -> None:
    """The kill switch wins over everything: a PromQL typo must not keep an SRE from
    stopping the model, nor from getting the exact replica count back."""
    cluster.create_deployment(DEPLOYMENT, image("v1"), model_tag="v1", replicas=4)
    spec = accuracy_spec(prometheus.url, cluster.namespace, "v1")
    query = spec["analysis"]["checks"][0]["query"]
    spec["analysis"]["checks"][0]["query"] = query.replace("{{version}}", "{{versoin}}")
    cluster.create_md(MD, spec)
    cluster.wait(lambda: cluster.status(MD).get("phase") == "Invalid", timeout=15, what="Invalid")

    cluster.patch_spec(MD, {"killSwitch": {"enabled": True, "reason": "INC-9"}})
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 0, timeout=10, what="scaled to 0")
    status = cluster.status(MD)
    assert status["phase"] == "Killed"
    assert status["killSwitch"]["saved"]["replicas"] == 4
    assert (cluster.condition(MD, "InvalidSpec") or {}).get("status") == "True"
    assert (cluster.condition(MD, "KillSwitchEngaged") or {}).get("status") == "True"

    cluster.patch_spec(MD, {"killSwitch": {"enabled": False, "reason": ""}})
    cluster.wait(lambda: cluster.replicas(DEPLOYMENT) == 4, timeout=10, what="4 restored")
    cluster.wait(
        lambda: cluster.status(MD).get("phase") == "Invalid", timeout=10, what="back to Invalid"
    )
    assert not cluster.status(MD)["killSwitch"]["engaged"]
