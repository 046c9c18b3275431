"""`modelguard backtest`: a replay fixture gives what simulate gives over the same series,
and the range client chunks a long window under Prometheus' point limit.

The HTTP server here answers the range API from a function of time, and refuses more
than 11,000 points per series exactly as Prometheus does; real Prometheus (a backfilled
TSDB) is in tests/e2e/test_backtest.py.
"""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from modelguard.cli.errors import CliError
from modelguard.cli.main import main
from modelguard.cli.prometheus import PrometheusClient
from modelguard.cli.simulate import load
from modelguard.core.api import HistoryEntry, Outcome
from modelguard.core.replay import recorded
from modelguard.core.replay.history import rollouts_from_history

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "simulate"
SINGLE_ROLLOUT = ["consecutive-failures", "no-data-hold", "no-data-fail", "min-samples"]
# The fake Prometheus refuses what the real one does: more points per series than this.
PROMETHEUS_MAX_POINTS = 11_000


def _model_deployment(spec: dict[str, Any], path: Path) -> str:
    doc: dict[str, Any] = {"apiVersion": "modelguard.io/v1alpha1", "kind": "ModelDeployment"}
    doc |= {"metadata": {"name": "model", "namespace": "default"}, "spec": spec}
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize("name", SINGLE_ROLLOUT)
def test_backtest_over_a_fixture_equals_simulate_over_the_same_series(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario_path = EXAMPLES / f"{name}.yaml"
    ((_, sim),) = load(str(scenario_path))
    start, end = sim.scenario.rollouts[0].at, sim.scenario.end
    fixture = tmp_path / "fixture.json"
    fixture.write_text(json.dumps(recorded.dump(sim.recordings, sim.step, start, end)))
    md = _model_deployment(yaml.safe_load(scenario_path.read_text())["spec"], tmp_path / "md.yaml")

    assert main(["simulate", str(scenario_path), "-o", "json"]) == 0
    simulated = json.loads(capsys.readouterr().out)
    args = ["backtest", "-f", md, "--replay", str(fixture), "--version", "v2"]
    assert main([*args, "--stable-version", "v1", "-o", "json"]) == 0
    backtested = json.loads(capsys.readouterr().out)
    assert backtested["timeline"] == simulated["timeline"]
    assert backtested["outcomes"] == simulated["outcomes"]
    assert backtested["summary"] == simulated["summary"]


def test_expect_exits_2_when_it_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario_path = EXAMPLES / "consecutive-failures.yaml"
    ((_, sim),) = load(str(scenario_path))
    fixture = tmp_path / "fixture.json"
    start = sim.scenario.rollouts[0].at
    fixture.write_text(json.dumps(recorded.dump(sim.recordings, sim.step, start, sim.scenario.end)))
    md = _model_deployment(yaml.safe_load(scenario_path.read_text())["spec"], tmp_path / "md.yaml")
    base = ["backtest", "-f", md, "--replay", str(fixture), "--version", "v2"]
    base += ["--stable-version", "v1"]
    assert main([*base, "--expect", "rollback"]) == 0
    assert main([*base, "--expect", "no-rollback"]) == 2
    assert "expected no rollback of v2" in capsys.readouterr().err
    # 21 failures in a row at most in this window: 30 never rolls back.
    assert main([*base, "--set", "analysis.failureThreshold=30", "--expect", "rollback"]) == 2


# --------------------------------------------------------------------------- range client


class FakePrometheus:
    """The range and instant query API over `value(query, t)` (None: no point)."""

    def __init__(self, value: Callable[[str, float], float | None]) -> None:
        self.requests: list[dict[str, str]] = []
        self.headers: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.requests.append(params)
                outer.headers.append(self.headers.get("Authorization"))
                status, body = outer.answer(url.path, params, value)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def answer(
        path: str, params: dict[str, str], value: Callable[[str, float], float | None]
    ) -> tuple[int, dict[str, Any]]:
        if path == "/api/v1/status/runtimeinfo":
            return 200, {"status": "success", "data": {"storageRetention": "15d"}}
        query = params["query"]
        if "(" in query and ")" not in query:
            return 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        points = math.floor((end - start) / step) + 1
        if points > PROMETHEUS_MAX_POINTS:
            error = "exceeded maximum resolution of 11,000 points per timeseries. Try ..."
            return 400, {"status": "error", "errorType": "bad_data", "error": error}
        values = []
        for i in range(points):
            t = start + i * step
            v = value(query, t)
            if v is not None:
                values.append([t, str(v)])
        result = [{"metric": {}, "values": values}] if values else []
        return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}


@pytest.fixture
def fake_prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus(lambda q, t: t % 1000)
    yield server
    server.httpd.shutdown()


def test_a_long_window_is_fetched_in_chunks_under_the_point_limit(
    fake_prometheus: FakePrometheus,
) -> None:
    client = PrometheusClient(fake_prometheus.url, token="s3cret")
    start = datetime(2026, 11, 13, tzinfo=UTC)
    step = timedelta(seconds=30)
    end = start + timedelta(days=7)  # 20,161 points at 30 s
    got = client.query_range("up", start, end, step)
    assert len(fake_prometheus.requests) == 3
    assert client.range_requests == 3
    (series,) = got.series
    expected = [start.timestamp() + i * 30 for i in range(20_161)]
    assert list(series.times) == expected  # every step, once, in order, across chunks
    assert series.values[5] == expected[5] % 1000
    assert set(fake_prometheus.headers) == {"Bearer s3cret"}


