"""The CLI's tables and views, from ModelDeployment objects as the API server returns them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from modelguard.cli import render as cli_render
from modelguard.cli import views
from modelguard.core import api

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def degraded() -> dict[str, Any]:
    """A ModelDeployment two failed evaluations into a bad release."""
    return {
        "apiVersion": "modelguard.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud-scorer", "namespace": "risk"},
        "spec": {
            "targetRef": {"name": "fraud-scorer", "container": "server"},
            "version": {"image": "registry.example/fraud-scorer:2.4.0"},
            "analysis": {
                "prometheus": {"url": "http://prometheus:9090"},
                "failureThreshold": 3,
                "checks": [
                    {"name": "accuracy", "query": "q1", "min": 0.92},
                    {
                        "name": "accuracy-vs-stable",
                        "query": "q2",
                        "baselineQuery": "b2",
                        "maxDrop": 0.02,
                        "samplesQuery": "s2",
                        "minSamples": 500,
                    },
                    {"name": "latency-p95", "query": "q3", "max": 0.3},
                ],
            },
            "killSwitch": {"enabled": False},
        },
        "status": {
            "phase": "Degraded",
            "currentVersion": {
                "image": "registry.example/fraud-scorer:2.4.0",
                "since": "2026-11-20T11:50:00Z",
            },
            "stableVersion": {
                "image": "registry.example/fraud-scorer:2.3.1",
                "since": "2026-11-19T09:00:00Z",
            },
            "knownGoodVersions": [{"image": "registry.example/fraud-scorer:2.3.1"}],
            "consecutiveFailures": 2,
            "lastEvaluation": {
                "time": "2026-11-20T11:59:30Z",
                "version": "2.4.0",
                "verdict": "Failed",
                "checks": [
                    {
                        "name": "accuracy",
                        "query": "q1",
                        "value": 0.81,
                        "verdict": "Failed",
                        "message": "below min",
                    },
                    {
                        "name": "accuracy-vs-stable",
                        "query": "q2",
                        "value": 0.9,
                        "baseline": 0.93,
                        "samples": 1200,
                        "verdict": "Failed",
                    },
                    {
                        "name": "latency-p95",
                        "query": "q3",
                        "value": 0.21,
                        "verdict": "Passed",
                    },
                ],
            },
            "history": [
                {
                    "version": "2.4.0",
                    "since": "2026-11-20T11:50:00Z",
                    "outcome": "Live",
                },
                {
                    "version": "2.3.1",
                    "since": "2026-11-19T09:00:00Z",
                    "outcome": "Promoted",
                    "reason": "passed for 10m",
                },
            ],
            "quarantinedVersions": [
                {
                    "image": "registry.example/fraud-scorer:2.3.9",
                    "since": "2026-11-18T10:00:00Z",
                    "reason": "accuracy 0.70 < 0.92 for 3 evaluations",
                }
            ],
            "conditions": [
                {
                    "type": "Degraded",
                    "status": "True",
                    "reason": "ChecksFailing",
                    "message": "2 of 3 consecutive evaluations failed",
                    "lastTransitionTime": "2026-11-20T11:55:00Z",
                }
            ],
        },
    }


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(name))


# --------------------------------------------------------------------------- primitives


def test_table_aligns_columns_and_leaves_the_last_unpadded() -> None:
    out = views.table(["A", "LONGER", "LAST"], [["xx", "y", "z"], ["x", "yyyyyyy", ""]])
    assert out.splitlines() == ["A    LONGER    LAST", "xx   y         z", "x    yyyyyyy"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "n/a"), (0.81, "0.81"), (0.123456, "0.1235"), (500.0, "500"), (float("nan"), "NaN")],
)
def test_number(value: float | None, text: str) -> None:
    assert views.number(value) == text


def test_age_and_timestamp() -> None:
    assert views.age(datetime(2026, 11, 20, 11, 59, 0, tzinfo=UTC), NOW) == "60s"
    assert views.age(datetime(2026, 11, 20, 11, 0, 0, tzinfo=UTC), NOW) == "60m"
    assert views.age(datetime(2026, 11, 17, 12, 0, 0, tzinfo=UTC), NOW) == "3d"
    assert views.timestamp(NOW) == "2026-11-20 12:00:00Z"
    assert views.timestamp(None) == "-"


# --------------------------------------------------------------------------- checks


def _check(**fields: Any) -> api.CheckResult:
    return api.CheckResult.model_validate({"name": "c", "query": "q", **fields})


@pytest.mark.parametrize(
    ("spec", "fields", "text"),
    [
        ({"min": 0.92}, {"value": 0.81, "verdict": "Failed"}, "c=0.81<0.92 Failed"),
        ({"min": 0.92}, {"value": 0.95, "verdict": "Passed"}, "c=0.95>=0.92 Passed"),
        ({"max": 0.3}, {"value": 0.5, "verdict": "Failed"}, "c=0.5>0.3 Failed"),
        ({"max": 0.3}, {"value": 0.2, "verdict": "Passed"}, "c=0.2<=0.3 Passed"),
        ({"min": 1, "max": 2}, {"value": 1.5, "verdict": "Passed"}, "c=1.5 in [1, 2] Passed"),
        (
            {"maxDrop": 0.02, "minSamples": 500},
            {"value": 0.9, "baseline": 0.93, "samples": 120, "verdict": "Inconclusive"},
            "c=0.9 vs 0.93 (drop 0.03>0.02) n=120<500 Inconclusive",
        ),
        (
            {"maxIncrease": 0.05},
            {"value": 0.12, "baseline": 0.1, "verdict": "Passed"},
            "c=0.12 vs 0.1 (rise 0.02<=0.05) Passed",
        ),
        ({"min": 0.92}, {"verdict": "Inconclusive"}, "c=n/a Inconclusive"),
        (None, {"value": 3, "threshold": ">= 5", "verdict": "Failed"}, "c=3 (>= 5) Failed"),
    ],
)
def test_describe_check(spec: dict[str, Any] | None, fields: dict[str, Any], text: str) -> None:
    assert views.describe_check(_check(**fields), spec) == text


def test_threshold_prefers_what_the_operator_recorded() -> None:
    assert views.threshold_text(_check(verdict="Passed", threshold="min 0.9"), {}) == "min 0.9"
    derived = views.threshold_text(_check(verdict="Passed"), {"min": 0.9, "maxDrop": 0.02})
    assert derived == ">=0.9 drop<=0.02"


# --------------------------------------------------------------------------- status table


def test_status_table_shows_versions_failures_and_per_check_verdicts() -> None:
    out = cli_render.status_table([degraded()], all_namespaces=False)
    header = out.splitlines()[0].split()
    assert header[:6] == ["NAME", "PHASE", "CURRENT", "STABLE", "DESIRED", "KILLED"]
    row = _row(out, "fraud-scorer")
    assert row.split()[:7] == ["fraud-scorer", "Degraded", "2.4.0", "2.3.1", "2.4.0", "no", "2/3"]
    assert row.endswith(
        "Failed (accuracy=0.81<0.92 Failed, "
        "accuracy-vs-stable=0.9 vs 0.93 (drop 0.03>0.02) n=1200 Failed, "
        "latency-p95=0.21<=0.3 Passed)"
    )


def test_status_table_with_namespaces_is_sorted() -> None:
    other = degraded()
    other["metadata"] = {"name": "a-model", "namespace": "zeta"}
    out = cli_render.status_table([other, degraded()], all_namespaces=True)
    lines = out.splitlines()
    assert lines[0].startswith("NAMESPACE")
    assert lines[1].startswith("risk")
    assert lines[2].startswith("zeta")


@pytest.mark.parametrize(
    ("enabled", "engaged", "state"),
    [
        (True, True, "yes: bad scores"),
        (True, False, "requested: bad scores"),
        (False, True, "releasing"),
        (False, False, "no"),
    ],
)
def test_kill_state_tells_a_request_from_its_enforcement(
    enabled: bool, engaged: bool, state: str
) -> None:
    obj = degraded()
    obj["spec"]["killSwitch"] = {"enabled": enabled, "reason": "bad scores" if enabled else ""}
    obj["status"]["killSwitch"] = {"engaged": engaged}
    assert views.kill_state(views.view(obj)) == state


def test_new_resource_without_status_or_analysis() -> None:
    obj = {
        "metadata": {"name": "bare", "namespace": "default"},
        "spec": {"targetRef": {"name": "bare"}, "version": {"modelTag": "v7"}},
    }
    row = _row(cli_render.status_table([obj], all_namespaces=False), "bare")
    assert row.split() == ["bare", "-", "-", "-", "v7", "no", "-", "-"]
    detail = cli_render.status_detail(obj, NOW)
    assert "no status yet" in detail


def test_unreadable_status_does_not_hide_the_resource() -> None:
    obj = degraded()
    obj["status"]["phase"] = "SomethingNew"
    row = _row(cli_render.status_table([obj], all_namespaces=False), "fraud-scorer")
    assert row.split()[1] == "?"
    assert "not readable" in cli_render.status_detail(obj, NOW)


# --------------------------------------------------------------------------- detail


def test_status_detail_has_checks_conditions_and_quarantine() -> None:
    out = cli_render.status_detail(degraded(), NOW)
    assert "Phase:        Degraded" in out
    assert "Current:      2.4.0 (registry.example/fraud-scorer:2.4.0), since" in out
    assert "Failures:     2/3 consecutive" in out
    assert "Last evaluation: Failed for 2.4.0 at 2026-11-20 11:59:30Z (30s ago)" in out
    check_row = _row(out, "  accuracy ")
    assert check_row.split() == ["accuracy", "0.81", "-", "-", ">=0.92", "Failed", "below", "min"]
    assert _row(out, "  Degraded").split()[:4] == ["Degraded", "True", "ChecksFailing", "5m"]
    assert "2.3.9" in _row(out, "  2.3.9")
    assert "accuracy 0.70 < 0.92" in out


def test_status_detail_of_an_engaged_kill_switch() -> None:
    obj = degraded()
    obj["spec"]["killSwitch"] = {"enabled": True, "reason": "fraud spike", "mode": "fallback"}
    obj["status"]["killSwitch"] = {
        "engaged": True,
        "since": "2026-11-20T11:58:00Z",
        "reason": "fraud spike",
        "requestedBy": "alice",
        "saved": {"replicas": 4, "selector": {"app": "fraud-scorer"}},
    }
    out = cli_render.status_detail(obj, NOW)
    assert "Kill switch:  engaged, mode fallback" in out
    assert "engaged since 2026-11-20 11:58:00Z (2m ago) by alice" in out
    assert "reason: fraud spike" in out
    assert "saved for release: replicas=4 selector=app=fraud-scorer" in out


# --------------------------------------------------------------------------- history


def test_history_is_oldest_first_with_quarantine_and_known_good() -> None:
    out = cli_render.history_view(degraded())
    lines = out.splitlines()
    assert lines[0].split() == ["VERSION", "SINCE", "OUTCOME", "REASON"]
    assert lines[1].split()[0] == "2.3.1"
    assert lines[1].endswith("Promoted   passed for 10m")
    assert lines[2].split()[0] == "2.4.0"
    assert "Quarantined versions:" in out
    assert "Known good versions: 2.3.1" in out


def test_history_shows_the_kill_switch_audit_trail_oldest_first() -> None:
    obj = copy.deepcopy(degraded())
    obj["status"]["killSwitchHistory"] = [
        {
            "engagedAt": "2026-11-19T08:00:00Z",
            "engagedBy": "alice@example.com",
            "reason": "INC-41: wrong scores",
            "mode": "scaleToZero",
            "releasedAt": "2026-11-19T09:30:00Z",
            "releasedBy": "unknown (field manager kubectl-patch)",
        },
        {
            "engagedAt": "2026-11-20T11:58:00Z",
            "engagedBy": "bob",
            "reason": "INC-42",
            "mode": "fallback",
        },
    ]
    lines = cli_render.history_view(obj).splitlines()
    start = lines.index("Kill switch:")
    header, first, second = lines[start + 1 : start + 4]
    assert header.split() == ["ENGAGED", "BY", "MODE", "RELEASED", "RELEASED", "BY", "REASON"]
    assert first.split()[:4] == ["2026-11-19", "08:00:00Z", "alice@example.com", "scaleToZero"]
    assert "2026-11-19 09:30:00Z   unknown (field manager kubectl-patch)" in first
    assert first.endswith("INC-41: wrong scores")
    assert "still engaged" in second and second.endswith("INC-42")
    assert cli_render.history_json(obj)["killSwitchHistory"][1]["engagedBy"] == "bob"


def test_history_of_a_kill_switch_never_engaged() -> None:
    assert "Kill switch:\n  never engaged" in cli_render.history_view(degraded())


def test_history_without_status() -> None:
    obj = copy.deepcopy(degraded())
    del obj["status"]
    assert "no status yet" in cli_render.history_view(obj)


def test_json_views_are_serialisable_and_keep_raw_status() -> None:
    obj = degraded()
    data = cli_render.status_json([obj])
    assert data["items"][0]["status"]["phase"] == "Degraded"
    assert data["items"][0]["killSwitch"] == {"enabled": False}
    history = cli_render.history_json(obj)
    assert [h["version"] for h in history["history"]] == ["2.4.0", "2.3.1"]
    json.dumps(data)
    json.dumps(history)


def test_status_detail_of_a_kill_request_the_operator_has_not_confirmed() -> None:
    obj = degraded()
    obj["spec"]["killSwitch"] = {"enabled": True, "reason": "fraud spike"}
    out = cli_render.status_detail(obj, NOW)
    assert "requested, mode scaleToZero, not yet engaged by the operator" in out
    assert "reason: fraud spike" in out


def with_proportion(evidence: dict[str, Any], verdict: str = "Inconclusive") -> dict[str, Any]:
    obj = degraded()
    obj["spec"]["analysis"]["checks"].append(
        {
            "name": "accuracy-ab",
            "proportion": {"successQuery": "s{{version}}", "totalQuery": "t{{version}}"},
        }
    )
    obj["status"]["lastEvaluation"]["checks"].append(
        {
            "name": "accuracy-ab",
            "query": "(s) / (t)",
            "value": 0.85,
            "baseline": 0.9,
            "samples": 1000,
            "threshold": "difference >= -0.02 (sequential, alpha 0.05)",
            "proportion": {"test": "sequential", **evidence},
            "verdict": verdict,
            "reason": "Undecided",
        }
    )
    return obj


UNDECIDED = {
    "successes": 850,
    "total": 1000,
    "stableSuccesses": 900,
    "stableTotal": 1000,
    "estimate": -0.05,
    "low": -0.0996,
    "high": -0.0004,
    "samplesNeeded": 1317,
    "stableSamplesNeeded": 1317,
}


def test_status_detail_shows_a_proportion_checks_interval_and_samples_needed() -> None:
    out = cli_render.status_detail(with_proportion(UNDECIDED), NOW)
    row = _row(out, "  accuracy-ab ")
    assert row.split()[:5] == ["accuracy-ab", "0.85", "0.9", "n=1000/1000", "need"]
    assert "+1317/+1317" in row
    assert (
        "  accuracy-ab: diff -0.0500 in [-0.0996, -0.0004] n=1000/1000 need +1317/+1317 "
        "(difference >= -0.02 (sequential, alpha 0.05))"
    ) in out.splitlines()


@pytest.mark.parametrize(
    ("evidence", "text"),
    [
        pytest.param(UNDECIDED, "need +1317/+1317", id="undecided"),
        pytest.param(
            {**UNDECIDED, "samplesNeeded": 0, "stableSamplesNeeded": 0}, "need decided", id="done"
        ),
        pytest.param(
            {k: v for k, v in UNDECIDED.items() if "amplesNeeded" not in k},
            "need never at this estimate",
            id="on-the-margin",
        ),
        pytest.param({"total": 3, "stableTotal": 0}, "n=3/0", id="too-few"),
    ],
)
def test_proportion_text(evidence: dict[str, Any], text: str) -> None:
    result = api.CheckResult.model_validate(
        {
            "name": "a",
            "query": "q",
            "verdict": "Inconclusive",
            "proportion": {"test": "sequential", **evidence},
        }
    )
    assert views.proportion_text(result).endswith(text)
    assert views.describe_check(result, None) == f"a {views.proportion_text(result)} Inconclusive"


def test_the_fleet_verdict_line_shows_the_proportion_interval() -> None:
    line = views.last_verdict(views.view(with_proportion(UNDECIDED)))
    assert "accuracy-ab diff -0.0500 in [-0.0996, -0.0004] n=1000/1000" in line


def canary_in_progress() -> dict[str, Any]:
    """v2.5 at the second of three steps, beside the stable 2.3.1."""
    obj = degraded()
    obj["spec"]["canary"] = {"steps": [5, 20, 50]}
    obj["status"]["phase"] = "Progressing"
    obj["status"]["canary"] = {
        "version": {"image": "registry.example/fraud-scorer:2.5.0"},
        "phase": "Progressing",
        "step": 1,
        "desiredWeight": 20,
        "actualWeight": 18.2,
        "canaryReplicas": 2,
        "canaryReadyReplicas": 2,
        "stableReadyReplicas": 9,
        "startedAt": "2026-11-20T11:00:00Z",
        "stepStartedAt": "2026-11-20T11:40:00Z",
        "readyAt": "2026-11-20T11:41:00Z",
    }
    return obj


def test_status_shows_the_canary_step_and_weights() -> None:
    out = cli_render.status_table([canary_in_progress(), degraded()], all_namespaces=True)
    assert "CANARY" in out.splitlines()[0].split()
    assert "2.5.0 20%/18.2%" in out
    detail = cli_render.status_detail(canary_in_progress(), NOW)
    assert (
        "Canary:       2.5.0 Progressing, step 2/3: 20% desired, 18.2% actual "
        "(2/2 canary, 9 stable Ready)"
    ) in detail


def test_no_canary_column_without_a_canary() -> None:
    out = cli_render.status_table([degraded()], all_namespaces=False)
    assert "CANARY" not in out
    assert "Canary:" not in cli_render.status_detail(degraded(), NOW)


def test_a_canary_stopped_by_the_kill_switch_says_so() -> None:
    obj = canary_in_progress()
    obj["status"]["canary"]["savedReplicas"] = 2
    detail = cli_render.status_detail(obj, NOW)
    assert "stopped by the kill switch (saved replicas 2)" in detail


def test_status_detail_names_the_template_behind_a_check() -> None:
    obj = degraded()
    plain = cli_render.status_detail(obj, NOW)
    assert "TEMPLATE" not in plain  # no template: the table it always had
    checks = obj["status"]["lastEvaluation"]["checks"]
    checks[0]["template"] = "ClusterModelCheckTemplate/f1-score"
    out = cli_render.status_detail(obj, NOW)
    assert _row(out, "  CHECK ").split()[:2] == ["CHECK", "TEMPLATE"]
    assert _row(out, "  accuracy ").split()[:3] == [
        "accuracy",
        "ClusterModelCheckTemplate/f1-score",
        "0.81",
    ]
    assert _row(out, "  latency-p95 ").split()[1] == "-"
