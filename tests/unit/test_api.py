"""The ModelDeployment API models: parsing, defaults, and every cross-field rule.

The rules exist twice on purpose (CEL in the CRD for `kubectl apply`, pydantic for
objects an older CRD admitted); test_every_cel_rule_has_the_same_pydantic_rule keeps
the two in step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from modelguard import crdgen
from modelguard.core.api import (
    Check,
    KillSwitchMode,
    ModelDeployment,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
    NoDataPolicy,
    Phase,
    ProportionTest,
    QuarantinedVersion,
    RollbackRequest,
    TrafficMode,
    VersionStatus,
)
from modelguard.core.statistics import Direction

Raw = dict[str, Any]


def base() -> Raw:
    """A complete, valid spec as it appears on the wire."""
    return {
        "targetRef": {"name": "fraud-scorer", "container": "server"},
        "version": {"image": "registry.example/fraud-scorer:2.4.0", "modelTag": "2026-11-20"},
        "analysis": {
            "prometheus": {
                "url": "http://prometheus:9090",
                "timeout": "10s",
                "authSecretRef": {"name": "prom-token"},
            },
            "interval": "30s",
            "warmup": "2m",
            "failureThreshold": 3,
            "promoteAfter": "10m",
            "noData": "hold",
            "checks": [
                {
                    "name": "accuracy",
                    "query": 'avg_over_time(model_accuracy{version="{{version}}"}[5m])',
                    "min": 0.92,
                },
                {
                    "name": "accuracy-vs-stable",
                    "query": 'model_accuracy{version="{{version}}"}',
                    "baselineQuery": 'model_accuracy{version="{{stableVersion}}"}',
                    "maxDrop": 0.02,
                    "samplesQuery": 'sum(increase(model_labeled_total{version="{{version}}"}[1h]))',
                    "minSamples": 500,
                },
            ],
        },
        "rollback": {"automatic": True, "cooldown": "10m"},
        "killSwitch": {
            "enabled": False,
            "mode": "scaleToZero",
            "fallback": {"serviceName": "fraud-scorer", "selector": {"app": "fraud-rules"}},
            "reason": "",
        },
    }


def parse(raw: Raw) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(raw)


def errors_of(raw: Raw) -> list[Any]:
    with pytest.raises(pydantic.ValidationError) as info:
        parse(raw)
    return list(info.value.errors())


# --------------------------------------------------------------------------- parsing


def test_full_spec_parses_with_its_values() -> None:
    spec = parse(base())
    assert spec.target_ref.name == "fraud-scorer"
    assert spec.target_ref.container == "server"
    assert spec.version is not None
    assert spec.version.image == "registry.example/fraud-scorer:2.4.0"
    assert spec.version.model_tag == "2026-11-20"
    assert spec.analysis is not None
    assert spec.analysis.prometheus.auth_secret_ref is not None
    assert spec.analysis.prometheus.auth_secret_ref.key == "token"
    assert [c.name for c in spec.analysis.checks] == ["accuracy", "accuracy-vs-stable"]
    relative = spec.analysis.checks[1]
    assert (relative.max_drop, relative.min_samples) == (0.02, 500)
    assert spec.kill_switch.fallback is not None
    assert spec.kill_switch.fallback.selector == {"app": "fraud-rules"}


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = parse({"targetRef": {"name": "fraud-scorer"}})
    assert spec.target_ref.container is None
    assert spec.version is None  # watch mode
    assert spec.analysis is None  # kill switch only
    assert spec.rollback.automatic is True
    assert spec.rollback.cooldown == "10m"
    assert spec.kill_switch.enabled is False
    assert spec.kill_switch.mode is KillSwitchMode.SCALE_TO_ZERO
    assert spec.kill_switch.reason == ""


def test_analysis_defaults() -> None:
    spec = parse(
        {
            "targetRef": {"name": "m"},
            "version": {"modelTag": "v1"},
            "analysis": {
                "prometheus": {"url": "http://p:9090"},
                "checks": [{"name": "a", "query": "up", "min": 1}],
            },
        }
    )
    assert spec.version is not None
    assert spec.version.model_tag_env == "MODEL_VERSION"
    assert spec.version.image is None
    analysis = spec.analysis
    assert analysis is not None
    assert (analysis.interval, analysis.warmup, analysis.promote_after) == ("30s", "2m", "10m")
    assert analysis.failure_threshold == 3
    assert analysis.no_data is NoDataPolicy.HOLD
    assert analysis.prometheus.timeout == "10s"
    assert analysis.prometheus.auth_secret_ref is None


def test_snake_case_names_are_accepted_too() -> None:
    spec = ModelDeploymentSpec.model_validate(
        {"target_ref": {"name": "m"}, "kill_switch": {"enabled": True, "reason": "incident"}}
    )
    assert spec.kill_switch.enabled


def test_spec_is_immutable() -> None:
    spec = parse(base())
    with pytest.raises(pydantic.ValidationError):
        spec.rollback.automatic = False  # type: ignore[misc]


def test_whole_object_parses_and_ignores_unknown_metadata() -> None:
    obj = ModelDeployment.model_validate(
        {
            "apiVersion": "modelguard.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "fraud", "namespace": "ml", "generation": 4},
            "spec": base(),
            "status": {"phase": "Healthy", "consecutiveFailures": 2, "futureField": 1},
        }
    )
    assert obj.metadata["generation"] == 4
    assert obj.status.phase is Phase.HEALTHY
    assert obj.status.consecutive_failures == 2


def test_status_round_trips_through_the_wire_form() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    v1 = ModelVersion(image="reg/m:1", model_tag="v1")
    status = ModelDeploymentStatus(
        phase=Phase.ROLLED_BACK,
        current_version=VersionStatus.of(v1, now),
        known_good_versions=[VersionStatus.of(v1, now)],
        quarantined_versions=[
            QuarantinedVersion.quarantine(ModelVersion(model_tag="v2"), now, "accuracy 0.5")
        ],
        consecutive_failures=1,
    )
    wire = status.to_wire()
    assert wire["currentVersion"] == {
        "image": "reg/m:1",
        "modelTag": "v1",
        "since": "2026-01-02T03:04:05Z",
        "name": "v1",  # shown for printer columns and humans
    }
    assert "pendingAction" not in wire  # None is left out, not written as null
    assert ModelDeploymentStatus.model_validate(wire) == status


@pytest.mark.parametrize(
    ("image", "tag", "name"),
    [
        pytest.param("reg.example/fraud:2.4.0", None, "2.4.0", id="image-tag"),
        pytest.param("reg.example:5000/fraud:2.4.0", None, "2.4.0", id="registry-port"),
        pytest.param("reg.example:5000/fraud", None, "reg.example:5000/fraud", id="no-tag"),
        pytest.param("reg/fraud@sha256:abc", None, "sha256:abc", id="digest"),
        pytest.param("reg/fraud:1.0", "2026-11-20", "2026-11-20", id="model-tag-wins"),
        pytest.param(None, "v7", "v7", id="tag-only"),
        pytest.param(None, None, "unknown", id="nothing"),
    ],
)
def test_version_name(image: str | None, tag: str | None, name: str) -> None:
    assert ModelVersion(image=image, model_tag=tag).name == name


def test_version_identity_is_image_and_tag() -> None:
    v = ModelVersion(image="i:1", model_tag="t")
    assert v.same(VersionStatus(image="i:1", model_tag="t", since=datetime.now(UTC)))
    assert not v.same(ModelVersion(image="i:2", model_tag="t"))
    assert not v.same(ModelVersion(image="i:1"))
    assert not v.same(None)


def test_rollback_request_needs_an_id() -> None:
    assert RollbackRequest.model_validate({"id": "r1", "to": "v1"}).to == "v1"
    with pytest.raises(pydantic.ValidationError):
        RollbackRequest.model_validate({"id": ""})


# --------------------------------------------------------------------------- rules


Mutation = Callable[[Raw], None]


def _set(path: str, value: Any) -> Mutation:
    """Set a dotted path ("analysis.checks.0.min"); value DELETE removes the key."""

    def mutate(raw: Raw) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return mutate


DELETE = object()


def _all(*mutations: Mutation) -> Mutation:
    def mutate(raw: Raw) -> None:
        for m in mutations:
            m(raw)

    return mutate


PROPORTION: Raw = {
    "name": "accuracy-ab",
    "proportion": {
        "successQuery": 'sum(increase(model_correct_total{version="{{version}}"}[{{sinceStart}}]))',
        "totalQuery": 'sum(increase(model_labeled_total{version="{{ version }}"}[{{sinceStart}}]))',
        "margin": 0.02,
    },
}


def _proportion(**fields: Any) -> Mutation:
    """Add a proportion check (as PROPORTION, with `fields` merged into it, a
    "proportion.x" key into its proportion block; value DELETE removes the key)."""

    def mutate(raw: Raw) -> None:
        check = copy.deepcopy(PROPORTION)
        for key, value in fields.items():
            node, name = (
                (check["proportion"], key[11:]) if key.startswith("proportion.") else (check, key)
            )
            if value is DELETE:
                del node[name]
            else:
                node[name] = value
        raw["analysis"]["checks"].append(check)

    return mutate


def _invalid(*mutations: Mutation) -> Raw:
    raw = copy.deepcopy(base())
    _all(*mutations)(raw)
    return raw


RULES: list[tuple[str, Mutation, str]] = [
    # (id, mutation of the valid base spec, message pydantic must give)
    (
        "version-needs-image-or-tag",
        _set("version", {"modelTagEnv": "MODEL"}),
        "version needs an image, a modelTag, or both",
    ),
    ("check-needs-a-bound", _set("analysis.checks.0.min", DELETE), "a check needs at least one"),
    (
        "min-above-max",
        _all(_set("analysis.checks.0.min", 0.9), _set("analysis.checks.0.max", 0.8)),
        "min must be less than or equal to max",
    ),
    (
        "max-drop-without-baseline-query",
        _set("analysis.checks.1.baselineQuery", DELETE),
        "maxDrop/maxIncrease and baselineQuery go together",
    ),
    (
        "max-increase-without-baseline-query",
        _all(
            _set("analysis.checks.1.baselineQuery", DELETE),
            _set("analysis.checks.1.maxDrop", DELETE),
            _set("analysis.checks.1.maxIncrease", 0.1),
        ),
        "maxDrop/maxIncrease and baselineQuery go together",
    ),
    (
        "baseline-query-without-relative-bound",
        _set("analysis.checks.0.baselineQuery", "x"),
        "maxDrop/maxIncrease and baselineQuery go together",
    ),
    (
        "min-samples-without-samples-query",
        _set("analysis.checks.1.samplesQuery", DELETE),
        "minSamples and samplesQuery go together",
    ),
    (
        "samples-query-without-min-samples",
        _set("analysis.checks.1.minSamples", DELETE),
        "minSamples and samplesQuery go together",
    ),
    (
        "kill-switch-without-reason",
        _set("killSwitch.enabled", True),
        "reason is required when the kill switch is enabled",
    ),
    (
        "kill-switch-blank-reason",
        _all(_set("killSwitch.enabled", True), _set("killSwitch.reason", "   ")),
        "reason is required when the kill switch is enabled",
    ),
    (
        "fallback-mode-without-fallback",
        _all(_set("killSwitch.mode", "fallback"), _set("killSwitch.fallback", DELETE)),
        "mode fallback needs fallback.serviceName and fallback.selector",
    ),
    (
        "duplicate-check-names",
        _set("analysis.checks.1.name", "accuracy"),
        "check names must be unique",
    ),
    ("interval-below-1s", _set("analysis.interval", "999ms"), "must be at least 1s"),
    ("interval-zero", _set("analysis.interval", "0s"), "must be at least 1s"),
    ("timeout-below-1s", _set("analysis.prometheus.timeout", "500ms"), "must be at least 1s"),
    ("bad-interval", _set("analysis.interval", "30"), "String should match pattern"),
    ("bad-warmup", _set("analysis.warmup", "2 minutes"), "String should match pattern"),
    ("bad-cooldown", _set("rollback.cooldown", "1d"), "String should match pattern"),
    ("bad-promote-after", _set("analysis.promoteAfter", "-1m"), "String should match pattern"),
    ("threshold-zero", _set("analysis.failureThreshold", 0), "greater than or equal to 1"),
    ("threshold-huge", _set("analysis.failureThreshold", 101), "less than or equal to 100"),
    ("negative-max-drop", _set("analysis.checks.1.maxDrop", -0.1), "greater than or equal to 0"),
    ("negative-min-samples", _set("analysis.checks.1.minSamples", -1), "greater than or equal"),
    ("no-checks", _set("analysis.checks", []), "at least 1 item"),
    ("unknown-no-data", _set("analysis.noData", "ignore"), "'hold', 'fail' or 'pass'"),
    ("unknown-mode", _set("killSwitch.mode", "pause"), "'scaleToZero' or 'fallback'"),
    ("url-without-scheme", _set("analysis.prometheus.url", "prometheus:9090"), "pattern"),
    ("bad-target-name", _set("targetRef.name", "Fraud_Scorer"), "pattern"),
    ("bad-check-name", _set("analysis.checks.0.name", "Accuracy"), "pattern"),
    ("empty-fallback-selector", _set("killSwitch.fallback.selector", {}), "at least 1 item"),
    ("unknown-field", _set("analysis.checks.0.treshold", 1), "Extra inputs are not permitted"),
    ("unknown-top-level-field", _set("replicas", 3), "Extra inputs are not permitted"),
    ("no-target", _set("targetRef", DELETE), "Field required"),
    (
        "query-and-proportion",
        _proportion(query="up"),
        "a check needs exactly one of query, proportion and templateRef",
    ),
    ("neither-query-nor-proportion", _set("analysis.checks.0.query", DELETE), "exactly one of"),
    ("proportion-with-min", _proportion(min=0.9), "a proportion check takes no min"),
    (
        "proportion-with-samples-query",
        _proportion(samplesQuery="x", minSamples=5),
        "a proportion check takes no min",
    ),
    ("proportion-margin-zero", _proportion(**{"proportion.margin": 0}), "greater than 0"),
    ("proportion-margin-above-1", _proportion(**{"proportion.margin": 1.5}), "less than or equal"),
    ("proportion-without-margin", _proportion(**{"proportion.margin": DELETE}), "Field required"),
    ("proportion-alpha-zero", _proportion(**{"proportion.alpha": 0}), "greater than 0"),
    ("proportion-alpha-half", _proportion(**{"proportion.alpha": 0.5}), "less than 0.5"),
    ("proportion-unknown-test", _proportion(**{"proportion.test": "bayes"}), "'sequential'"),
    ("proportion-unknown-direction", _proportion(**{"proportion.direction": "up"}), "'decrease'"),
    (
        "proportion-expected-zero",
        _proportion(**{"proportion.expectedSamples": 0}),
        "greater than or equal to 1",
    ),
    (
        "proportion-query-without-version",
        _proportion(**{"proportion.totalQuery": 'sum(model_labeled_total{version="v1"})'}),
        "must use {{version}}: it is rendered once per arm",
    ),
    (
        "proportion-negative-min-samples",
        _proportion(**{"proportion.minSamples": -1}),
        "greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(("mutation", "message"), [pytest.param(*r[1:], id=r[0]) for r in RULES])
def test_rule(mutation: Mutation, message: str) -> None:
    errors = errors_of(_invalid(mutation))
    assert len(errors) == 1, errors  # the mutation breaks exactly this rule
    assert message in errors[0]["msg"]


def test_base_spec_is_valid() -> None:
    """Without this, every test_rule case could pass for the wrong reason."""
    parse(base())


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param(_set("analysis.interval", "1s"), id="interval-exactly-1s"),
        pytest.param(_set("analysis.prometheus.timeout", "1000ms"), id="timeout-1000ms"),
        pytest.param(_set("analysis.warmup", "0s"), id="warmup-zero"),
        pytest.param(_set("rollback.cooldown", "0s"), id="cooldown-zero"),
        pytest.param(_set("version", {"image": "reg/m:1"}), id="image-only"),
        pytest.param(_set("version", {"modelTag": "v1"}), id="tag-only"),
        pytest.param(
            _all(_set("analysis.checks.0.min", 0.9), _set("analysis.checks.0.max", 0.9)),
            id="min-equals-max",
        ),
        pytest.param(
            _all(_set("killSwitch.enabled", True), _set("killSwitch.reason", "INC-1")),
            id="kill-switch-with-reason",
        ),
        pytest.param(_set("killSwitch.fallback", DELETE), id="scale-to-zero-without-fallback"),
        pytest.param(_set("analysis.checks.1.maxIncrease", 0.01), id="drop-and-increase"),
        pytest.param(_set("version", DELETE), id="watch-mode"),
        pytest.param(_set("analysis", DELETE), id="kill-switch-only"),
        pytest.param(_proportion(), id="proportion-with-defaults"),
        pytest.param(
            _proportion(
                **{
                    "proportion.test": "fixed",
                    "proportion.direction": "increase",
                    "proportion.alpha": 0.01,
                    "proportion.margin": 1,
                    "proportion.expectedSamples": 3026,
                    "proportion.minSamples": 100,
                }
            ),
            id="proportion-every-field",
        ),
    ],
)
def test_valid_edges(mutation: Mutation) -> None:
    parse(_invalid(mutation))


def test_proportion_defaults() -> None:
    spec = parse(_invalid(_proportion()))
    assert spec.analysis is not None
    check = spec.analysis.checks[2]
    assert check.query is None
    p = check.proportion
    assert p is not None
    assert (p.test, p.alpha, p.expected_samples, p.direction, p.min_samples) == (
        ProportionTest.SEQUENTIAL,
        0.05,
        10_000,
        Direction.DECREASE,
        None,
    )


def test_check_rules_hold_outside_a_spec_too() -> None:
    with pytest.raises(pydantic.ValidationError, match="min must be less than or equal to max"):
        Check(name="a", query="q", min=2.0, max=1.0)


# --------------------------------------------------------------------------- CEL <-> pydantic


def _cel_rules(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(node, dict):
        return
    for rule in node.get("x-kubernetes-validations", []):
        yield path, rule["message"]
    for name, prop in node.get("properties", {}).items():
        yield from _cel_rules(prop, f"{path}.{name}")
    if "items" in node:
        yield from _cel_rules(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _cel_rules(node["additionalProperties"], f"{path}{{}}")


def crd_rules() -> list[tuple[str, str]]:
    crd = crdgen.build_crd()
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return list(_cel_rules(root, ""))


# For each CEL rule, by (schema path, message): an object that violates that rule only,
# and the pydantic error location it must be reported at.
CEL_VIOLATIONS: dict[tuple[str, str], tuple[Mutation, tuple[str | int, ...]]] = {
    (".spec.version", "version needs an image, a modelTag, or both"): (
        _set("version", {}),
        ("version",),
    ),
    (".spec.analysis.prometheus.timeout", "must be at least 1s"): (
        _set("analysis.prometheus.timeout", "0.5s"),
        ("analysis", "prometheus", "timeout"),
    ),
    (".spec.analysis.interval", "must be at least 1s"): (
        _set("analysis.interval", "100ms"),
        ("analysis", "interval"),
    ),
    (".spec.analysis.rolloutTimeout", "must be at least 1s"): (
        _set("analysis.rolloutTimeout", "500ms"),
        ("analysis", "rolloutTimeout"),
    ),
    (".spec.analysis.checks", "check name 'rollout' is reserved for the built-in check"): (
        _set("analysis.checks.0.name", "rollout"),
        ("analysis", "checks"),
    ),
    (".spec.analysis.checks[]", "a check needs exactly one of query, proportion and templateRef"): (
        _proportion(query="up"),
        ("analysis", "checks", 2),
    ),
    (
        ".spec.analysis.checks[]",
        "a templateRef check takes its queries from the template: no baselineQuery or samplesQuery",
    ): (
        _all(
            _set("analysis.checks.1.query", DELETE),
            _set("analysis.checks.1.templateRef", {"name": "accuracy"}),
        ),
        ("analysis", "checks", 1),
    ),
    (".spec.analysis.checks[]", "args need a templateRef"): (
        _set("analysis.checks.0.args", {"window": "5m"}),
        ("analysis", "checks", 0),
    ),
    (
        ".spec.analysis.checks[]",
        "margin is for a templateRef check (a proportion check sets its own)",
    ): (
        _set("analysis.checks.0.margin", 0.1),
        ("analysis", "checks", 0),
    ),
    (
        ".spec.analysis.checks[]",
        "a proportion check takes no min, max, maxDrop, maxIncrease, baselineQuery, "
        "samplesQuery or minSamples (see proportion.minSamples)",
    ): (_proportion(maxDrop=0.1), ("analysis", "checks", 2)),
    (
        ".spec.analysis.checks[].proportion.successQuery",
        "must use {{version}}: it is rendered once per arm",
    ): (
        _proportion(**{"proportion.successQuery": "sum(model_correct_total)"}),
        ("analysis", "checks", 2, "proportion", "successQuery"),
    ),
    (
        ".spec.analysis.checks[].proportion.totalQuery",
        "must use {{version}}: it is rendered once per arm",
    ): (
        _proportion(**{"proportion.totalQuery": "sum(model_labeled_total)"}),
        ("analysis", "checks", 2, "proportion", "totalQuery"),
    ),
    (".spec.analysis.checks[]", "a check needs at least one of min, max, maxDrop, maxIncrease"): (
        _set("analysis.checks.0.min", DELETE),
        ("analysis", "checks", 0),
    ),
    (".spec.analysis.checks[]", "min must be less than or equal to max"): (
        _set("analysis.checks.0.max", 0.5),
        ("analysis", "checks", 0),
    ),
    (".spec.analysis.checks[]", "maxDrop/maxIncrease and baselineQuery go together"): (
        _set("analysis.checks.1.baselineQuery", DELETE),
        ("analysis", "checks", 1),
    ),
    (".spec.analysis.checks[]", "minSamples and samplesQuery go together"): (
        _set("analysis.checks.1.minSamples", DELETE),
        ("analysis", "checks", 1),
    ),
    (".spec.killSwitch", "reason is required when the kill switch is enabled"): (
        _set("killSwitch.enabled", True),
        ("killSwitch",),
    ),
    (".spec", "canary needs version and analysis"): (
        _all(_set("canary", {"steps": [10]}), _set("version", DELETE)),
        (),
    ),
    (".spec.canary.steps", "steps must be strictly ascending"): (
        _set("canary", {"steps": [20, 10]}),
        ("canary",),
    ),
    (".spec.canary.stepDuration", "must be at least 1s"): (
        _set("canary", {"steps": [10], "stepDuration": "500ms"}),
        ("canary", "stepDuration"),
    ),
    (".spec.canary.readyDeadline", "must be at least 1s"): (
        _set("canary", {"steps": [10], "readyDeadline": "0s"}),
        ("canary", "readyDeadline"),
    ),
    (
        ".spec.canary.traffic",
        "mode httpRoute needs httpRoute.name, stableBackend and canaryBackend",
    ): (
        _set("canary", {"steps": [10], "traffic": {"mode": "httpRoute"}}),
        ("canary", "traffic"),
    ),
    (".spec.killSwitch", "mode fallback needs fallback.serviceName and fallback.selector"): (
        _all(_set("killSwitch.mode", "fallback"), _set("killSwitch.fallback", DELETE)),
        ("killSwitch",),
    ),
}


def test_every_cel_rule_has_a_known_violation() -> None:
    """A CEL rule added to the models without a case here (or removed from them while
    a case remains) fails: the table below must list exactly the CRD's rules."""
    assert sorted(set(crd_rules())) == sorted(CEL_VIOLATIONS)
    assert len(crd_rules()) == len(set(crd_rules()))  # no rule written twice at one place


