"""Scenario and table tests of plan(): the rules users rely on, end to end in the core.

Each scenario drives plan() through tests/unit/coresim.Sim, which plays the reconciler
(status written before actions run) against a fake Deployment and a fake Prometheus.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelguard.core import conditions as cond
from modelguard.core.api import (
    CheckResult,
    Evaluation,
    KillSwitchSpec,
    ModelDeploymentStatus,
    ModelVersion,
    Outcome,
    Phase,
    QuarantinedVersion,
    RollbackRequest,
    Verdict,
    VersionStatus,
)
from modelguard.core.decision import (
    KILL_SWITCH_RECHECK,
    PENDING_RECHECK,
    KillSwitchOnly,
    Observation,
    analysis_due,
    invalid_spec,
    next_due,
    plan,
    rollback_target,
    template_values,
)
from modelguard.core.ports import QueryResult
from modelguard.core.workload import Scale, SetVersion, Workload
from tests.unit.coresim import T0, Sim, deployment, make_spec, v

GOOD, BAD = 0.95, 0.5


def condition(sim: Sim, type_: cond.ConditionType) -> tuple[str, str]:
    c = cond.get_condition(sim.status.conditions, type_)
    assert c is not None, f"no {type_} condition"
    return c.status, c.reason


def outcomes(sim: Sim) -> list[tuple[str, Outcome]]:
    return [(h.version, h.outcome) for h in sim.status.history]


def promoted_v1(**spec_args: object) -> Sim:
    """v1 adopted, passing, and promoted to known good."""
    sim = Sim(make_spec(1, **spec_args))  # type: ignore[arg-type]
    sim.settle()
    promote_current(sim)
    return sim


def running_v2(**spec_args: object) -> Sim:
    """v1 known good; v2 desired, applied and past the pending step."""
    sim = promoted_v1(**spec_args)
    sim.want(2)
    sim.settle()
    assert sim.workload.version == v(2)
    return sim


def promote_current(sim: Sim) -> None:
    current = sim.status.current_version
    assert current is not None
    sim.set_metric(current, GOOD)
    sim.set_samples(current, 10_000)
    for _ in range(100):
        if any(k.same(current) for k in sim.status.known_good_versions):
            return
        sim.analyse()
    raise AssertionError(f"{current.name} was never promoted")


# --------------------------------------------------------------------------- adoption


def test_adoption_of_the_desired_version() -> None:
    sim = Sim(make_spec(1), workload=deployment(v(1)))
    p = sim.tick()
    assert p.actions == ()
    assert sim.status.current_version is not None and sim.status.current_version.same(v(1))
    assert sim.status.desired_version is not None and sim.status.desired_version.same(v(1))
    assert sim.status.known_good_versions == []  # not proven yet
    assert outcomes(sim) == [("v1", Outcome.LIVE)]
    assert sim.reasons() == ["Adopted"]
    assert sim.status.phase is Phase.PROGRESSING
    assert condition(sim, cond.READY) == ("False", "Analysing")
    assert condition(sim, cond.METRICS_AVAILABLE) == ("Unknown", "NotEvaluated")
    assert condition(sim, cond.KILL_SWITCH_ENGAGED) == ("False", "Released")
    assert condition(sim, cond.INVALID_SPEC) == ("False", "Valid")


def test_adoption_with_a_different_desired_version_keeps_the_running_one_as_known_good() -> None:
    sim = Sim(make_spec(2), workload=deployment(v(1)))
    p = sim.tick()
    assert p.actions == (SetVersion(v(2), "MODEL_VERSION"),)
    assert [k.name for k in sim.status.known_good_versions] == ["v1"]
    assert sim.status.stable_version is not None and sim.status.stable_version.same(v(1))
    assert sim.status.pending_action is not None
    assert sim.status.pending_action.kind == "apply"
    assert outcomes(sim) == [("v1", Outcome.PROMOTED), ("v2", Outcome.LIVE)]
    assert sim.reasons() == ["VersionApplied"]
    assert sim.status.phase is Phase.PROGRESSING
    later = T0 + timedelta(seconds=3)
    sim.now = later
    sim.settle()
    assert sim.status.pending_action is None
    assert sim.status.current_version is not None
    assert sim.status.current_version.since == later  # warmup from when it took effect
    assert sim.workload.version == v(2)


# --------------------------------------------------------------------------- promotion


def test_promoted_after_promote_after_of_passing() -> None:
    sim = Sim(make_spec(1))
    sim.settle()
    sim.set_metric(v(1), GOOD)
    first = sim.analyse()
    assert sim.now == T0 + timedelta(minutes=2)  # warmup
    assert first.status.passing_since == sim.now
    while sim.now < T0 + timedelta(minutes=11, seconds=30):
        sim.analyse()
        assert sim.status.known_good_versions == []
        assert sim.status.phase is Phase.PROGRESSING
    sim.analyse()
    assert sim.now == T0 + timedelta(minutes=12)
    assert [k.name for k in sim.status.known_good_versions] == ["v1"]
    assert sim.status.stable_version is not None and sim.status.stable_version.name == "v1"
    assert sim.count("VersionPromoted") == 1
    assert outcomes(sim) == [("v1", Outcome.PROMOTED)]
    assert sim.status.phase is Phase.HEALTHY
    assert condition(sim, cond.READY) == ("True", "KnownGood")
    assert condition(sim, cond.METRICS_AVAILABLE) == ("True", "QueriesAnswered")
    sim.analyse_n(5)
    assert sim.count("VersionPromoted") == 1


def test_an_inconclusive_evaluation_restarts_the_promotion_clock() -> None:
    sim = Sim(make_spec(1))
    sim.settle()
    sim.set_metric(v(1), GOOD)
    sim.analyse_n(15)  # 7 minutes of passing
    sim.set_metric(v(1), None)
    sim.analyse()
    assert sim.status.passing_since is None
    sim.set_metric(v(1), GOOD)
    sim.analyse_n(15)  # 10m since the first pass, but not 10m unbroken
    assert sim.status.known_good_versions == []


# --------------------------------------------------------------------------- rollback


def test_failing_below_threshold_degrades_without_rollback() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(2)
    assert sim.status.consecutive_failures == 2
    assert sim.workload.version == v(2)
    assert sim.status.quarantined_versions == []
    assert sim.status.phase is Phase.DEGRADED
    status, reason = condition(sim, cond.DEGRADED)
    assert (status, reason) == ("True", "ChecksFailing")
    failed = [e for e in sim.events if e.reason == "CheckFailed"]
    assert [e.type for e in failed] == ["Warning", "Warning"]
    assert "failed 1/3" in failed[0].message and "failed 2/3" in failed[1].message
    assert "accuracy" in failed[0].message and "0.5" in failed[0].message


def test_a_pass_resets_the_consecutive_count() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(2)
    sim.set_metric(v(2), GOOD)
    sim.analyse()
    assert sim.status.consecutive_failures == 0
    assert condition(sim, cond.DEGRADED)[0] == "False"
    sim.set_metric(v(2), BAD)
    sim.analyse_n(2)
    assert sim.workload.version == v(2)


def test_at_threshold_rolls_back_to_known_good_with_image_and_tag_together() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(2)
    before = len(sim.set_versions())
    decisive = sim.analyse()
    assert decisive.actions == (SetVersion(v(1), "MODEL_VERSION"),)
    target = decisive.actions[0]
    assert isinstance(target, SetVersion)
    assert target.version.image == "reg.example/fraud:1.0" and target.version.model_tag == "v1"
    assert decisive.status.pending_action is not None
    assert decisive.status.pending_action.kind == "rollback"
    assert len(sim.set_versions()) == before + 1
    assert sim.workload.version == v(1)
    assert sim.status.current_version is not None and sim.status.current_version.same(v(1))
    # quarantined with evidence
    [q] = sim.status.quarantined_versions
    assert q.same(v(2))
    assert "3 consecutive failed evaluations" in q.reason
    assert "accuracy" in q.reason and "0.5" in q.reason
    # recorded
    assert [h.outcome for h in sim.status.history].count(Outcome.ROLLED_BACK) == 1
    assert outcomes(sim)[-2:] == [("v2", Outcome.ROLLED_BACK), ("v1", Outcome.PROMOTED)]
    assert sim.status.consecutive_failures == 0
    assert sim.status.last_action_time is not None
    assert sim.status.stable_version is not None and sim.status.stable_version.same(v(1))
    assert condition(sim, cond.ROLLED_BACK)[0] == "True"
    assert condition(sim, cond.DEGRADED)[0] == "False"
    assert sim.status.phase is Phase.ROLLED_BACK
    assert condition(sim, cond.READY) == ("True", "RolledBack")
    [event] = [e for e in sim.events if e.reason == "RolledBack"]
    assert event.type == "Warning"
    assert "v2 -> v1" in event.message and "image=reg.example/fraud:1.0" in event.message
    assert "modelTag=v1" in event.message and "quarantined" in event.message


def test_quarantined_version_is_not_reapplied_while_desired_stays() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    rolled_back_at = len(sim.set_versions())
    snapshot = sim.status
    for _ in range(20):
        sim.advance(timedelta(seconds=7))
        p = sim.tick()
        assert p.actions == ()
        assert p.events == ()
        assert p.status == snapshot  # idle ticks change nothing, so nothing is written
    sim.analyse_n(30)  # v1 keeps passing, well past the cooldown
    assert len(sim.set_versions()) == rolled_back_at
    assert sim.workload.version == v(1)
    assert sim.status.phase is Phase.ROLLED_BACK
    assert condition(sim, cond.ROLLED_BACK) == ("True", "DesiredVersionQuarantined")
    assert sim.status.desired_version is not None and sim.status.desired_version.same(v(2))


def test_a_new_desired_version_is_applied_after_a_rollback() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    sim.want(3)
    p = sim.tick()
    assert p.actions == (SetVersion(v(3), "MODEL_VERSION"),)
    sim.settle()
    assert sim.workload.version == v(3)
    assert condition(sim, cond.ROLLED_BACK) == ("False", "NewVersion")
    assert sim.status.phase is Phase.PROGRESSING


def test_desiring_the_quarantined_version_again_does_not_reapply_it() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    sim.want(1)
    sim.settle()
    sim.want(2)  # back to the bad one: not new, still quarantined
    sim.settle()
    assert sim.workload.version == v(1)
    assert sim.set_versions().count(v(2)) == 1


def test_chain_of_rollbacks_never_returns_to_a_quarantined_version() -> None:
    """v1 good, v2 promoted, v3 bad -> v2; then v2 degrades -> v1, never v3."""
    sim = running_v2()
    promote_current(sim)
    assert [k.name for k in sim.status.known_good_versions] == ["v1", "v2"]
    sim.want(3)
    sim.settle()
    sim.set_metric(v(3), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(2)
    sim.advance(timedelta(minutes=11))  # past the cooldown
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    assert [q.name for q in sim.status.quarantined_versions] == ["v3", "v2"]
    assert sim.set_versions() == [v(2), v(3), v(2), v(1)]
    assert sim.status.stable_version is not None and sim.status.stable_version.same(v(1))
    # v1 degrading too: nothing left, and it says so once.
    sim.advance(timedelta(minutes=11))
    sim.set_metric(v(1), BAD)
    sim.analyse_n(5)
    assert sim.workload.version == v(1)
    assert sim.count("NoRollbackTarget") == 1
    assert sim.status.phase is Phase.DEGRADED


def test_report_only_reports_and_never_patches() -> None:
    sim = running_v2(automatic=False)
    sim.set_metric(v(2), BAD)
    sim.analyse_n(6)
    assert sim.workload.version == v(2)
    assert sim.status.quarantined_versions == []
    assert sim.status.consecutive_failures == 6
    assert sim.count("DegradationDetected") == 1  # when crossing, not on every tick
    assert sim.count("CheckFailed") == 2
    [event] = [e for e in sim.events if e.reason == "DegradationDetected"]
    assert "would roll back to v1" in event.message
    assert condition(sim, cond.DEGRADED) == ("True", "ChecksFailing")
    assert sim.status.phase is Phase.DEGRADED


def test_cooldown_defers_the_rollback_then_performs_it() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)  # rollback at t1
    t1 = sim.status.last_action_time
    assert t1 is not None
    sim.want(3)
    sim.settle()
    sim.set_metric(v(3), BAD)
    sim.analyse_n(3)  # v3 at threshold well within the 10m cooldown
    assert sim.now < t1 + timedelta(minutes=10)
    assert sim.workload.version == v(3)
    assert sim.count("RollbackDeferred") == 1
    for _ in range(40):
        if sim.now >= t1 + timedelta(minutes=10):
            break
        sim.analyse()
    assert sim.workload.version == v(1)
    assert sim.count("RollbackDeferred") == 1
    assert sim.count("RolledBack") == 2
    assert [q.name for q in sim.status.quarantined_versions] == ["v2", "v3"]


# --------------------------------------------------------------------------- missing data


def test_no_data_hold_never_counts_toward_rollback() -> None:
    sim = running_v2()
    sim.set_metric(v(2), None)  # the exporter vanished
    sim.analyse_n(10)
    assert sim.status.consecutive_failures == 0
    assert sim.workload.version == v(2)
    assert sim.status.last_evaluation is not None
    assert sim.status.last_evaluation.verdict is Verdict.INCONCLUSIVE
    assert condition(sim, cond.METRICS_AVAILABLE) == ("False", "NoData")
    assert sim.count("MetricsUnavailable") == 1  # on the transition only
    assert sim.status.phase is Phase.PROGRESSING
    sim.set_metric(v(2), GOOD)
    sim.analyse()
    assert condition(sim, cond.METRICS_AVAILABLE) == ("True", "QueriesAnswered")
    sim.set_metric(v(2), None)
    sim.analyse()
    assert sim.count("MetricsUnavailable") == 2


def test_no_data_fail_counts_missing_data_as_failure() -> None:
    sim = running_v2(no_data="fail")
    sim.set_metric(v(2), None)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    assert sim.status.quarantined_versions[0].same(v(2))
    assert "NoData" in sim.status.quarantined_versions[0].reason or (
        "no series" in sim.status.quarantined_versions[0].reason
    )


@pytest.mark.parametrize("no_data", ["hold", "fail", "pass"])
def test_too_few_samples_never_rolls_back(no_data: str) -> None:
    sim = running_v2(min_samples=500, no_data=no_data)
    sim.set_metric(v(2), BAD)
    sim.set_samples(v(2), 499)
    sim.analyse_n(8)
    assert sim.workload.version == v(2)
    assert sim.status.consecutive_failures == 0
    assert condition(sim, cond.METRICS_AVAILABLE)[0] == "True"  # a small sample is data
    # Enough samples: the failure is real now.
    sim.set_samples(v(2), 500)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)


# --------------------------------------------------------------------------- kill switch


def test_kill_switch_preempts_a_due_rollback() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(2)
    sim.now = next_due(sim.spec, sim.status, sim.now)
    evaluation = sim.take_evaluation()  # taken just before the switch was flipped
    sim.kill()
    p = sim.tick(evaluation)
    assert p.actions == (Scale(0),)
    assert sim.workload.version == v(2)
    assert sim.status.quarantined_versions == []
    assert sim.status.phase is Phase.KILLED
    assert condition(sim, cond.KILL_SWITCH_ENGAGED) == ("True", "ScaledToZero")
    assert condition(sim, cond.READY) == ("False", "Killed")
    assert not analysis_due(sim.spec, sim.status, sim.now + timedelta(hours=1))
    # While killed, nothing else happens however long it lasts.
    for _ in range(10):
        sim.advance(timedelta(minutes=1))
        assert sim.tick().actions == ()


def test_release_restarts_analysis_from_scratch() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(2)
    sim.kill()
    sim.settle()
    sim.advance(timedelta(minutes=30))
    sim.release()
    release_time = sim.now
    sim.settle()
    assert sim.workload.replicas == 3
    assert sim.count("KillSwitchReleased") == 1
    assert sim.status.consecutive_failures == 0
    assert sim.status.current_version is not None
    assert sim.status.current_version.since == release_time
    assert sim.status.phase is Phase.PROGRESSING
    assert condition(sim, cond.DEGRADED)[0] == "False"
    assert not analysis_due(sim.spec, sim.status, release_time + timedelta(seconds=119))
    assert analysis_due(sim.spec, sim.status, release_time + timedelta(minutes=2))
    # Two more failures are not enough: the count started again.
    sim.analyse_n(2)
    assert sim.workload.version == v(2)
    sim.analyse()
    assert sim.workload.version == v(1)


def test_version_change_while_killed_is_recorded_and_applied_after_release() -> None:
    sim = running_v2()
    sim.kill()
    sim.settle()
    sim.want(3)
    p = sim.tick()
    assert p.actions == ()
    assert sim.workload.version == v(2)
    assert sim.status.desired_version is not None and sim.status.desired_version.same(v(3))
    assert sim.status.current_version is not None and sim.status.current_version.same(v(2))
    sim.release()
    sim.settle()
    assert sim.workload.version == v(3)
    assert sim.workload.replicas == 3
    assert sim.status.phase is Phase.PROGRESSING


def test_kill_switch_without_analysis() -> None:
    sim = Sim(make_spec(1, analysis=False))
    sim.settle()
    assert sim.status.phase is Phase.HEALTHY
    assert condition(sim, cond.READY) == ("True", "NoAnalysis")
    sim.kill()
    sim.settle()
    assert sim.workload.replicas == 0
    sim.release()
    sim.settle()
    assert sim.workload.replicas == 3
    assert sim.status.phase is Phase.HEALTHY


# --------------------------------------------------------------------------- crash safety


def test_crash_after_rollback_decision_reissues_and_completes_once() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(2)
    sim.now = next_due(sim.spec, sim.status, sim.now)
    decided = sim.tick(sim.take_evaluation(), crash=True)
    assert decided.actions == (SetVersion(v(1), "MODEL_VERSION"),)
    assert sim.workload.version == v(2)  # the patch never happened
    history = list(sim.status.history)
    quarantine = list(sim.status.quarantined_versions)
    # The restarted operator: no evaluation is due while a change is pending ...
    sim.advance(timedelta(seconds=40))
    assert not analysis_due(sim.spec, sim.status, sim.now)
    replay = sim.tick()
    assert replay.actions == (SetVersion(v(1), "MODEL_VERSION"),)  # ... it re-issues
    assert replay.events == ()  # and does not decide (or announce) again
    assert sim.status.history == history
    sim.settle()
    assert sim.workload.version == v(1)
    assert sim.status.pending_action is None
    assert sim.status.history == history
    assert sim.status.quarantined_versions == quarantine
    assert [h.outcome for h in sim.status.history].count(Outcome.ROLLED_BACK) == 1
    assert sim.set_versions().count(v(1)) == 1


def test_crash_after_apply_decision_reissues() -> None:
    sim = promoted_v1()
    sim.want(2)
    sim.tick(crash=True)
    history = list(sim.status.history)
    p = sim.tick()
    assert p.actions == (SetVersion(v(2), "MODEL_VERSION"),)
    sim.settle()
    assert sim.status.history == history
    assert sim.workload.version == v(2)


# --------------------------------------------------------------------------- manual rollback


def test_manual_rollback_is_handled_once() -> None:
    sim = running_v2()
    request = RollbackRequest(id="r-1", reason="bad feedback", requested_by="alice")
    p = sim.tick(request=request)
    assert p.actions == (SetVersion(v(1), "MODEL_VERSION"),)
    sim.settle()
    assert sim.status.handled_rollback_request == "r-1"
    assert sim.workload.version == v(1)
    assert sim.status.quarantined_versions[0].same(v(2))
    assert "manual rollback by alice: bad feedback" in sim.status.quarantined_versions[0].reason
    for _ in range(3):
        sim.advance(timedelta(seconds=5))
        assert sim.tick(request=request).actions == ()
    assert sim.count("RolledBack") == 1


def test_manual_rollback_to_a_named_version() -> None:
    sim = running_v2()
    promote_current(sim)
    sim.want(3)
    sim.settle()
    sim.tick(request=RollbackRequest(id="r-2", to="v1"))
    sim.settle()
    assert sim.workload.version == v(1)
    assert sim.status.quarantined_versions[0].same(v(3))


def test_manual_rollback_to_an_unknown_version_is_rejected_with_an_event() -> None:
    sim = running_v2()
    request = RollbackRequest(id="r-3", to="v9")
    p = sim.tick(request=request)
    assert p.actions == ()
    [event] = p.events
    assert (event.type, event.reason) == ("Warning", "RollbackRequestRejected")
    assert "v9" in event.message and "v1" in event.message
    assert sim.status.handled_rollback_request == "r-3"
    assert sim.tick(request=request).events == ()  # once
    assert sim.workload.version == v(2)


def test_manual_rollback_onto_a_quarantined_version_is_rejected() -> None:
    """Going "back" to a rolled-back version would quarantine the good version running
    now and leave a quarantined one running: refused, with the reason."""
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    p = sim.tick(request=RollbackRequest(id="r-5", to="v2"))
    assert p.actions == ()
    assert [e.reason for e in p.events] == ["RollbackRequestRejected"]
    assert "quarantined" in p.events[0].message
    assert [q.name for q in sim.status.quarantined_versions] == ["v2"]
    assert sim.status.handled_rollback_request == "r-5"


def test_manual_rollback_to_the_running_version_is_rejected() -> None:
    sim = running_v2()
    p = sim.tick(request=RollbackRequest(id="r-4", to="v2"))
    assert p.actions == ()
    assert [e.reason for e in p.events] == ["RollbackRequestRejected"]
    assert "already running" in p.events[0].message


# --------------------------------------------------------------------------- watch mode, drift


def test_watch_mode_follows_the_deployment() -> None:
    sim = Sim(make_spec(None), workload=deployment(v(1)))
    sim.settle()
    assert sim.status.current_version is not None and sim.status.current_version.same(v(1))
    sim.workload = deployment(v(2))  # kubectl set image / CI pipeline
    p = sim.tick()
    assert p.actions == ()
    assert sim.status.current_version is not None and sim.status.current_version.same(v(2))
    assert sim.status.desired_version is not None and sim.status.desired_version.same(v(2))
    assert outcomes(sim) == [("v1", Outcome.SUPERSEDED), ("v2", Outcome.LIVE)]
    assert "VersionDetected" in sim.reasons()


def test_watch_mode_rolls_back_a_degraded_version() -> None:
    sim = Sim(make_spec(None), workload=deployment(v(1)))
    sim.settle()
    promote_current(sim)
    sim.workload = deployment(v(2))
    sim.settle()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    assert sim.status.current_version is not None and sim.status.current_version.same(v(1))


def test_watch_mode_evaluation_of_the_old_version_is_not_blamed_on_the_new_one() -> None:
    """The image changed between taking the evaluation (of v1) and planning with it."""
    sim = Sim(make_spec(None), workload=deployment(v(1)))
    sim.settle()
    sim.set_metric(v(1), BAD)
    sim.now = next_due(sim.spec, sim.status, sim.now)
    evaluation = sim.take_evaluation()  # of v1
    sim.workload = deployment(v(2))
    sim.tick(evaluation)
    assert sim.status.current_version is not None and sim.status.current_version.same(v(2))
    assert sim.status.consecutive_failures == 0
    assert sim.status.last_evaluation is None


def test_drift_in_spec_mode_is_reverted() -> None:
    sim = running_v2()
    sim.workload = deployment(v(9))  # someone ran kubectl set image
    p = sim.tick()
    assert p.actions == (SetVersion(v(2), "MODEL_VERSION"),)
    assert [e.reason for e in p.events] == ["DriftReverted"]
    assert p.events[0].type == "Warning"
    assert "v9" in p.events[0].message
    sim.settle()
    assert sim.workload.version == v(2)
    assert sim.status.current_version is not None and sim.status.current_version.same(v(2))


def test_drift_back_to_a_quarantined_version_is_reverted() -> None:
    """After a rollback, someone (or a tool) puts the rolled-back version back on the
    Deployment: the rollback holds, as it does for the CR's spec."""
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    assert sim.workload.version == v(1)
    sim.workload = deployment(v(2))
    p = sim.tick()
    assert p.actions == (SetVersion(v(1), "MODEL_VERSION"),)
    assert [e.reason for e in p.events] == ["DriftReverted"]
    sim.settle()
    assert sim.workload.version == v(1)
    assert sim.status.current_version is not None and sim.status.current_version.same(v(1))


