"""The scale benchmark's readings: the figures it reports are only as good as these."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from benchmarks.scaling import readings
from benchmarks.scaling.report import judge, merge

OPERATOR = readings.OPERATOR_USER


def test_bucket_quantile_interpolates_linearly_inside_the_bucket() -> None:
    # 100 observations: 50 in (0, 0.5], 40 in (0.5, 1], 10 in (1, 2.5].
    buckets = {0.5: 50.0, 1.0: 90.0, 2.5: 100.0, math.inf: 100.0}
    assert readings.bucket_quantile(0.5, buckets) == pytest.approx(0.5)
    assert readings.bucket_quantile(0.7, buckets) == pytest.approx(0.75)
    assert readings.bucket_quantile(0.95, buckets) == pytest.approx(1.75)
    assert readings.bucket_max(buckets) == 2.5


def test_a_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    buckets = {1.0: 10.0, 5.0: 10.0, math.inf: 100.0}
    assert readings.bucket_quantile(0.95, buckets) == 5.0
    assert readings.bucket_max(buckets) == 5.0


def test_no_observations_give_no_quantile() -> None:
    assert readings.bucket_quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    assert readings.bucket_max({1.0: 0.0, math.inf: 0.0}) is None


EXPOSITION = """# HELP modelguard_evaluation_lag_seconds lag
modelguard_evaluation_lag_seconds_bucket{stage="done",le="1.0"} 3.0
modelguard_evaluation_lag_seconds_bucket{stage="done",le="+Inf"} 4.0
modelguard_evaluation_lag_seconds_bucket{stage="start",le="1.0"} 9.0
modelguard_evaluations_total{verdict="healthy"} 7.0
modelguard_evaluations_total{verdict="degraded"} 2.0
modelguard_evaluations_created 1.7e9
prometheus_http_requests_total{code="200",handler="/api/v1/query"} 11
prometheus_http_requests_total{code="200",handler="/api/v1/query_range"} 5
"""


def test_exposition_totals_and_lag_buckets() -> None:
    assert readings.total(EXPOSITION, "modelguard_evaluations_total") == 9.0
    assert (
        readings.total(EXPOSITION, "prometheus_http_requests_total", handler="/api/v1/query")
        == 11.0
    )
    assert readings.lag_buckets(EXPOSITION) == {1.0: 3.0, math.inf: 4.0}
    assert readings.lag_buckets("modelguard_evaluations_total 1\n") is None


def _event(stage: str, verb: str, at: str, user: str = OPERATOR, **ref: str) -> dict[str, Any]:
    return {
        "stage": stage,
        "verb": verb,
        "user": {"username": user},
        "stageTimestamp": at,
        "objectRef": ref,
    }


def test_audit_counts_the_operators_finished_requests_in_the_window(tmp_path: Path) -> None:
    start = readings._timestamp("2026-12-01T20:00:00.000000Z")
    events = [
        _event("ResponseComplete", "get", "2026-12-01T20:00:01.0Z", resource="deployments"),
        _event(
            "ResponseComplete",
            "patch",
            "2026-12-01T20:00:02.0Z",
            resource="modeldeployments",
            subresource="status",
            name="m1",
        ),
        # a kill's own request, on the killed model during its span
        _event(
            "ResponseComplete",
            "patch",
            "2026-12-01T20:00:03.0Z",
            resource="deployments",
            name="m2",
        ),
        _event("ResponseStarted", "watch", "2026-12-01T20:00:04.0Z", resource="leases"),
        # not counted: another user, the other stage, outside the window
        _event("ResponseComplete", "get", "2026-12-01T20:00:05.0Z", user="admin"),
        _event("ResponseStarted", "get", "2026-12-01T20:00:05.0Z", resource="deployments"),
        _event("ResponseComplete", "get", "2026-12-01T20:00:11.0Z", resource="deployments"),
    ]
    path = tmp_path / "audit.log"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    counts, kills = readings.audit_requests(
        path, start, start + 10, spans=[("m2", start + 2.5, start + 3.5)]
    )
    assert counts == {
        "get deployments": 1,
        "patch modeldeployments/status": 1,
        "patch deployments": 1,
        "watch leases": 1,
    }
    assert kills == {"patch deployments": 1}


def test_targets_and_merge_keep_other_labels(tmp_path: Path) -> None:
    row: dict[str, Any] = {"label": "after", "size": 1000, "operator_cores": 0.05}
    row |= {"rss_peak_mb": 200.0, "api_per_eval": 0.5, "lag_p95": None, "kill_p95": 0.1}
    assert judge(row) == {
        "operator_cores": "yes",
        "rss_peak_mb": "NO",
        "api_per_eval": "yes",
        "lag_p95": "n/a",
        "kill_p95": "yes",
    }
    path = tmp_path / "scale.json"
    before = {"label": "before", "size": 1000}
    path.write_text(json.dumps({"rows": [before, {"label": "after", "size": 1000, "old": 1}]}))
    assert merge(path, [row]) == [before, row]


def test_audit_reads_from_an_offset_on_a_line_boundary_or_not(tmp_path: Path) -> None:
    start = readings._timestamp("2026-12-01T20:00:00Z")
    lines = [
        json.dumps(_event("ResponseComplete", "get", f"2026-12-01T20:00:0{i}Z", resource=r)) + "\n"
        for i, r in enumerate(("a", "b", "c"), start=1)
    ]
    path = tmp_path / "audit.log"
    path.write_text("".join(lines))
    boundary = len(lines[0])
    counts, _ = readings.audit_requests(path, start, start + 10, offset=boundary)
    assert counts == {"get b": 1, "get c": 1}
    counts, _ = readings.audit_requests(path, start, start + 10, offset=boundary + 5)
    assert counts == {"get c": 1}