@pytest.mark.parametrize(
    ("path", "message"), [pytest.param(*key, id=f"{key[0]}:{key[1]}") for key in CEL_VIOLATIONS]
)
def test_every_cel_rule_has_the_same_pydantic_rule(path: str, message: str) -> None:
    mutation, loc = CEL_VIOLATIONS[path, message]
    errors = errors_of(_invalid(mutation))
    assert len(errors) == 1, errors
    assert errors[0]["msg"] == f"Value error, {message}"
    assert errors[0]["loc"] == loc


# --------------------------------------------------------------------------- spec.canary


def test_canary_defaults() -> None:
    canary = parse({**base(), "canary": {"steps": [5, 20, 50]}}).canary
    assert canary is not None
    assert canary.steps == [5, 20, 50]
    assert (canary.step_duration, canary.ready_deadline) == ("10m", "10m")
    assert canary.traffic.mode is TrafficMode.REPLICAS
    assert canary.traffic.http_route is None
    assert canary.max_canary_replicas == 10
    assert canary.track_label == "modelguard.io/track"
    assert canary.max_weight_overshoot == 10


def test_no_canary_is_the_in_place_default() -> None:
    assert parse(base()).canary is None


@pytest.mark.parametrize(
    "canary",
    [
        pytest.param({"steps": []}, id="no-steps"),
        pytest.param({"steps": [0, 10]}, id="step-zero"),
        pytest.param({"steps": [10, 100]}, id="step-100"),
        pytest.param({"steps": [10, 10]}, id="step-repeated"),
        pytest.param({"steps": [10], "maxCanaryReplicas": 0}, id="no-replicas"),
        pytest.param({"steps": [10], "trackLabel": "bad label"}, id="bad-label-key"),
        pytest.param({"steps": [10], "trackLabel": "a/" + "x" * 64}, id="label-name-too-long"),
        pytest.param({"steps": [10], "traffic": {"mode": "mesh"}}, id="unknown-mode"),
        pytest.param({"steps": [10], "surprise": 1}, id="unknown-field"),
    ],
)
def test_bad_canaries_are_refused(canary: Raw) -> None:
    with pytest.raises(pydantic.ValidationError):
        parse({**base(), "canary": canary})


def test_http_route_mode_with_its_fields_parses() -> None:
    route = {"name": "fraud", "stableBackend": "fraud-stable", "canaryBackend": "fraud-canary"}
    canary = parse(
        {
            **base(),
            "canary": {"steps": [1, 5], "traffic": {"mode": "httpRoute", "httpRoute": route}},
        }
    ).canary
    assert canary is not None and canary.traffic.http_route is not None
    assert canary.traffic.http_route.canary_backend == "fraud-canary"
