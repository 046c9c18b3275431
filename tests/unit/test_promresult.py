"""core.promresult: an instant answer reduced as a check reads it, the one reduction the
CLI's Prometheus client and the backtest's recordings share."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelguard.core.ports import QueryResult
from modelguard.core.promresult import one_series, reduce_instant, sample_value
from modelguard.core.replay import Recorded, Series


def vector(*values: str) -> dict[str, Any]:
    result = [{"metric": {"pod": str(i)}, "value": [1.0, v]} for i, v in enumerate(values)]
    return {"resultType": "vector", "result": result}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (vector("0.95"), QueryResult(value=0.95, series=1)),
        (vector(), QueryResult(series=0)),
        (vector("0.1", "0.2"), QueryResult(series=2)),
        ({"resultType": "scalar", "result": [1.0, "3"]}, QueryResult(value=3.0, series=1)),
        (
            {"resultType": "matrix", "result": []},
            QueryResult(error="result is a matrix, not an instant vector"),
        ),
    ],
)
def test_an_instant_answer_is_one_number_or_a_count_of_series(
    data: dict[str, Any], expected: QueryResult
) -> None:
    assert reduce_instant(data) == expected


def test_non_finite_and_garbage_values_are_kept_as_not_a_usable_number() -> None:
    assert sample_value("+Inf") == math.inf
    assert math.isnan(sample_value("NaN"))
    assert math.isnan(sample_value("not a number"))
    assert math.isnan(sample_value(None))
    value = reduce_instant(vector("oops")).value
    assert value is not None and math.isnan(value)
    assert not reduce_instant(vector("NaN")).usable


def test_a_recording_read_at_a_time_reduces_as_a_live_answer_does() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    step = timedelta(seconds=30)
    one = Series.of({}, [(t0.timestamp(), 0.9)])
    other = Series.of({"pod": "b"}, [(t0.timestamp(), 0.8)])
    assert Recorded((one,)).at(t0, step) == one_series([0.9]) == reduce_instant(vector("0.9"))
    assert Recorded((one, other)).at(t0, step) == reduce_instant(vector("0.9", "0.8"))
    assert Recorded().at(t0, step) == reduce_instant(vector())
