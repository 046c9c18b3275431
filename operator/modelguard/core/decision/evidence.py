"""How check results are summarised in Events and condition messages."""

from __future__ import annotations

from collections.abc import Sequence

from modelguard.core.api import CheckResult, Verdict


def missing_reason(results: Sequence[CheckResult]) -> str:
    """MetricsAvailable=False's reason: a failing query (Prometheus down, bad PromQL)
    before an ambiguous result before plain absence, so an alert can tell them apart."""
    reasons = {r.reason for r in results if r.verdict is Verdict.INCONCLUSIVE}
    return next((r for r in ("QueryError", "AmbiguousResult") if r in reasons), "NoData")


def evidence(results: Sequence[CheckResult]) -> str:
    failing = [r for r in results if r.verdict is not Verdict.PASSED]
    shown = failing or list(results)
    return "; ".join(f"{r.name}: {r.verdict.value} ({r.message})" for r in shown)