def test_drift_while_the_desired_version_is_quarantined_is_reverted_with_an_event() -> None:
    sim = running_v2()
    sim.set_metric(v(2), BAD)
    sim.analyse_n(3)
    sim.workload = deployment(v(9))
    p = sim.tick()
    assert p.actions == (SetVersion(v(1), "MODEL_VERSION"),)
    assert [e.reason for e in p.events] == ["DriftReverted"]


def test_desired_version_applied_by_someone_else_is_taken_over() -> None:
    """GitOps changed the CR to v3 and something already rolled v3 out: guard it."""
    sim = running_v2()
    sim.want(3)
    sim.workload = deployment(v(3))
    p = sim.tick()
    assert p.actions == ()
    assert sim.status.current_version is not None and sim.status.current_version.same(v(3))
    assert sim.status.desired_version is not None and sim.status.desired_version.same(v(3))
    assert outcomes(sim)[-2:] == [("v2", Outcome.SUPERSEDED), ("v3", Outcome.LIVE)]
    assert "VersionDetected" in sim.reasons()


def test_tag_only_spec_leaves_the_image_free() -> None:
    sim = Sim(make_spec(1), workload=deployment(v(1)))
    sim.spec = sim.spec.model_copy(
        update={"version": sim.spec.version.model_copy(update={"image": None})}  # type: ignore[union-attr]
    )
    sim.settle()
    patched = ModelVersion(image="reg.example/fraud:1.0-cve-fix", model_tag="v1")
    sim.workload = deployment(patched)
    p = sim.tick()
    assert p.actions == ()  # the image is not what this resource pins
    assert sim.status.current_version is not None and sim.status.current_version.same(patched)