def test_bad_promql_is_recorded_as_the_operator_would_see_it(
    fake_prometheus: FakePrometheus,
) -> None:
    client = PrometheusClient(fake_prometheus.url)
    start = datetime(2026, 11, 13, tzinfo=UTC)
    got = client.query_range("sum(up", start, start + timedelta(hours=1), timedelta(seconds=30))
    assert got.invalid_query
    assert got.error == "bad PromQL: parse error"


def test_record_then_replay_gives_the_same_backtest(
    fake_prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = yaml.safe_load((EXAMPLES / "consecutive-failures.yaml").read_text())["spec"]
    md = _model_deployment(spec, tmp_path / "md.yaml")
    record = tmp_path / "rec.json"
    window = ["--from", "2026-11-20T10:00:00Z", "--to", "2026-11-20T11:00:00Z"]
    base = ["backtest", "-f", md, "--version", "v2", "--stable-version", "v1", "-o", "json"]
    assert main([*base, *window, "--prometheus", fake_prometheus.url, "--record", str(record)]) == 0
    live = capsys.readouterr()
    assert "1 range queries (1 requests)" in live.err
    assert main([*base, "--replay", str(record)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(live.out)


def test_the_shipped_fixture_sweeps_to_the_readme_rows(capsys: pytest.CaptureFixture[str]) -> None:
    here = EXAMPLES.parent / "backtest"
    args = ["backtest", "-f", str(here / "fraud-scorer.yaml"), "--replay"]
    args += [str(here / "recording.json"), "--version", "v2", "--stable-version", "v1"]
    assert main([*args, "--sweep", "analysis.failureThreshold=1,3,5", "--healthy", "v1"]) == 0
    rows = [r.split() for r in capsys.readouterr().out.splitlines()[1:]]
    # v2 degrades at 17:28: the 1st, 3rd and 5th failed evaluation, 30 s apart.
    assert rows == [
        ["analysis.failureThreshold=1", "v2", "17:28:00", "+20m", "0", "0%"],
        ["analysis.failureThreshold=3", "v2", "17:29:00", "+21m", "0", "0%"],
        ["analysis.failureThreshold=5", "v2", "17:30:00", "+22m", "0", "0%"],
    ]


def _entry(version: str, minute: int, reason: str) -> HistoryEntry:
    since = datetime(2026, 11, 20, 10, minute, tzinfo=UTC)
    return HistoryEntry(version=version, since=since, outcome=Outcome.LIVE, reason=reason)


HISTORY = [
    _entry("v1", 0, "running when modelguard adopted it"),
    _entry("v2", 0, "desired version changed from v1"),
    _entry("v1", 11, "rolled back from v2"),  # the operator's own: decided again
    _entry("v3", 30, "desired version changed from v2"),
]


def test_history_gives_the_stable_version_and_the_rollouts() -> None:
    t = datetime(2026, 11, 20, 10, tzinfo=UTC)
    stable, rollouts = rollouts_from_history(HISTORY, t, t + timedelta(hours=1))
    assert stable == "v1"
    assert [(r.version, r.at) for r in rollouts] == [
        ("v2", t),
        ("v3", t + timedelta(minutes=30)),
    ]
    # A window that starts after v2 went live: v3 is the rollout, v1 (there before) stable.
    stable, rollouts = rollouts_from_history(
        HISTORY, t + timedelta(minutes=20), t + timedelta(hours=1)
    )
    assert stable == "v1"
    assert [r.version for r in rollouts] == ["v3"]


def test_from_history_replays_what_the_live_object_recorded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = yaml.safe_load((EXAMPLES / "consecutive-failures.yaml").read_text())
    ((_, sim),) = load(str(EXAMPLES / "consecutive-failures.yaml"))
    start = sim.scenario.rollouts[0].at
    fixture = tmp_path / "fixture.json"
    fixture.write_text(json.dumps(recorded.dump(sim.recordings, sim.step, start, sim.scenario.end)))
    live = {
        "metadata": {"namespace": "default", "name": "model"},
        "spec": scenario["spec"],
        "status": {"history": [h.model_dump(mode="json", by_alias=True) for h in HISTORY[:2]]},
    }

    class Session:
        def get(self, namespace: str, name: str) -> dict[str, Any]:
            assert (namespace, name) == ("default", "model")
            return live

    monkeypatch.setattr("modelguard.cli.backtest.connect", lambda args: Session())
    args = ["backtest", "--from-history", "default/model", "--replay", str(fixture)]
    assert main([*args, "-o", "json", "--expect", "rollback"]) == 0
    out = capsys.readouterr()
    assert "from history: v2 at 2026-11-20T10:00:00+00:00" in out.err
    (v2,) = json.loads(out.out)["outcomes"]
    assert v2["rolledBackAt"] == "2026-11-20T10:10:00+00:00"  # as simulate says


def test_an_unreachable_prometheus_is_named_without_the_credentials_in_its_url() -> None:
    """A `--prometheus http://user:password@host` is a credential: an error names the host."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PrometheusClient(f"http://reader:hunter2@127.0.0.1:{port}", timeout=2)
    with pytest.raises(CliError) as caught:
        client.query("up")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "hunter2" not in message
    assert "reader" not in message
