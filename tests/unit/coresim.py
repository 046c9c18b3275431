"""A tiny in-memory driver for the pure core: plan() against a fake Deployment.

This mirrors the reconciler's contract (observe -> plan -> write status FIRST -> run
actions -> emit events -> repeat until no actions) so that decision and property tests
can drive whole scenarios. It is a pure-core harness, not a stand-in for the e2e tier:
the real adapters, API server and Prometheus are tested there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from modelguard.core.api import (
    CheckResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
    RollbackRequest,
)
from modelguard.core.decision import (
    Observation,
    Plan,
    analysis_due,
    next_due,
    plan,
    template_values,
)
from modelguard.core.evaluation import evaluate_check, render_check
from modelguard.core.ports import QueryResult
from modelguard.core.workload import (
    Action,
    Event,
    Scale,
    ServiceState,
    SetSelector,
    SetVersion,
    Workload,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMESPACE = "ml"
NAME = "fraud"
ACCURACY = 'avg_over_time(model_accuracy{model="fraud",version="{{version}}"}[5m])'
SAMPLES = 'sum(increase(model_labeled_total{model="fraud",version="{{version}}"}[1h]))'


def v(n: int) -> ModelVersion:
    """Model version n: an image and a model tag that move together."""
    return ModelVersion(image=f"reg.example/fraud:{n}.0", model_tag=f"v{n}")


def vspec(n: int) -> dict[str, str]:
    return {"image": f"reg.example/fraud:{n}.0", "modelTag": f"v{n}"}


def make_spec(
    version: int | None = 1,
    *,
    threshold: int = 3,
    automatic: bool = True,
    cooldown: str = "10m",
    no_data: str = "hold",
    warmup: str = "2m",
    interval: str = "30s",
    promote_after: str = "10m",
    min_samples: int | None = None,
    kill: dict[str, Any] | None = None,
    analysis: bool = True,
) -> ModelDeploymentSpec:
    check: dict[str, Any] = {"name": "accuracy", "query": ACCURACY, "min": 0.9}
    if min_samples is not None:
        check |= {"samplesQuery": SAMPLES, "minSamples": min_samples}
    raw: dict[str, Any] = {
        "targetRef": {"name": "fraud-scorer", "container": "server"},
        "rollback": {"automatic": automatic, "cooldown": cooldown},
    }
    if version is not None:
        raw["version"] = vspec(version)
    if analysis:
        raw["analysis"] = {
            "prometheus": {"url": "http://prometheus:9090"},
            "interval": interval,
            "warmup": warmup,
            "failureThreshold": threshold,
            "promoteAfter": promote_after,
            "noData": no_data,
            "checks": [check],
        }
    if kill is not None:
        raw["killSwitch"] = kill
    return ModelDeploymentSpec.model_validate(raw)


def deployment(version: ModelVersion | None = None, replicas: int = 3) -> Workload:
    return Workload(
        exists=True,
        container="server",
        version=version or v(1),
        replicas=replicas,
        ready_replicas=replicas,
        service=ServiceState("fraud-scorer", True, {"app": "fraud-scorer"}),
        fallback_ready_pods=2,
    )


def execute(workload: Workload, actions: Iterable[Action]) -> Workload:
    """What the workload adapter does: level-based patches."""
    for action in actions:
        if isinstance(action, SetVersion):
            running = workload.version
            image = action.version.image or (running.image if running else None)
            tag = action.version.model_tag
            if tag is None and running is not None:
                tag = running.model_tag
            workload = replace(workload, version=ModelVersion(image=image, model_tag=tag))
        elif isinstance(action, Scale):
            workload = replace(workload, replicas=action.replicas, ready_replicas=action.replicas)
        elif isinstance(action, SetSelector):
            assert workload.service is not None
            service = replace(workload.service, selector=dict(action.selector))
            workload = replace(workload, service=service)
    return workload


@dataclass
class Sim:
    spec: ModelDeploymentSpec
    workload: Workload = field(default_factory=deployment)
    status: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    now: datetime = T0
    generation: int = 1
    # Fake Prometheus: value of the accuracy (and sample-count) query per version name;
    # a version absent from the map has no series.
    accuracy: dict[str, QueryResult] = field(default_factory=dict)
    samples: dict[str, QueryResult] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    requested_by: str = ""

    # ------------------------------------------------------------------ one tick

    def tick(
        self,
        evaluation: list[CheckResult] | None = None,
        request: RollbackRequest | None = None,
        *,
        crash: bool = False,
    ) -> Plan:
        """plan(); write status; run actions (unless we 'crash' right after the write)."""
        obs = Observation(
            workload=self.workload,
            requested_by=self.requested_by,
            rollback_request=request,
            evaluation=evaluation,
        )
        result = plan(self.spec, self.status, self.generation, obs, self.now)
        self.status = result.status
        if crash:
            return result
        self.workload = execute(self.workload, result.actions)
        self.actions.extend(result.actions)
        self.events.extend(result.events)
        return result

    def settle(self, rounds: int = 6) -> list[Plan]:
        """Reconcile until plan() asks for nothing (the reconciler's loop)."""
        plans = []
        for _ in range(rounds):
            p = self.tick()
            plans.append(p)
            if not p.actions:
                return plans
        raise AssertionError(f"no fixpoint after {rounds} rounds: {plans[-1].actions}")

    # ------------------------------------------------------------------ analysis

    def take_evaluation(self) -> list[CheckResult]:
        """What the reconciler does when analysis_due(): render and query each check."""
        assert self.spec.analysis is not None
        values = template_values(self.status, NAMESPACE, NAME)
        out = []
        for check in self.spec.analysis.checks:
            rendered = render_check(check, values)
            value = self.accuracy.get(values["version"], QueryResult())
            samples = self.samples.get(values["version"], QueryResult())
            out.append(evaluate_check(rendered, value, None, samples))
        return out

    def analyse(self) -> Plan:
        """Advance to the next due evaluation, take it, plan with it, settle."""
        self.now = max(self.now, next_due(self.spec, self.status, self.now))
        assert analysis_due(self.spec, self.status, self.now), self.status
        result = self.tick(self.take_evaluation())
        self.settle()
        return result

    def analyse_n(self, n: int) -> list[Plan]:
        return [self.analyse() for _ in range(n)]

    def set_metric(self, version: ModelVersion, value: float | None) -> None:
        if value is None:
            self.accuracy.pop(version.name, None)
        else:
            self.accuracy[version.name] = QueryResult(value=value, series=1)

    def set_samples(self, version: ModelVersion, count: float | None) -> None:
        if count is None:
            self.samples.pop(version.name, None)
        else:
            self.samples[version.name] = QueryResult(value=count, series=1)

    # ------------------------------------------------------------------ the user

    def edit_spec(self, **changes: Any) -> None:
        """kubectl apply / GitOps: a new generation of the spec."""
        raw = self.spec.model_dump(by_alias=True, exclude_none=True, mode="json")
        for key, value in changes.items():
            if value is None:
                raw.pop(key, None)
            elif isinstance(value, Mapping) and isinstance(raw.get(key), dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
        self.spec = ModelDeploymentSpec.model_validate(raw)
        self.generation += 1

    def want(self, n: int) -> None:
        self.edit_spec(version=vspec(n))

    def kill(self, reason: str = "INC-1", **extra: Any) -> None:
        self.edit_spec(killSwitch={"enabled": True, "reason": reason, **extra})

    def release(self) -> None:
        self.edit_spec(killSwitch={"enabled": False, "reason": ""})

    # ------------------------------------------------------------------ reading

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]

    def count(self, reason: str) -> int:
        return self.reasons().count(reason)

    def set_versions(self) -> list[ModelVersion]:
        return [a.version for a in self.actions if isinstance(a, SetVersion)]

    def advance(self, delta: timedelta) -> None:
        self.now += delta