# --------------------------------------------------------------------------- target, spec


def test_target_missing_is_pending_and_announced_once() -> None:
    sim = Sim(make_spec(1), workload=Workload(exists=False))
    for _ in range(5):
        p = sim.tick()
        assert p.actions == ()
        sim.advance(timedelta(seconds=30))
    assert sim.count("TargetNotFound") == 1
    assert sim.status.phase is Phase.PENDING
    assert condition(sim, cond.READY) == ("False", "TargetNotFound")
    sim.workload = deployment(v(1))
    sim.settle()
    assert sim.status.current_version is not None
    assert condition(sim, cond.READY) == ("False", "Analysing")
    # Gone again later: announced again (once).
    sim.workload = Workload(exists=False)
    sim.tick()
    sim.tick()
    assert sim.count("TargetNotFound") == 2


def test_container_not_found_says_so() -> None:
    sim = Sim(make_spec(1), workload=Workload(exists=True, problem="container 'server' not found"))
    p = sim.tick()
    assert [e.message for e in p.events] == ["container 'server' not found"]
    assert sim.status.phase is Phase.PENDING


def test_invalid_spec_sets_the_condition_and_announces_once() -> None:
    status = ModelDeploymentStatus()
    first = invalid_spec(status, "min must be less than or equal to max", 3, T0)
    assert first.actions == ()
    assert [(e.type, e.reason) for e in first.events] == [("Warning", "InvalidSpec")]
    assert first.status.phase is Phase.INVALID
    assert first.status.observed_generation == 3
    c = cond.get_condition(first.status.conditions, cond.INVALID_SPEC)
    assert c is not None and (c.status, c.observed_generation) == ("True", 3)
    assert "min must be" in c.message
    ready = cond.get_condition(first.status.conditions, cond.READY)
    assert ready is not None and (ready.status, ready.reason) == ("False", "InvalidSpec")
    again = invalid_spec(first.status, "min must be less than or equal to max", 3, T0)
    assert again.events == ()
    # Fixed: the condition clears on the next plan.
    sim = Sim(make_spec(1), status=again.status)
    sim.generation = 4
    sim.settle()
    c = cond.get_condition(sim.status.conditions, cond.INVALID_SPEC)
    assert c is not None and (c.status, c.observed_generation) == ("False", 4)


