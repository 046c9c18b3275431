"""The rules users trust the operator with, where it used to break them (the "trust" issue):

- a check that compares with {{stableVersion}} before there is one stops nothing;
- promotion needs real evidence: noData=pass alone never makes a version known good;
- reverting spec.version to the version rolled back to ends the rollback;
- watch mode against a GitOps tool that re-applies a quarantined version: reverted at
  once, announced once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from modelguard.core import conditions as cond
from modelguard.core.api import ModelDeploymentStatus, Outcome, Phase, Verdict
from modelguard.core.decision import next_due
from modelguard.core.ports import QueryResult
from modelguard.core.workload import SetVersion
from tests.unit.coresim import ACCURACY, T0, Sim, deployment, make_spec, v
from tests.unit.test_decision import BAD, GOOD, condition, outcomes, promote_current, running_v2

RELATIVE = (
    'avg(avg_over_time(model_accuracy{model="fraud",version="{{version}}"}[5m]))'
    ' - avg(avg_over_time(model_accuracy{model="fraud",version="{{stableVersion}}"}[5m]))'
)


def round_trip(sim: Sim) -> None:
    """What a restart sees: the status as written to and read back from the API server."""
    sim.status = ModelDeploymentStatus.model_validate(sim.status.to_wire())


# --------------------------------------------------------------------------- 1. stableVersion


def with_stable_check(sim: Sim, *, alone: bool = False) -> None:
    """Add (or, alone, use only) a check whose own query needs {{stableVersion}}."""
    stable = {"name": "vs-stable", "query": RELATIVE, "min": -0.02}
    accuracy = {"name": "accuracy", "query": ACCURACY, "min": 0.9}
    sim.edit_spec(analysis={"checks": [stable] if alone else [accuracy, stable]})


def test_a_check_needing_the_stable_version_is_inconclusive_and_blocks_nothing() -> None:
    """v1 only: rendering {{stableVersion}} used to raise, so every evaluation failed the
    reconcile and nothing, not even a spec.version change, was applied."""
    sim = Sim(make_spec(1))
    with_stable_check(sim)
    sim.settle()
    sim.set_metric(v(1), GOOD)
    sim.analyse()
    last = sim.status.last_evaluation
    assert last is not None
    by_name = {c.name: c for c in last.checks}
    assert (by_name["vs-stable"].verdict, by_name["vs-stable"].reason) == (
        Verdict.INCONCLUSIVE,
        "NoStableVersion",
    )
    assert last.verdict is Verdict.PASSED  # the check that can judge v1 does
    assert condition(sim, cond.METRICS_AVAILABLE) == ("True", "QueriesAnswered")
    promote_current(sim)  # not blocked by the check that cannot judge yet
    sim.want(2)
    sim.settle()
    assert sim.workload.version == v(2)
    assert sim.status.current_version is not None and sim.status.current_version.same(v(2))


def test_a_version_judged_only_by_a_stable_version_check_is_never_promoted_on_it() -> None:
    sim = Sim(make_spec(1))
    with_stable_check(sim, alone=True)
    sim.settle()
    sim.set_metric(v(1), GOOD)
    sim.analyse_n(40)  # 20 minutes, twice promoteAfter
    assert sim.status.last_evaluation is not None
    assert sim.status.last_evaluation.verdict is Verdict.INCONCLUSIVE
    assert sim.status.known_good_versions == []
    sim.want(2)  # and a version change still goes through
    sim.settle()
    assert sim.workload.version == v(2)


# --------------------------------------------------------------------------- 6. evidence

# (case, accuracy served at an evaluation's minute, noData, minute promoted or None).
# Evaluations run every 30s from minute 2 (warmup); promoteAfter is 10m.
EVIDENCE: list[tuple[str, Callable[[float], float | None], str, float | None]] = [
    ("data-all-along", lambda m: GOOD, "hold", 12.0),
    ("data-all-along-pass", lambda m: GOOD, "pass", 12.0),
    ("prometheus-down-throughout", lambda m: None, "pass", None),
    ("down-then-data", lambda m: GOOD if m >= 20 else None, "pass", 20.0),
    ("data-at-the-start-of-the-window-only", lambda m: GOOD if m < 2.5 else None, "pass", 12.0),
]


@pytest.mark.parametrize(
    ("shape", "no_data", "promoted_at"), [pytest.param(*c[1:], id=c[0]) for c in EVIDENCE]
)
def test_promotion_needs_a_check_that_passed_on_data(
    shape: Callable[[float], float | None], no_data: str, promoted_at: float | None
) -> None:
    sim = Sim(make_spec(1, no_data=no_data))
    sim.settle()
    promoted: float | None = None
    while sim.now < T0 + timedelta(minutes=30) and promoted is None:
        due = max(sim.now, next_due(sim.spec, sim.status, sim.now))
        sim.set_metric(v(1), shape((due - T0).total_seconds() / 60))
        sim.analyse()
        assert sim.now == due
        if sim.status.known_good_versions:
            promoted = (sim.now - T0).total_seconds() / 60
    assert promoted == promoted_at
    if promoted is None:
        assert sim.status.last_evaluation is not None
        assert sim.status.last_evaluation.verdict is Verdict.PASSED  # noData=pass
        assert sim.status.last_passed_with_data is None
        assert sim.status.phase is Phase.PROGRESSING
        assert condition(sim, cond.READY) == ("False", "Analysing")
        ready = cond.get_condition(sim.status.conditions, cond.READY)
        assert ready is not None
        assert "promotion waits for a check that passes on data" in ready.message
        assert sim.count("VersionPromoted") == 0


def test_evidence_older_than_promote_after_does_not_promote() -> None:
    """A check passed on data once; then a too-small sample restarted the passing run,
    and Prometheus went down: 10 minutes of noData=pass passes hold no evidence."""
    sim = Sim(make_spec(1, no_data="pass", min_samples=100))
    sim.settle()
    sim.set_metric(v(1), GOOD)
    sim.set_samples(v(1), 1000)
    sim.analyse()
    evidence_at = sim.now
    assert sim.status.last_passed_with_data == evidence_at
    sim.set_samples(v(1), 10)
    sim.analyse()
    assert sim.status.passing_since is None  # TooFewSamples is Inconclusive, always
    down = QueryResult(error="connection refused")
    sim.accuracy["v1"] = down
    sim.samples["v1"] = down
    sim.analyse_n(40)  # 20 minutes of passes through noData=pass
    assert sim.status.last_evaluation is not None
    assert sim.status.last_evaluation.verdict is Verdict.PASSED
    assert sim.status.passing_since is not None
    assert sim.now - sim.status.passing_since > timedelta(minutes=10)
    assert sim.status.last_passed_with_data == evidence_at
    assert sim.status.known_good_versions == []


def test_evidence_is_kept_in_status_across_a_restart_and_reset_for_a_new_version() -> None:
    sim = Sim(make_spec(1, no_data="pass"))
    sim.settle()
    sim.set_metric(v(1), GOOD)
    sim.analyse()
    sim.set_metric(v(1), None)  # Prometheus goes away after one real pass
    for _ in range(5):
        sim.analyse()
        round_trip(sim)  # the operator restarts between evaluations
    assert sim.status.last_passed_with_data is not None
    promote_current_without_data(sim, minutes=12)
    assert [k.name for k in sim.status.known_good_versions] == ["v1"]

    sim.want(2)
    sim.settle()
    assert sim.status.last_passed_with_data is None  # v1's evidence says nothing of v2
    sim.analyse_n(60)  # 30 minutes of noData=pass and no data for v2
    assert [k.name for k in sim.status.known_good_versions] == ["v1"]
    assert sim.workload.version == v(2)


def promote_current_without_data(sim: Sim, *, minutes: int) -> None:
    while sim.now < T0 + timedelta(minutes=minutes):
        sim.analyse()


# --------------------------------------------------------------------------- 7. revert


def rolled_back_from_v2() -> Sim:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    assert condition(sim, cond.ROLLED_BACK) == ("True", "DesiredVersionQuarantined")
    return sim


def test_reverting_spec_version_to_the_good_version_ends_the_rollback() -> None:
    sim = rolled_back_from_v2()
    applied = len(sim.set_versions())
    sim.want(1)  # git revert
    sim.settle()
    assert sim.status.desired_version is not None and sim.status.desired_version.same(v(1))
    assert condition(sim, cond.ROLLED_BACK) == ("False", "DesiredIsKnownGood")
    assert sim.status.phase is Phase.HEALTHY
    assert condition(sim, cond.READY) == ("True", "KnownGood")
    assert len(sim.set_versions()) == applied  # nothing to change on the Deployment
    assert [q.name for q in sim.status.quarantined_versions] == ["v2"]  # still on record
    before = sim.status
    sim.tick()
    assert sim.status == before  # an idle reconcile writes nothing


# --------------------------------------------------------------------------- 8. GitOps fight


def watched_rollback_of_v2() -> Sim:
    sim = Sim(make_spec(None, cooldown="0s"), workload=deployment(v(1)))
    sim.settle()
    promote_current(sim)
    sim.workload = deployment(v(2))
    sim.settle()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    assert [q.name for q in sim.status.quarantined_versions] == ["v2"]
    return sim


def test_a_gitops_tool_reapplying_a_quarantined_version_is_reverted_and_reported_once() -> None:
    sim = watched_rollback_of_v2()
    history = outcomes(sim)
    first = sim.now
    for _ in range(3):
        sim.advance(timedelta(minutes=3))  # Argo CD's default sync period
        sim.workload = deployment(v(2))  # the tool applies what Git says
        p = sim.tick()
        assert p.actions == (SetVersion(v(1), "MODEL_VERSION"),)
        sim.settle()
        assert sim.workload.version == v(1)
        assert sim.status.current_version is not None
        assert sim.status.current_version.same(v(1))  # v2 is never guarded again
        round_trip(sim)
    assert outcomes(sim) == history  # no new analysis cycle
    assert sim.count("QuarantinedVersionDeployed") == 1
    assert sim.count("RolledBack") == 1  # the original rollback only
    event = next(e for e in sim.events if e.reason == "QuarantinedVersionDeployed")
    assert event.type == "Warning"
    assert "set the image in Git to reg.example/fraud:1.0" in event.message
    assert "clear the quarantine of v2" in event.message
    record = sim.status.git_ops_conflict
    assert record is not None and record.same(v(2))
    assert (record.count, record.restored) == (3, "v1")
    assert record.first_seen == first + timedelta(minutes=3)
    assert record.last_seen == sim.now
    rolled_back = cond.get_condition(sim.status.conditions, cond.ROLLED_BACK)
    assert rolled_back is not None
    assert (rolled_back.status, rolled_back.reason) == ("True", "GitOpsConflict")
    assert "v2 was put back on the Deployment 3 time(s)" in rolled_back.message
    assert "set the image in Git to reg.example/fraud:1.0" in rolled_back.message
    # v1 is still evaluated on its own, and stays known good.
    sim.set_metric(v(1), GOOD)
    sim.analyse()
    assert sim.status.last_evaluation is not None
    assert sim.status.last_evaluation.version == "v1"
    assert sim.status.phase is Phase.HEALTHY


def test_a_new_version_from_git_ends_the_fight() -> None:
    sim = watched_rollback_of_v2()
    sim.workload = deployment(v(2))
    sim.settle()
    sim.workload = deployment(v(3))  # Git now says v3
    p = sim.tick()
    assert p.actions == ()
    assert sim.status.git_ops_conflict is None
    assert sim.status.current_version is not None and sim.status.current_version.same(v(3))
    assert condition(sim, cond.ROLLED_BACK) == ("False", "NewVersion")
    assert outcomes(sim)[-1] == ("v3", Outcome.LIVE)
    # A later fight over another version is announced again, once.
    sim.set_metric(v(3), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    for _ in range(2):
        sim.workload = deployment(v(3))
        sim.settle()
    assert sim.count("QuarantinedVersionDeployed") == 2
    assert sim.status.git_ops_conflict is not None
    assert sim.status.git_ops_conflict.same(v(3))
    assert sim.status.git_ops_conflict.count == 2


def test_evidence_from_before_a_kill_switch_does_not_count_after_its_release() -> None:
    """The model was stopped: what its checks said before says nothing about now."""
    sim = Sim(make_spec(1, no_data="pass", promote_after="5m"))
    sim.settle()
    sim.set_metric(v(1), GOOD)
    sim.analyse()
    assert sim.status.last_passed_with_data is not None
    sim.kill()
    sim.settle()
    sim.advance(timedelta(minutes=1))
    sim.release()
    sim.settle()
    assert sim.status.last_passed_with_data is None
    sim.set_metric(v(1), None)  # and Prometheus is down after the release
    sim.analyse_n(30)
    assert sim.status.known_good_versions == []
