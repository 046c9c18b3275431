"""modelguard backtest and lint against a real Prometheus serving a backfilled week.

The history (testenv fraud_history) is written as OpenMetrics and backfilled with
`promtool tsdb create-blocks-from openmetrics`: v1 healthy all week, v2 live for the last
day and degrading 20 minutes after it went live. The backtest must name the rollback
time the rules give (three failed evaluations at 30 s, the first at the degradation),
fetch a week at 30 s (20,161 points) in chunks under Prometheus' 11,000-point limit,
and lint must find the per-pod query that returns two series.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelguard.cli.main import main
from modelguard_testenv import PrometheusServer
from modelguard_testenv.fraud_history import FraudHistory, fraud_history, model_deployment

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FraudHistory, str]]:
    work = tmp_path_factory.mktemp("backtest")
    data = fraud_history(work / "data", work)
    # 30d: the default 15d would do, but say it: backfilled history must be inside it.
    server = PrometheusServer(data_dir=work / "data", retention="30d", workdir=work / "prom")
    server.start()
    try:
        yield data, server.url
    finally:
        server.close()


def _iso(history: FraudHistory, which: str) -> str:
    return str(getattr(history, which).isoformat())


def test_backtest_names_the_rollback_time_on_real_prometheus(
    history: tuple[FraudHistory, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, url = history
    md = tmp_path / "md.yaml"
    md.write_text(model_deployment(url))
    args = ["backtest", "-f", str(md), "--version", "v2", "--stable-version", "v1"]
    args += ["--from", _iso(data, "start"), "--to", _iso(data, "end")]
    args += ["--live-at", _iso(data, "live_at"), "-o", "json", "--expect", "rollback"]
    assert main(args) == 0
    out = capsys.readouterr()
    (v2,) = json.loads(out.out)["outcomes"]
    # Failed at the degradation, 30 s and 60 s after it: the third is the rollback.
    assert v2["rolledBackAt"] == (data.degrades_at + timedelta(seconds=60)).isoformat()
    assert v2["firstFailedAt"] == data.degrades_at.isoformat()
    assert v2["rolledBackTo"] == "v1"
    # Warmup 2m, then every 30 s: 36 passes up to 19m30s, then the three failures.
    assert v2["evaluations"] == 39
    assert v2["verdicts"] == {"Passed": 36, "Failed": 3, "Inconclusive": 0}
    # v2, then v1 once it runs again: a week at 30 s is 20,161 points, 3 requests each.
    assert "2 range queries (6 requests) over 168h at a 30s step" in out.err


def test_lint_finds_a_query_that_returns_two_series(
    history: tuple[FraudHistory, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = history
    md = tmp_path / "md.yaml"
    md.write_text(model_deployment(url, latency=True))
    assert main(["lint", "-f", str(md), "--prometheus", url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # the accuracy query answers one series: no problem there
    assert ": error: spec.analysis.checks.1.query: returns 2 series now" in lines[0]
