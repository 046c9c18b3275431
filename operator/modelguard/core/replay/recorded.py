"""Recorded metrics behind the MetricsSource port: a query's answer over a window, as
Prometheus' range API gives it, read back at the simulated now.

A recording maps each rendered query to the series Prometheus returned for it at every
step of the window (its matrix format), or to the error it answered. Reading it at time
t gives what an instant query at t would have returned, to the resolution of the step:
the point of each series at the last step at or before t. That is the "evaluation is
step-aligned" caveat of a backtest; with the step equal to analysis.interval and the
window starting when the version went live, the operator's evaluation times fall on the
steps exactly.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modelguard.core.ports import QueryResult
from modelguard.core.promresult import one_series, sample_value

FORMAT = "modelguard-recording/v1"


@dataclass(frozen=True)
class Series:
    labels: Mapping[str, str]
    times: tuple[float, ...]  # Unix seconds, ascending
    values: tuple[float, ...]

    @classmethod
    def of(cls, labels: Mapping[str, str], points: Iterable[tuple[float, float]]) -> Series:
        ordered = sorted(points)
        return cls(dict(labels), tuple(t for t, _ in ordered), tuple(v for _, v in ordered))

    def at(self, when: float, step: float) -> float | None:
        """The point at the last step at or before `when`, if it is within one step."""
        i = bisect.bisect_right(self.times, when + 1e-6) - 1
        if i < 0 or when - self.times[i] >= step - 1e-6:
            return None
        return self.values[i]


@dataclass(frozen=True)
class Recorded:
    """One query over the window: its series, or the error Prometheus answered."""

    series: tuple[Series, ...] = ()
    error: str | None = None
    invalid_query: bool = False

    def at(self, when: datetime, step: timedelta) -> QueryResult:
        if self.error is not None:
            return QueryResult(error=self.error, invalid_query=self.invalid_query)
        seen = [
            v
            for s in self.series
            if (v := s.at(when.timestamp(), step.total_seconds())) is not None
        ]
        return one_series(seen)

    def points(self) -> int:
        return sum(len(s.times) for s in self.series)


# Fetches one query over the whole window (a backtest: Prometheus' range API).
RangeFetch = Callable[[str], Awaitable[Recorded]]


@dataclass
class RecordedMetrics:
    """A MetricsSource over recordings, read at `clock()` (the simulated now).

    With `fetch`, a query not recorded yet is fetched once over the whole window and
    kept (so a backtest asks Prometheus one range query per rendered query, whatever the
    number of evaluations); without, it answers with an error that names the query.
    """

    step: timedelta
    clock: Callable[[], datetime]
    recordings: dict[str, Recorded] = field(default_factory=dict)
    fetch: RangeFetch | None = None
    _fetching: dict[str, asyncio.Task[Recorded]] = field(default_factory=dict)

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        recorded = self.recordings.get(promql)
        if recorded is None and self.fetch is not None:
            task = self._fetching.get(promql)
            if task is None:  # two checks may share a query: fetch it once
                task = self._fetching[promql] = asyncio.ensure_future(self.fetch(promql))
            recorded = self.recordings[promql] = await task
        if recorded is None:
            return QueryResult(error=f"query not in the recording: {promql}")
        return recorded.at(at or self.clock(), self.step)

    def close(self) -> None:
        """Nothing to release: the recordings stay readable for the next evaluation."""


def from_matrix(result: Iterable[Mapping[str, Any]]) -> tuple[Series, ...]:
    """Prometheus' matrix result ([{"metric": {...}, "values": [[t, "v"], ...]}])."""
    return tuple(
        Series.of(r.get("metric") or {}, ((float(t), sample_value(v)) for t, v in r["values"]))
        for r in result
    )


def to_matrix(series: Iterable[Series]) -> list[dict[str, Any]]:
    return [
        {
            "metric": dict(s.labels),
            "values": [
                [t, repr(v) if math.isfinite(v) else str(v)]
                for t, v in zip(s.times, s.values, strict=True)
            ],
        }
        for s in series
    ]


def dump(
    recordings: Mapping[str, Recorded], step: timedelta, start: datetime, end: datetime
) -> dict[str, Any]:
    """A recording as JSON-ready data (the --record / --replay fixture)."""
    queries: dict[str, Any] = {}
    for promql, rec in sorted(recordings.items()):
        if rec.error is not None:
            queries[promql] = {"error": rec.error, "invalidQuery": rec.invalid_query}
        else:
            queries[promql] = {"result": to_matrix(rec.series)}
    return {
        "format": FORMAT,
        "step": step.total_seconds(),
        "start": start.astimezone(UTC).isoformat(),
        "end": end.astimezone(UTC).isoformat(),
        "queries": queries,
    }


def load(data: Mapping[str, Any]) -> tuple[dict[str, Recorded], timedelta]:
    """The recordings and step of a fixture written by dump()."""
    if data.get("format") != FORMAT:
        raise ValueError(f"not a modelguard recording (format {data.get('format')!r})")
    recordings: dict[str, Recorded] = {}
    for promql, rec in (data.get("queries") or {}).items():
        if "error" in rec:
            recordings[promql] = Recorded(
                error=str(rec["error"]), invalid_query=bool(rec.get("invalidQuery"))
            )
        else:
            recordings[promql] = Recorded(series=from_matrix(rec.get("result") or []))
    return recordings, timedelta(seconds=float(data["step"]))
