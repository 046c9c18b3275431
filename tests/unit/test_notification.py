"""core.notification: which decisions become notices, the evidence they carry, the
once-only bookkeeping in status, and the two payload formats."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from modelguard.core import notification
from modelguard.core.api import (
    DELIVERY_RECORD_LIMIT,
    PENDING_NOTICE_LIMIT,
    CanaryStatus,
    CheckResult,
    Decision,
    Delivery,
    Evaluation,
    KillSwitchRecord,
    KillSwitchStatus,
    ModelDeploymentStatus,
    ModelVersion,
    NotificationsSpec,
    OutgoingEvent,
    QuarantinedVersion,
    Verdict,
    VersionStatus,
)
from modelguard.core.canary import machine
from modelguard.core.notification import of, payload
from modelguard.core.reasons import EventReason

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
V1 = VersionStatus(image="reg/fraud:1.0", model_tag="v1")
V2 = VersionStatus(image="reg/fraud:2.0", model_tag="v2")


def spec(*receivers: Mapping[str, object]) -> NotificationsSpec:
    return NotificationsSpec.model_validate({"receivers": list(receivers)})


ONCALL: dict[str, object] = {"name": "oncall", "urlSecretRef": {"name": "hooks", "key": "oncall"}}
KILLS_ONLY: dict[str, object] = {
    "name": "kills",
    "format": "slack",
    "urlSecretRef": {"name": "hooks", "key": "slack"},
    "decisions": ["killSwitchEngaged", "killSwitchReleased"],
}


def event(reason: str, name: str = "fraud.0001", message: str = "m") -> OutgoingEvent:
    return OutgoingEvent(name=name, type="Warning", reason=reason, message=message)


BEFORE = ModelDeploymentStatus(current_version=V2, known_good_versions=[V1], stable_version=V1)
ROLLED_BACK = BEFORE.model_copy(
    update={
        "current_version": V1,
        "quarantined_versions": [QuarantinedVersion.quarantine(V2, T0, "3 failed: accuracy 0.42")],
        "last_evaluation": Evaluation(
            time=T0,
            version="v2",
            verdict=Verdict.FAILED,
            checks=[
                CheckResult(
                    name="accuracy",
                    query="q",
                    value=0.42,
                    threshold=">= 0.9",
                    verdict=Verdict.FAILED,
                    reason="ThresholdBreached",
                )
            ],
        ),
    }
)


def test_a_rollback_is_recorded_with_its_evidence_for_its_subscribers() -> None:
    out = notification.record(
        spec(ONCALL, KILLS_ONLY), BEFORE, ROLLED_BACK, [event("RolledBack")], T0
    )
    [notice] = of(out).pending
    assert notice.id == "fraud.0001"  # the decision's Event name: written ahead, stable
    assert notice.decision is Decision.ROLLED_BACK
    assert (notice.from_version, notice.to_version, notice.quarantined) == ("v2", "v1", "v2")
    assert notice.stable_version == "v1"
    assert notice.known_good == ["v1"]
    assert notice.reason == "3 failed: accuracy 0.42"
    assert [(c.name, c.value, c.threshold, c.verdict) for c in notice.checks] == [
        ("accuracy", 0.42, ">= 0.9", "Failed")
    ]
    assert notice.receivers == ["oncall"]  # the kills-only receiver did not subscribe


def test_decisions_nobody_subscribes_to_and_other_events_record_nothing() -> None:
    s = spec(KILLS_ONLY)
    assert notification.record(s, BEFORE, ROLLED_BACK, [event("RolledBack")], T0) == ROLLED_BACK
    assert notification.record(spec(ONCALL), BEFORE, BEFORE, [event("CheckFailed")], T0) == BEFORE
    assert notification.record(None, BEFORE, ROLLED_BACK, [event("RolledBack")], T0) == ROLLED_BACK


def test_kill_switch_notices_name_the_requester_and_the_reason() -> None:
    engaged = BEFORE.model_copy(
        update={"kill_switch": KillSwitchStatus(engaged=True, reason="INC-7", requested_by="alice")}
    )
    out = notification.record(spec(KILLS_ONLY), BEFORE, engaged, [event("KillSwitchEngaged")], T0)
    [notice] = of(out).pending
    assert (notice.decision, notice.requested_by, notice.reason) == (
        Decision.KILL_SWITCH_ENGAGED,
        "alice",
        "INC-7",
    )
    released = BEFORE.model_copy(
        update={
            "kill_switch_history": [
                KillSwitchRecord(engaged_at=T0, reason="INC-7", released_at=T0, released_by="bob")
            ]
        }
    )
    out = notification.record(
        spec(KILLS_ONLY), engaged, released, [event("KillSwitchReleased")], T0
    )
    assert of(out).pending[0].requested_by == "bob"


def test_settle_moves_outcomes_to_sent_once_and_empties_the_outbox() -> None:
    s = spec(ONCALL, {**ONCALL, "name": "audit"})
    status = notification.record(s, BEFORE, ROLLED_BACK, [event("RolledBack")], T0)
    assert notification.due(status) == [
        (of(status).pending[0], "oncall"),
        (of(status).pending[0], "audit"),
    ]
    oncall = Delivery(id="fraud.0001", receiver="oncall", outcome="Delivered", at=T0)
    once = notification.settle(status, [oncall])
    assert [r for _, r in notification.due(once)] == ["audit"]
    assert notification.settle(once, [oncall]) == once  # settling again changes nothing
    audit = Delivery(id="fraud.0001", receiver="audit", outcome="Failed", at=T0, detail="HTTP 500")
    done = notification.settle(once, [audit])
    assert of(done).pending == []
    assert [(d.receiver, d.outcome) for d in of(done).sent] == [
        ("oncall", "Delivered"),
        ("audit", "Failed"),
    ]
    assert notification.due(done) == []


def test_the_outbox_and_the_record_are_bounded() -> None:
    status = BEFORE
    events = [event("RolledBack", name=f"fraud.{i:04}") for i in range(PENDING_NOTICE_LIMIT + 5)]
    status = notification.record(spec(ONCALL), BEFORE, ROLLED_BACK, events, T0)
    assert len(of(status).pending) == PENDING_NOTICE_LIMIT
    assert of(status).pending[-1].id == events[-1].name  # the newest are kept
    many = [
        Delivery(id=n.id, receiver="oncall", outcome="Delivered", at=T0) for n in of(status).pending
    ]
    for _ in range(3):
        status = notification.settle(status, many)
    assert len(of(status).sent) <= DELIVERY_RECORD_LIMIT


def test_the_status_round_trips_through_its_wire_form() -> None:
    status = notification.record(spec(ONCALL), BEFORE, ROLLED_BACK, [event("RolledBack")], T0)
    assert ModelDeploymentStatus.model_validate(status.to_wire()) == status


def test_cloudevent_is_structured_1_0_with_the_evidence() -> None:
    status = notification.record(spec(ONCALL), BEFORE, ROLLED_BACK, [event("RolledBack")], T0)
    ce = notification.cloudevent(of(status).pending[0], "risk", "fraud", "uid-1")
    assert {k: ce[k] for k in ("specversion", "id", "source", "type", "subject")} == {
        "specversion": "1.0",
        "id": "fraud.0001",
        "source": "/modelguard/risk/fraud",
        "type": "io.modelguard.rolledback",
        "subject": "risk/fraud",
    }
    assert ce["time"] == T0.isoformat()
    assert ce["datacontenttype"] == "application/json"
    data = ce["data"]
    assert data["object"] == {
        "apiVersion": "modelguard.io/v1alpha1",
        "kind": "ModelDeployment",
        "namespace": "risk",
        "name": "fraud",
        "uid": "uid-1",
    }
    assert data["versions"]["from"] == "v2"
    assert data["versions"]["to"] == "v1"
    assert data["versions"]["stable"] == "v1"
    assert data["evaluation"]["checks"][0]["value"] == 0.42
    assert data["evaluation"]["checks"][0]["verdict"] == "Failed"


def test_slack_message_has_text_and_blocks_and_escapes_control_characters() -> None:
    engaged = BEFORE.model_copy(
        update={
            "kill_switch": KillSwitchStatus(
                engaged=True, reason="<!channel> fraud spike & more", requested_by="alice"
            )
        }
    )
    status = notification.record(
        spec(KILLS_ONLY), BEFORE, engaged, [event("KillSwitchEngaged")], T0
    )
    msg = notification.slack(of(status).pending[0], "risk", "fraud", "uid-1")
    assert msg["text"].startswith("risk/fraud: kill switch engaged")
    assert "<!channel>" not in str(msg)  # a reason cannot page a whole channel
    assert "&lt;!channel&gt; fraud spike &amp; more" in msg["text"]
    assert [b["type"] for b in msg["blocks"]] == ["header", "section", "section", "context"]
    assert "alice" in str(msg["blocks"][2])
    assert "fraud.0001" in str(msg["blocks"][-1])


CANARY = CanaryStatus(
    version=ModelVersion(image="reg/fraud:3.0", model_tag="v3"),
    step=0,
    desired_weight=10,
    started_at=T0,
    step_started_at=T0,
    ready_at=T0,
)
STABLE = BEFORE.model_copy(update={"current_version": V1, "canary": CANARY})


def canary_event(tick: machine.Tick) -> OutgoingEvent:
    """The Event the canary's step machine itself posts (its reason is what maps)."""
    [posted] = tick.events
    return event(posted.reason, message=posted.message)


