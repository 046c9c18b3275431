"""A relative check's baseline is read as of the last time the stable version served.

After an in-place rollout the stable version's series end; read now, a range query on
them finds nothing once its window passes, the check is Inconclusive forever, and under
noData=fail a healthy version was rolled back. The core records when a known-good version
stopped serving (knownGoodVersions[].servedUntil) and the reconciler evaluates the
baseline query at that time, shown as baselineAt."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelguard.core.api import (
    Check,
    HistoryEntry,
    ModelDeploymentStatus,
    Outcome,
    Verdict,
    VersionStatus,
)
from modelguard.core.decision import baseline_time
from modelguard.core.evaluation import evaluate_check, render_check
from modelguard.core.ports import QueryResult
from tests.unit.test_reconciler import GOOD, NAME, NS, T0, World, running, spec

RELATIVE = {
    "name": "accuracy-vs-stable",
    "query": 'avg_over_time(model_accuracy{version="{{version}}"}[5m])',
    "baselineQuery": 'avg_over_time(model_accuracy{version="{{stableVersion}}"}[5m])',
    "maxDrop": 0.05,
}


def relative_spec(n: int) -> dict[str, Any]:
    raw = spec(n, threshold=2)
    raw["analysis"]["noData"] = "fail"
    raw["analysis"]["checks"].append(RELATIVE)
    return raw


async def run_for(world: World, duration: timedelta) -> None:
    end = world.clock.now + duration
    while world.clock.now < end:
        world.clock.advance(timedelta(seconds=30))
        await world.reconcile()


async def test_the_baseline_of_a_version_that_stopped_serving_is_read_when_it_served() -> None:
    world = World()
    world.prometheus.answers['version="v1"'] = GOOD
    world.prometheus.answers['version="v2"'] = GOOD
    world.kube.create_model(NS, NAME, relative_spec(1))
    await run_for(world, timedelta(minutes=13))
    assert [v.name for v in world.status().known_good_versions] == ["v1"]

    world.kube.edit_spec(NS, NAME, relative_spec(2))
    await world.reconcile()
    switched = world.clock.now
    assert world.runs() == running(2)
    [v1] = world.status().known_good_versions
    assert v1.served_until == switched
    # v1's pods are gone: its series end, and a range window later nothing is left now.
    world.prometheus.ended['version="v1"'] = switched

    await run_for(world, timedelta(minutes=40))  # well past the 5m window
    status = world.status()
    assert world.runs() == running(2), "a healthy v2 was rolled back"
    assert [v.name for v in status.known_good_versions] == ["v1", "v2"]
    assert status.last_evaluation is not None
    relative = next(c for c in status.last_evaluation.checks if c.name == RELATIVE["name"])
    assert (relative.verdict, relative.baseline, relative.baseline_at) == (
        Verdict.PASSED,
        GOOD.value,
        switched,
    )
    baseline_query = 'avg_over_time(model_accuracy{version="v1"}[5m])'
    assert world.prometheus.times()[baseline_query] == switched
    current_query = 'avg_over_time(model_accuracy{version="v2"}[5m])'
    assert world.prometheus.times()[current_query] is None  # the current version: now


async def test_a_version_that_serves_again_is_read_live_again() -> None:
    world = World()
    world.prometheus.answers['version="v1"'] = GOOD
    world.prometheus.answers['version="v2"'] = QueryResult(value=0.5, series=1)
    world.kube.create_model(NS, NAME, relative_spec(1))
    await run_for(world, timedelta(minutes=13))
    world.kube.edit_spec(NS, NAME, relative_spec(2))
    await run_for(world, timedelta(minutes=4))
    assert world.runs() == running(1)  # v2 failed accuracy: rolled back
    [v1] = world.status().known_good_versions
    assert v1.served_until is None
    assert baseline_time(world.status()) is None  # no other known-good: no baseline


def test_baseline_time_of_a_status_written_before_served_until_existed() -> None:
    """An upgraded operator has knownGoodVersions without servedUntil: the history says
    when the next version went live."""
    v1 = VersionStatus.of(running(1), T0)
    v2 = VersionStatus.of(running(2), T0 + timedelta(hours=1))
    status = ModelDeploymentStatus(
        current_version=v2,
        known_good_versions=[v1],
        history=[
            HistoryEntry(
                version="v1", image=v1.image, model_tag="v1", since=T0, outcome=Outcome.PROMOTED
            ),
            HistoryEntry(
                version="v2",
                image=v2.image,
                model_tag="v2",
                since=T0 + timedelta(hours=1),
                outcome=Outcome.LIVE,
            ),
        ],
    )
    assert baseline_time(status) == T0 + timedelta(hours=1)
    recorded = status.model_copy(
        update={"known_good_versions": [v1.model_copy(update={"served_until": T0})]}
    )
    assert baseline_time(recorded) == T0


def test_the_baseline_time_is_shown_with_the_result() -> None:
    check = Check.model_validate(RELATIVE)
    at = T0 - timedelta(minutes=30)
    rendered = render_check(check, {"version": "v2", "stableVersion": "v1"}, at)
    assert rendered.baseline_at == at
    result = evaluate_check(rendered, GOOD, GOOD)
    assert (result.verdict, result.baseline_at) == (Verdict.PASSED, at)
    # Without a baseline version there is no baseline query, and no time for it.
    alone = render_check(check, {"version": "v1"}, at)
    assert alone.baseline_at is None
    assert evaluate_check(alone, GOOD).baseline_at is None
