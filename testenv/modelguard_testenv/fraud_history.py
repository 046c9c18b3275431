"""The backtest's reference history: a week of a fraud model's accuracy, v1 healthy
throughout, v2 live for its last day and degrading at a known minute, backfilled into a
TSDB. Shared by the e2e test (tests/e2e/test_backtest.py) and the benchmark
(benchmarks/backtest.py), so the benchmark measures what the test proves correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from modelguard_testenv.history import HistorySeries, backfill

STEP = timedelta(seconds=30)
ACCURACY = 'model_accuracy{model="fraud",version="{{version}}"}'
LATENCY = 'model_latency_seconds{model="fraud",version="{{version}}"}'


@dataclass(frozen=True)
class FraudHistory:
    start: datetime  # a week before end
    live_at: datetime  # v2 goes live
    degrades_at: datetime  # v2's accuracy falls from 0.95 to 0.80
    end: datetime  # the last sample (half a minute ago when written)


def fraud_history(
    data_dir: Path, workdir: Path, *, live_before_end: timedelta = timedelta(days=1)
) -> FraudHistory:
    """Backfill the history into data_dir, ending now (on the 30 s grid)."""
    now = datetime.now(UTC).timestamp()
    end = datetime.fromtimestamp(now - now % 30 - 30, UTC)
    start = end - timedelta(days=7)
    live_at = end - live_before_end
    degrades_at = live_at + timedelta(minutes=20)

    def grid(begin: datetime) -> list[float]:
        n = int((end - begin) / STEP) + 1
        return [begin.timestamp() + i * STEP.total_seconds() for i in range(n)]

    v1 = [(t, 0.95) for t in grid(start)]
    v2 = [(t, 0.95 if t < degrades_at.timestamp() else 0.80) for t in grid(live_at)]
    labels = {"model": "fraud"}
    series = [
        HistorySeries("model_accuracy", labels | {"version": "v1"}, v1),
        HistorySeries("model_accuracy", labels | {"version": "v2"}, v2),
        # Per pod, not aggregated: a query on it returns two series (lint must say so).
        *(
            HistorySeries(
                "model_latency_seconds",
                labels | {"version": "v2", "pod": pod},
                [(t, 0.1) for t in grid(end - timedelta(hours=1))],
            )
            for pod in ("a", "b")
        ),
    ]
    backfill(series, data_dir, workdir)
    return FraudHistory(start=start, live_at=live_at, degrades_at=degrades_at, end=end)


def model_deployment(url: str, *, latency: bool = False) -> str:
    """The ModelDeployment the history is judged by (YAML)."""
    latency_check = (
        f"""
      - name: latency
        query: '{LATENCY}'
        max: 0.25"""
        if latency
        else ""
    )
    return f"""apiVersion: modelguard.io/v1alpha1
kind: ModelDeployment
metadata: {{name: fraud-scorer, namespace: risk}}
spec:
  targetRef: {{name: fraud-scorer, container: server}}
  version: {{modelTag: v2}}
  analysis:
    prometheus: {{url: "{url}"}}
    interval: 30s
    warmup: 2m
    failureThreshold: 3
    promoteAfter: 1h
    checks:
      - name: accuracy
        query: '{ACCURACY}'
        min: 0.9{latency_check}
"""