def test_a_canary_abort_is_a_decision_about_the_canary_with_its_evidence() -> None:
    tick = machine.abort(CANARY, None, "2 consecutive failed evaluations", quarantine=True)
    aborted = STABLE.model_copy(
        update={
            "canary": tick.status,
            "quarantined_versions": [
                QuarantinedVersion.quarantine(CANARY.version, T0, "canary: accuracy-ab Failed")
            ],
            "last_evaluation": ROLLED_BACK.last_evaluation,
        }
    )
    out = notification.record(spec(ONCALL, KILLS_ONLY), STABLE, aborted, [canary_event(tick)], T0)
    [notice] = of(out).pending
    assert notice.decision is Decision.CANARY_ABORTED
    # The canary's version, not the stable the target still runs.
    assert (notice.version, notice.from_version, notice.to_version) == ("v3", "v1", "v3")
    assert (notice.quarantined, notice.reason) == ("v3", "canary: accuracy-ab Failed")
    assert [c.name for c in notice.checks] == ["accuracy"]
    assert notice.receivers == ["oncall"]
    assert payload.event_type(notice.decision) == "io.modelguard.canaryaborted"
    text = payload.slack(notice, "ns", "fraud", "uid")["text"]
    assert text.startswith("ns/fraud: canary aborted: canary: accuracy-ab Failed")


def test_a_canary_step_is_sent_only_to_who_subscribes_and_a_cancel_never() -> None:
    steps = {**ONCALL, "name": "steps", "decisions": ["canaryStepAdvanced"]}
    advanced = event(EventReason.CANARY_STEP_ADVANCED, message="Canary v3 passed step 1/2")
    after = STABLE.model_copy(update={"canary": CANARY.model_copy(update={"step": 1})})
    out = notification.record(spec(KILLS_ONLY, steps), STABLE, after, [advanced], T0)
    [notice] = of(out).pending
    assert (notice.decision, notice.version, notice.receivers) == (
        Decision.CANARY_STEP_ADVANCED,
        "v3",
        ["steps"],
    )
    assert notice.reason == "Canary v3 passed step 1/2"
    cancelled = canary_event(machine.abort(CANARY, None, "spec changed", quarantine=False))
    assert notification.record(spec(ONCALL), STABLE, STABLE, [cancelled], T0) == STABLE