def test_conditions_carry_generation_and_transition_only_on_flips() -> None:
    sim = running_v2()
    sim.set_metric(v(2), GOOD)
    sim.analyse()
    degraded = cond.get_condition(sim.status.conditions, cond.DEGRADED)
    assert degraded is not None and degraded.status == "False"
    unchanged_since = degraded.last_transition_time
    sim.analyse_n(3)
    degraded = cond.get_condition(sim.status.conditions, cond.DEGRADED)
    assert degraded is not None and degraded.last_transition_time == unchanged_since
    sim.set_metric(v(2), BAD)
    sim.analyse()
    flipped_at = sim.now
    degraded = cond.get_condition(sim.status.conditions, cond.DEGRADED)
    assert degraded is not None and (degraded.status, degraded.last_transition_time) == (
        "True",
        flipped_at,
    )
    sim.analyse()  # still failing: the message changes, the transition time does not
    degraded = cond.get_condition(sim.status.conditions, cond.DEGRADED)
    assert degraded is not None and degraded.last_transition_time == flipped_at
    assert "2 consecutive" in degraded.message
    sim.edit_spec(rollback={"cooldown": "5m"})
    sim.tick()
    assert sim.status.observed_generation == sim.generation
    assert {c.observed_generation for c in sim.status.conditions} == {sim.generation}
    assert {c.type for c in sim.status.conditions} == set(cond.ALL_TYPES)


