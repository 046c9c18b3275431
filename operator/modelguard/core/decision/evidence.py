"""How check results are summarised in Events and condition messages."""

from __future__ import annotations

from collections.abc import Sequence

from modelguard.core.api import CheckResult, Verdict
from modelguard.core.reasons import CheckReason

# Most telling first: a failing query (Prometheus down, bad PromQL), an ambiguous result.
_MISSING_ORDER = (CheckReason.QUERY_ERROR, CheckReason.AMBIGUOUS_RESULT)


def missing_reason(results: Sequence[CheckResult]) -> CheckReason:
    """MetricsAvailable=False's reason: a failing query (Prometheus down, bad PromQL)
    before an ambiguous result before plain absence, so an alert can tell them apart."""
    reasons = {r.reason for r in results if r.verdict is Verdict.INCONCLUSIVE}
    return next((r for r in _MISSING_ORDER if r in reasons), CheckReason.NO_DATA)


def evidence(results: Sequence[CheckResult]) -> str:
    failing = [r for r in results if r.verdict is not Verdict.PASSED]
    shown = failing or list(results)
    return "; ".join(f"{r.name}: {r.verdict.value} ({r.message})" for r in shown)
