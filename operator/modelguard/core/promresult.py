"""What Prometheus answers, read as a check reads it: one pure reduction for every reader
of an answer (the CLI's lint and backtest client, the backtest's recordings), so that a
replay judges the same answer the same way as a live query.

A check needs exactly one number: a scalar, or an instant vector of one series. No series
or several are counted, not guessed at (the core says NoData, or asks for an aggregation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelguard.core.ports import QueryResult


def sample_value(text: Any) -> float:
    """A sample's value as Prometheus writes it, a string ("0.95", "NaN", "+Inf"). NaN for
    anything else: the core judges a non-finite value Inconclusive, with the value shown."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def one_series(values: Sequence[float]) -> QueryResult:
    """The values of the series an instant read saw: one is the check's value; none or
    several are only counted."""
    if len(values) == 1:
        return QueryResult(value=values[0], series=1)
    return QueryResult(series=len(values))


def reduce_instant(data: Mapping[str, Any]) -> QueryResult:
    """The `data` of an instant query's answer ({"resultType": ..., "result": ...})."""
    kind = data.get("resultType")
    if kind == "scalar":
        return QueryResult(value=sample_value(data["result"][1]), series=1)
    if kind != "vector":
        return QueryResult(error=f"result is a {kind}, not an instant vector")
    result = data.get("result") or []
    if len(result) != 1:
        return QueryResult(series=len(result))  # a value only read from a single series
    return one_series([sample_value(result[0]["value"][1])])
