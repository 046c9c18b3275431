"""A proportion check through the reconcile loop: four queries, {{sinceStart}} from the
version's start, the stable arm read when it last served, and the verdict acted on as
any check's (a Failed proportion rolls back, an undecided one holds)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelguard.core.api import Phase, Verdict
from modelguard.core.ports import QueryResult
from tests.unit.test_reconciler import T0, WARM, World, running, spec, v2_live_after_v1

SUCCESS = 'sum(increase(correct_total{version="{{version}}"}[{{sinceStart}}]))'
TOTAL = 'sum(increase(labeled_total{version="{{version}}"}[{{sinceStart}}]))'


def proportion_spec(n: int) -> dict[str, Any]:
    raw = spec(n)
    raw["analysis"]["checks"] = [
        {
            "name": "accuracy-ab",
            "proportion": {"successQuery": SUCCESS, "totalQuery": TOTAL, "margin": 0.02},
        }
    ]
    return raw


async def v2_with_a_proportion_check() -> World:
    world = await v2_live_after_v1()
    world.kube.edit_spec("ml", "fraud", proportion_spec(2))
    return world


def answer(world: World, version: str, successes: float, total: float) -> None:
    world.prometheus.answers[f'correct_total{{version="{version}"}}'] = QueryResult(
        value=successes, series=1
    )
    world.prometheus.answers[f'labeled_total{{version="{version}"}}'] = QueryResult(
        value=total, series=1
    )


async def test_a_worse_candidate_is_rolled_back_with_the_evidence_in_status() -> None:
    world = await v2_with_a_proportion_check()
    answer(world, "v2", 4250, 5000)
    answer(world, "v1", 4500, 5000)
    await world.reconcile()

    seconds = int(WARM.total_seconds())  # v2 went live at T0
    queries = world.prometheus.queries()
    assert f'sum(increase(correct_total{{version="v2"}}[{seconds}s]))' in queries
    assert f'sum(increase(labeled_total{{version="v1"}}[{seconds}s]))' in queries
    # In place, v1 stopped serving when v2 went live: its arm is read as of then.
    times = world.prometheus.times()
    assert times[f'sum(increase(labeled_total{{version="v1"}}[{seconds}s]))'] == T0
    assert times[f'sum(increase(labeled_total{{version="v2"}}[{seconds}s]))'] is None

    status = world.status()
    assert world.runs() == running(1)
    assert status.phase is Phase.ROLLED_BACK
    assert status.last_evaluation is not None
    result = status.last_evaluation.checks[0]
    assert result.verdict is Verdict.FAILED
    assert result.reason == "WorseThanMargin"
    assert result.proportion is not None
    assert result.proportion.estimate is not None
    assert round(result.proportion.estimate, 6) == -0.05
    assert "0.85 (4250/5000) vs stable 0.9 (4500/5000)" in status.quarantined_versions[0].reason


async def test_an_undecided_candidate_is_held_not_rolled_back() -> None:
    world = await v2_with_a_proportion_check()
    answer(world, "v2", 850, 1000)
    answer(world, "v1", 900, 1000)
    for _ in range(5):
        await world.reconcile()
        world.clock.advance(timedelta(minutes=1))
    status = world.status()
    assert world.runs() == running(2)
    assert status.consecutive_failures == 0
    assert status.last_evaluation is not None
    assert status.last_evaluation.verdict is Verdict.INCONCLUSIVE
    p = status.last_evaluation.checks[0].proportion
    assert p is not None
    assert p.samples_needed is not None
    assert p.samples_needed > 0