# --------------------------------------------------------------------------- scheduling


def _status(
    since: datetime | None, last: datetime | None, last_version: str = "v1"
) -> ModelDeploymentStatus:
    evaluation = (
        Evaluation(time=last, version=last_version, verdict=Verdict.PASSED)
        if last is not None
        else None
    )
    return ModelDeploymentStatus(
        current_version=VersionStatus.of(v(1), since),
        last_evaluation=evaluation,
    )


SPEC = make_spec(1)  # warmup 2m, interval 30s
M = timedelta(minutes=1)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("status", "now", "due", "next_at"),
    [
        pytest.param(_status(T0, None), T0, False, T0 + 2 * M, id="just-live"),
        pytest.param(_status(T0, None), T0 + 2 * M - S, False, T0 + 2 * M, id="warming-up"),
        pytest.param(_status(T0, None), T0 + 2 * M, True, T0 + 2 * M, id="warm"),
        pytest.param(
            _status(T0, T0 + 2 * M), T0 + 2 * M + 29 * S, False, T0 + 2 * M + 30 * S, id="interval"
        ),
        pytest.param(
            _status(T0, T0 + 2 * M), T0 + 2 * M + 30 * S, True, T0 + 2 * M + 30 * S, id="due"
        ),
        pytest.param(_status(T0, T0 + 5 * M), T0 + 9 * M, True, T0 + 9 * M, id="overdue"),
        pytest.param(
            _status(T0, T0 + 3 * M, "v0"), T0 + 3 * M, True, T0 + 3 * M, id="other-version"
        ),
        pytest.param(
            _status(T0 + 10 * M, T0 + 9 * M), T0 + 11 * M, False, T0 + 12 * M, id="re-warmup"
        ),
        pytest.param(
            _status(T0 + 10 * M, T0 + 9 * M), T0 + 12 * M, True, T0 + 12 * M, id="re-warmed"
        ),
    ],
)
def test_analysis_due_and_next_due(
    status: ModelDeploymentStatus, now: datetime, due: bool, next_at: datetime
) -> None:
    assert analysis_due(SPEC, status, now) is due
    assert next_due(SPEC, status, now) == next_at
    if not due:
        assert analysis_due(SPEC, status, next_at)


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        pytest.param(make_spec(1, analysis=False), _status(T0, None), id="no-analysis"),
        pytest.param(SPEC, ModelDeploymentStatus(), id="nothing-running"),
        pytest.param(
            make_spec(1, kill={"enabled": True, "reason": "x"}), _status(T0, None), id="killing"
        ),
        pytest.param(
            SPEC,
            _status(T0, None).model_copy(
                update={
                    "kill_switch": _status(T0, None).kill_switch.model_copy(
                        update={"engaged": True}
                    )
                }
            ),
            id="releasing",
        ),
        pytest.param(
            SPEC,
            _status(T0, None).model_copy(
                update={"pending_action": {"kind": "apply", "target": v(2), "decided_at": T0}}
            ),
            id="pending",
        ),
    ],
)
def test_analysis_not_due(spec: object, status: ModelDeploymentStatus) -> None:
    assert not analysis_due(spec, status, T0 + timedelta(hours=5))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "status", "after"),
    [
        pytest.param(
            make_spec(1, kill={"enabled": True, "reason": "x"}),
            _status(T0, T0),
            KILL_SWITCH_RECHECK,
            id="killed",
        ),
        pytest.param(
            SPEC,
            _status(T0, T0).model_copy(
                update={"pending_action": {"kind": "apply", "target": v(2), "decided_at": T0}}
            ),
            PENDING_RECHECK,
            id="pending",
        ),
    ],
)
def test_held_states_are_rechecked_but_never_spin(
    spec: object, status: ModelDeploymentStatus, after: timedelta
) -> None:
    """No evaluation moves the clock while killed or while a change is unconfirmed: the
    next reconcile is a fixed re-check away, not "due now" over and over."""
    now = T0 + timedelta(hours=5)
    assert next_due(spec, status, now) == now + after  # type: ignore[arg-type]


