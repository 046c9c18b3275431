"""templateRef checks resolved at reconcile time (runtime.templates) against in-memory
fakes of our ports: the template's query is what Prometheus is asked, its default
threshold decides unless the check sets its own, an edited template counts at the next
evaluation, the status names the template, and a missing template or argument is an
InvalidSpec condition and an Event that leaves the kill switch working."""

from __future__ import annotations

from typing import Any

from modelguard.core import conditions as cond
from modelguard.core.api import Phase
from modelguard.core.ports import QueryResult
from tests.unit.test_reconciler import KILL, NAME, NS, WARM, World, running, spec

F1 = 'model_f1{model="{{model}}",version="{{version}}"}[{{window}}]'
KIND = "ClusterModelCheckTemplate"


def template(minimum: float = 0.8, default_model: str | None = None) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "window", "default": "10m"}, {"name": "model"}]
    if default_model is not None:
        params[1]["default"] = default_model
    return {
        "apiVersion": "modelguard.io/v1alpha1",
        "kind": KIND,
        "metadata": {"name": "f1-score"},
        "spec": {"metric": "F1", "params": params, "query": F1, "defaults": {"min": minimum}},
    }


def templated(n: int, args: dict[str, str] | None = None, **own: Any) -> dict[str, Any]:
    raw = spec(n)
    check: dict[str, Any] = {"name": "f1", "templateRef": {"name": "f1-score"}, **own}
    check["args"] = {"model": "fraud"} if args is None else args
    raw["analysis"]["checks"] = [check]
    return raw


async def live(n: int = 2, **kwargs: Any) -> World:
    world = World()
    world.kube.templates["", KIND, "f1-score"] = template()
    world.kube.create_model(NS, NAME, templated(n, **kwargs))
    await world.reconcile()
    assert world.runs() == running(n)
    world.clock.advance(WARM)
    return world


async def test_a_template_check_below_its_default_threshold_rolls_back() -> None:
    world = await live()
    world.prometheus.answers['version="v2"'] = QueryResult(value=0.7, series=1)
    await world.reconcile()
    assert world.runs() == running(1)
    assert world.status().phase is Phase.ROLLED_BACK
    evaluation = world.status().last_evaluation
    assert evaluation is not None
    [result] = [c for c in evaluation.checks if c.name == "f1"]
    assert result.template == f"{KIND}/f1-score"
    assert result.query == 'model_f1{model="fraud",version="v2"}[10m]'


async def test_the_checks_own_threshold_wins_over_the_templates() -> None:
    world = await live(min=0.6)
    world.prometheus.answers['version="v2"'] = QueryResult(value=0.7, series=1)
    await world.reconcile()
    assert world.runs() == running(2)
    assert world.kube.events().count("RolledBack") == 0


async def test_an_edited_template_counts_at_the_next_evaluation() -> None:
    world = await live()
    world.prometheus.answers['version="v2"'] = QueryResult(value=0.7, series=1)
    world.kube.templates["", KIND, "f1-score"] = template(minimum=0.5)
    await world.reconcile()
    assert world.runs() == running(2)  # 0.7 passes the edited min
    world.kube.templates["", KIND, "f1-score"] = template(minimum=0.75)
    world.clock.advance(WARM)
    await world.reconcile()
    assert world.runs() == running(1)


async def test_a_missing_template_is_an_invalid_spec_with_one_event() -> None:
    world = World()
    world.kube.create_model(NS, NAME, templated(2))
    await world.reconcile()
    await world.reconcile()
    status = world.status()
    invalid = cond.get_condition(status.conditions, cond.INVALID_SPEC)
    assert invalid is not None and invalid.status == "True"
    assert f"check 'f1': {KIND} 'f1-score' not found" in invalid.message
    assert world.kube.events().count("InvalidSpec") == 1
    assert world.kube.applied == []


async def test_a_missing_argument_is_named() -> None:
    world = World()
    world.kube.templates["", KIND, "f1-score"] = template()
    world.kube.create_model(NS, NAME, templated(2, args={}))
    await world.reconcile()
    invalid = cond.get_condition(world.status().conditions, cond.INVALID_SPEC)
    assert invalid is not None and "needs argument 'model'" in invalid.message


async def test_the_kill_switch_works_on_an_object_whose_template_is_missing() -> None:
    world = World()
    raw = templated(1)
    raw["killSwitch"] = KILL
    world.kube.create_model(NS, NAME, raw)
    await world.reconcile()
    assert world.deployment().replicas == 0
    assert world.status().kill_switch.engaged


async def test_a_spec_without_templates_reads_none() -> None:
    world = World()
    world.kube.create_model(NS, NAME, spec(2))
    await world.reconcile()
    assert world.kube.template_reads == 0
