"""Ports: what the core needs from the outside world, as plain data and protocols.

Adapters implement these; tests can implement them with real servers or small fakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from modelguard.core.reasons import CheckReason


@dataclass(frozen=True)
class QueryResult:
    """The outcome of one instant query, reduced to what a check needs."""

    value: float | None = None
    series: int = 0
    error: str | None = None

    @property
    def usable(self) -> bool:
        return (
            self.error is None
            and self.series == 1
            and self.value is not None
            and math.isfinite(self.value)
        )

    def problem(self) -> tuple[CheckReason, str]:
        """(reason, message) for an unusable result."""
        if self.error is not None:
            return CheckReason.QUERY_ERROR, self.error
        if self.series == 0 or self.value is None:
            return CheckReason.NO_DATA, "query returned no series"
        if self.series > 1:
            return (
                CheckReason.AMBIGUOUS_RESULT,
                f"query returned {self.series} series; aggregate to one",
            )
        return CheckReason.NO_DATA, f"query returned {self.value}"


class MetricsSource(Protocol):
    async def query(self, promql: str) -> QueryResult: ...
