"""One evaluation of a ModelDeployment's checks against Prometheus, for the reconciler.

It only reads (the auth Secret, Prometheus), so the reconciler may abandon it at any
moment: that is what lets a kill-switch kick interrupt a reconcile stuck on a hanging
Prometheus (see reconciler.py). Every failure becomes an Inconclusive check result, never
an exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from modelguard.core.api import AnalysisSpec, CheckResult, ModelDeploymentStatus
from modelguard.core.checks import failed_checks, run_checks
from modelguard.core.clock import utcnow
from modelguard.core.durations import parse_duration
from modelguard.core.ports import MetricsSource, QueryResult, Workloads

log = logging.getLogger(__name__)

# (url, timeout in seconds, bearer token) -> a source for one evaluation. The operator's
# (adapters/prometheus_pool.py) is a view of one shared pool: closing it releases nothing
# shared, and identical queries of many evaluations in one tick are sent once.
MetricsFactory = Callable[[str, float, str | None], MetricsSource]


class Evaluator:
    def __init__(
        self,
        kube: Workloads,
        metrics_factory: MetricsFactory,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._kube = kube
        self._metrics_factory = metrics_factory
        self._clock = clock  # for {{sinceStart}}

    async def evaluate_unless(
        self,
        interrupted: asyncio.Event,
        body: dict[str, Any],
        analysis: AnalysisSpec,
        status: ModelDeploymentStatus,
        namespace: str,
        name: str,
    ) -> list[CheckResult] | None:
        """The evaluation, or None if the reconcile was interrupted first (it is then
        cancelled: it has written nothing)."""
        if interrupted.is_set():
            return None
        evaluation = asyncio.create_task(self.evaluate(body, analysis, status))
        interrupt = asyncio.create_task(interrupted.wait())
        try:
            await asyncio.wait([evaluation, interrupt], return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupt.cancel()
            evaluation.cancel()  # a no-op once it is done; if not, nothing waits for it
        if not evaluation.done() or evaluation.cancelled():
            log.info("Evaluation of %s/%s interrupted for the kill switch", namespace, name)
            return None
        return evaluation.result()

    async def evaluate(
        self, body: dict[str, Any], analysis: AnalysisSpec, status: ModelDeploymentStatus
    ) -> list[CheckResult]:
        """Every check of `analysis` for the version `status` runs, queried at once."""
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        now = self._clock()
        token: str | None = None
        auth = analysis.prometheus.auth_secret_ref
        if auth is not None:
            try:
                token = await self._kube.read_secret_key(namespace, auth.name, auth.key)
            except Exception as exc:  # any failure (403, 404, no key) makes checks Inconclusive
                failure = QueryResult(error=f"cannot read Secret {auth.name!r}: {_reason(exc)}")
                return failed_checks(analysis.checks, status, namespace, name, now, failure)
        timeout = parse_duration(analysis.prometheus.timeout).total_seconds()
        source = self._metrics_factory(analysis.prometheus.url, timeout, token)
        try:
            return await run_checks(source, analysis.checks, status, namespace, name, now)
        finally:
            source.close()


def _reason(exc: Exception) -> str:
    # ApiException's str() carries response headers and body; its reason is enough.
    return str(getattr(exc, "reason", None) or exc)