# --------------------------------------------------------------------------- targets


def _versions(*ns: int) -> list[VersionStatus]:
    return [VersionStatus.of(v(n), T0) for n in ns]


@pytest.mark.parametrize(
    ("known_good", "quarantined", "current", "target"),
    [
        pytest.param([], [], 1, None, id="nothing-known"),
        pytest.param([1], [], 1, None, id="only-current"),
        pytest.param([1], [], 2, 1, id="previous"),
        pytest.param([1, 2], [], 3, 2, id="newest-first"),
        pytest.param([1, 2], [], 2, 1, id="skip-current"),
        pytest.param([1, 2], [2], 3, 1, id="skip-quarantined"),
        pytest.param([1, 2], [1, 2], 3, None, id="all-quarantined"),
        pytest.param([1, 2, 3], [3], 2, 1, id="skip-both"),
    ],
)
def test_rollback_target(
    known_good: list[int], quarantined: list[int], current: int, target: int | None
) -> None:
    status = ModelDeploymentStatus(
        current_version=VersionStatus.of(v(current), T0),
        known_good_versions=_versions(*known_good),
        quarantined_versions=[QuarantinedVersion.quarantine(v(n), T0, "bad") for n in quarantined],
    )
    found = rollback_target(status)
    assert (found.name if found else None) == (f"v{target}" if target else None)
    values = template_values(status, "ml", "fraud")
    assert values["version"] == f"v{current}"
    assert values.get("stableVersion") == (f"v{target}" if target else None)
    assert (values["namespace"], values["name"]) == ("ml", "fraud")


