"""Running a spec's checks against a metrics source: every check of one evaluation,
rendered for the version the status says runs, queried at once.

Shared by the operator's evaluator (live Prometheus, now) and the replay engine
(recorded series, a simulated now): a backtest must ask exactly the questions, at
exactly the times, that the operator would have asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import TypeVar

from modelguard.core.api import Check, CheckResult, ModelDeploymentStatus
from modelguard.core.decision import baseline_time, samples_since, template_values
from modelguard.core.evaluation import (
    RenderedCheck,
    evaluate_check,
    evaluate_proportion,
    evaluate_unqueried,
    render_check,
)
from modelguard.core.ports import MetricsSource, QueryResult

_T = TypeVar("_T")


async def _gather(*aws: Awaitable[_T]) -> list[_T]:
    """asyncio.gather, except that a lone awaitable is awaited in place: gather wraps each
    in a task, and a task costs event-loop turns that, in a backtest (20,000 evaluations
    of one check with one query, answered from memory), cost as much as plan() itself.
    With one there is nothing to run concurrently, so the result is the same."""
    if len(aws) == 1:
        return [await aws[0]]
    return list(await asyncio.gather(*aws))


def render_checks(
    checks: Sequence[Check],
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
) -> list[RenderedCheck]:
    """Each check's queries for the version `status` runs (and its stable one), at `now`."""
    values = template_values(status, namespace, name)
    baseline_at = baseline_time(status)
    started_at = samples_since(status)
    return [render_check(c, values, baseline_at, started_at=started_at, now=now) for c in checks]


async def run_checks(
    source: MetricsSource,
    checks: Sequence[Check],
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
) -> list[CheckResult]:
    """Every check for the version `status` runs; the source never raises (port rule)."""
    rendered = render_checks(checks, status, namespace, name, now)
    return await _gather(*(run_check(source, r) for r in rendered))


def failed_checks(
    checks: Sequence[Check],
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    now: datetime,
    failure: QueryResult,
) -> list[CheckResult]:
    """Every check judged on one failure (e.g. the auth Secret could not be read)."""
    return [
        evaluate_unqueried(r, failure) for r in render_checks(checks, status, namespace, name, now)
    ]


async def run_check(source: MetricsSource, rendered: RenderedCheck) -> CheckResult:
    if rendered.needs_stable_version:  # nothing to ask Prometheus: Inconclusive
        return evaluate_unqueried(rendered, QueryResult())
    if rendered.arms is not None:
        arms, at = rendered.arms, rendered.baseline_at
        counts = await asyncio.gather(
            source.query(arms.success),
            source.query(arms.total),
            source.query(arms.stable_success, at),
            source.query(arms.stable_total, at),
        )
        return evaluate_proportion(rendered, *counts)

    # The value's query, and the baseline's and the samples' when the check has them:
    # only those are asked (at once), the others answer None.
    asked: list[tuple[str | None, datetime | None]] = [
        (rendered.query, None),
        (rendered.baseline_query, rendered.baseline_at),
        (rendered.samples_query, None),
    ]
    answers = iter(await _gather(*(source.query(q, at) for q, at in asked if q is not None)))
    value, baseline, samples = (None if q is None else next(answers) for q, _ in asked)
    assert value is not None  # rendered.query is always asked
    return evaluate_check(rendered, value, baseline, samples)
