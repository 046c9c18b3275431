"""Running a spec's checks against a metrics source: every check of one evaluation,
rendered for the version the status says runs, queried at once.

Shared by the operator's evaluator (live Prometheus, now) and the replay engine
(recorded series, a simulated now): a backtest must ask exactly the questions, at
exactly the times, that the operator would have asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from modelguard.core.api import Check, CheckResult, ModelDeploymentStatus
from modelguard.core.decision import baseline_time, template_values
from modelguard.core.evaluation import evaluate_check, render_check
from modelguard.core.ports import MetricsSource, QueryResult


async def run_checks(
    source: MetricsSource,
    checks: Sequence[Check],
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
) -> list[CheckResult]:
    """Every check for the version `status` runs; the source never raises (port rule)."""
    values = template_values(status, namespace, name)
    baseline_at = baseline_time(status)
    return list(await asyncio.gather(*(run_check(source, c, values, baseline_at) for c in checks)))


def failed_checks(
    checks: Sequence[Check],
    status: ModelDeploymentStatus,
    namespace: str,
    name: str,
    failure: QueryResult,
) -> list[CheckResult]:
    """Every check judged on one failure (e.g. the auth Secret could not be read)."""
    values = template_values(status, namespace, name)
    baseline_at = baseline_time(status)
    return [
        evaluate_check(render_check(c, values, baseline_at), failure, failure, failure)
        for c in checks
    ]


async def run_check(
    source: MetricsSource, check: Check, values: dict[str, str], baseline_at: datetime | None
) -> CheckResult:
    rendered = render_check(check, values, baseline_at)
    if rendered.needs_stable_version:  # nothing to ask Prometheus: Inconclusive
        return evaluate_check(rendered, QueryResult())

    async def run(query: str | None, at: datetime | None = None) -> QueryResult | None:
        return None if query is None else await source.query(query, at)

    value, baseline, samples = await asyncio.gather(
        source.query(rendered.query),
        run(rendered.baseline_query, rendered.baseline_at),
        run(rendered.samples_query),
    )
    return evaluate_check(rendered, value, baseline, samples)
