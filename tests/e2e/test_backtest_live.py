"""The live operator and the backtest of what it saw decide the same thing.

A degraded v2 goes live against the real operator (real API server, Prometheus,
exporter). Then `modelguard backtest --from-history` reads the object's status.history
from the API server, fetches from the same Prometheus the series the operator queried,
and replays them: the same version rolled back, to the same target, after the same
number of evaluations, all Failed. (The times differ by the Deployment's rollout, which
the replay does not wait for: it only says the replay is not later than the operator.)
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from modelguard.cli.main import main
from modelguard_testenv import ControlPlane, PrometheusServer, SyntheticModelExporter
from modelguard_testenv.operator_process import OperatorProcess
from tests.e2e.cluster import Cluster
from tests.e2e.scenarios import MD, accuracy_spec, events, promote_v1, version

pytestmark = pytest.mark.e2e

THRESHOLD = 3


def test_backtest_of_the_recorded_history_matches_the_live_decision(
    cluster: Cluster,
    control_plane: ControlPlane,
    operator: OperatorProcess,
    prometheus: PrometheusServer,
    exporter: SyntheticModelExporter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = accuracy_spec(
        prometheus.url, cluster.namespace, "v1", failure_threshold=THRESHOLD, promote_after="2s"
    )
    promote_v1(cluster, exporter, spec, {"v1": 0.95, "v2": 0.80})
    cluster.patch_spec(MD, {"version": version("v2")})
    cluster.wait(
        lambda: any(
            h.get("reason", "").startswith("rolled back from v2")
            for h in cluster.status(MD).get("history", [])
        ),
        timeout=40,
        what="v2 rolled back",
    )
    # The Events are posted after the status that records them: wait for the last one.
    cluster.wait(lambda: events(cluster, "RolledBack"), timeout=10, what="RolledBack Event")
    history = cluster.status(MD)["history"]
    went_live = next(h for h in history if h["version"] == "v2")
    rolled_back = next(h for h in history if h["reason"].startswith("rolled back from v2"))
    live_at = datetime.fromisoformat(went_live["since"].replace("Z", "+00:00"))
    rollback_at = datetime.fromisoformat(rolled_back["since"].replace("Z", "+00:00"))
    # The operator's count: one CheckFailed Event per failure below the threshold, then
    # the RolledBack one (each evaluation of v2 failed: its accuracy is 0.80 throughout).
    failed = [e for e in events(cluster, "CheckFailed") if "Version v2 failed" in e["message"]]
    live_evaluations = len(failed) + len(events(cluster, "RolledBack"))
    assert live_evaluations == THRESHOLD

    window_start = (live_at - timedelta(seconds=1)).replace(microsecond=0)
    args = ["backtest", "--from-history", f"{cluster.namespace}/{MD}"]
    args += ["--kubeconfig", str(control_plane.kubeconfig_path)]
    args += [
        "--from",
        window_start.isoformat(),
        "--to",
        (rollback_at + timedelta(seconds=5)).isoformat(),
    ]
    args += ["--step", "1s", "-o", "json", "--expect", "rollback"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "from history: v2 at" in out.err
    (v2,) = json.loads(out.out)["outcomes"]
    assert v2["version"] == "v2"
    assert v2["rolledBackTo"] == "v1"
    assert v2["evaluations"] == live_evaluations
    assert v2["verdicts"] == {"Passed": 0, "Failed": THRESHOLD, "Inconclusive": 0}
    replayed_at = datetime.fromisoformat(v2["rolledBackAt"])
    assert live_at < replayed_at <= rollback_at + timedelta(seconds=1)