def test_a_plan_with_an_evaluation_but_no_analysis_is_harmless() -> None:
    """Analysis removed from the spec between taking an evaluation and planning."""
    sim = Sim(make_spec(1, analysis=False))
    sim.settle()
    result = CheckResult(name="a", query="q", verdict=Verdict.FAILED, reason="ThresholdBreached")
    p = plan(sim.spec, sim.status, 1, Observation(sim.workload, evaluation=[result]), sim.now)
    assert p.actions == ()
    assert p.status.consecutive_failures == 0


def test_query_results_reach_the_evidence() -> None:
    sim = running_v2()
    sim.accuracy["v2"] = QueryResult(error="timeout after 10s")
    sim.analyse()
    assert sim.status.last_evaluation is not None
    [check] = sim.status.last_evaluation.checks
    assert (check.verdict, check.reason) == (Verdict.INCONCLUSIVE, "QueryError")
    status, reason = condition(sim, cond.METRICS_AVAILABLE)
    assert (status, reason) == ("False", "QueryError")
    [event] = [e for e in sim.events if e.reason == "MetricsUnavailable"]
    assert "timeout after 10s" in event.message


def test_invalid_spec_still_engages_and_releases_the_kill_switch() -> None:
    """The kill switch wins over everything, a typo elsewhere in the spec included."""
    workload = deployment(replicas=7)
    engage = KillSwitchSpec(enabled=True, reason="INC-7")
    killed = invalid_spec(
        ModelDeploymentStatus(), "bad placeholder", 2, T0, KillSwitchOnly(engage, workload, "sre")
    )
    assert killed.actions == (Scale(0),)
    assert killed.status.phase is Phase.KILLED
    assert killed.status.kill_switch.saved is not None
    assert killed.status.kill_switch.saved.replicas == 7
    assert {e.reason for e in killed.events} == {"InvalidSpec", "KillSwitchEngaged"}
    assert condition_of(killed.status, cond.KILL_SWITCH_ENGAGED) == ("True", "ScaledToZero")

    stopped = deployment(replicas=0)
    release = KillSwitchSpec(enabled=False)
    restoring = invalid_spec(
        killed.status, "bad placeholder", 3, T0, KillSwitchOnly(release, stopped)
    )
    assert restoring.actions == (Scale(7),)
    restored = invalid_spec(
        restoring.status, "bad placeholder", 3, T0, KillSwitchOnly(release, workload)
    )
    assert restored.actions == ()
    assert not restored.status.kill_switch.engaged
    assert restored.status.phase is Phase.INVALID
    assert condition_of(restored.status, cond.KILL_SWITCH_ENGAGED) == ("False", "Released")


def condition_of(status: ModelDeploymentStatus, type_: cond.ConditionType) -> tuple[str, str]:
    c = cond.get_condition(status.conditions, type_)
    assert c is not None, f"no {type_} condition"
    return c.status, c.reason
