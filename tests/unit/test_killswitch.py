"""The kill-switch state machine, one transition per case.

Crash-safety relies on the reconciler writing the returned status before running the
actions; the "crash" cases replay a step on a status whose actions never ran.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from modelguard.core.api import (
    FallbackSpec,
    KillSwitchMode,
    KillSwitchSpec,
    KillSwitchStatus,
    ModelVersion,
    SavedWorkload,
)
from modelguard.core.killswitch import KillSwitchStep, step
from modelguard.core.workload import (
    Action,
    Scale,
    ServiceState,
    SetSelector,
    SetVersion,
    Workload,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MODEL = {"app": "fraud-scorer"}
FALLBACK = {"app": "fraud-rules"}

OFF = KillSwitchSpec()
SCALE = KillSwitchSpec(enabled=True, reason="INC-42 bad scores")
FB = KillSwitchSpec(
    enabled=True,
    mode=KillSwitchMode.FALLBACK,
    reason="INC-43",
    fallback=FallbackSpec(service_name="fraud-scorer", selector=FALLBACK),
)
FB_OFF = FB.model_copy(update={"enabled": False, "reason": ""})


def workload(
    replicas: int | None = 7,
    selector: dict[str, str] | None = None,
    service: bool = False,
    fallback_ready: int | None = None,
) -> Workload:
    svc = ServiceState("fraud-scorer", True, dict(selector or MODEL)) if service else None
    return Workload(
        exists=True,
        container="server",
        version=ModelVersion(image="reg/fraud:1", model_tag="v1"),
        replicas=replicas,
        ready_replicas=replicas or 0,
        service=svc,
        fallback_ready_pods=fallback_ready,
    )


def apply(w: Workload, actions: tuple[Action, ...]) -> Workload:
    """What the workload adapter would do (level-based)."""
    for a in actions:
        assert not isinstance(a, SetVersion), f"the kill switch never changes versions: {a}"
        if isinstance(a, Scale):
            w = replace(w, replicas=a.replicas, ready_replicas=a.replicas)
        elif isinstance(a, SetSelector):
            assert w.service is not None and w.service.name == a.service
            w = replace(w, service=replace(w.service, selector=dict(a.selector)))
    return w


def saved(replicas: int | None = None, selector: dict[str, str] | None = None) -> SavedWorkload:
    """What the kill switch saves: the Service is named whenever its selector is saved."""
    service = "fraud-scorer" if selector is not None else None
    return SavedWorkload(replicas=replicas, selector=selector, service=service)


def reasons(s: KillSwitchStep) -> list[str]:
    return [e.reason for e in s.events]


def engaged(
    replicas: int | None = 7,
    selector: dict[str, str] | None = None,
    mode: KillSwitchMode = KillSwitchMode.SCALE_TO_ZERO,
    fallback_ready: bool | None = None,
) -> KillSwitchStatus:
    return KillSwitchStatus(
        engaged=True,
        mode=mode,
        since=NOW,
        reason="INC",
        requested_by="alice",
        saved=saved(replicas, selector),
        fallback_ready=fallback_ready,
    )


# --------------------------------------------------------------------------- released


def test_released_and_off_does_nothing() -> None:
    s = step(OFF, KillSwitchStatus(), workload(), "", NOW)
    assert s == KillSwitchStep(status=KillSwitchStatus())


# --------------------------------------------------------------------------- scaleToZero


@pytest.mark.parametrize(
    ("replicas", "kept"),
    [
        pytest.param(7, 7, id="seven"),
        pytest.param(1, 1, id="one"),
        pytest.param(0, 0, id="already-zero"),
        pytest.param(None, 1, id="unset-replicas-default-1"),
    ],
)
def test_engage_scale_to_zero_saves_replicas(replicas: int | None, kept: int) -> None:
    s = step(SCALE, KillSwitchStatus(), workload(replicas), "alice", NOW)
    assert s.actions == (Scale(0),)
    assert s.status.engaged
    assert s.status.mode is KillSwitchMode.SCALE_TO_ZERO
    assert s.status.saved == saved(kept, None)
    assert s.status.since == NOW
    assert s.status.requested_by == "alice"
    assert s.status.reason == "INC-42 bad scores"
    assert reasons(s) == ["KillSwitchEngaged"]
    assert s.events[0].type == "Warning"
    message = s.events[0].message
    assert "alice" in message and "INC-42 bad scores" in message and f"{kept} -> 0" in message
    assert not s.released


def test_engaged_and_scaled_to_zero_is_idempotent() -> None:
    first = step(SCALE, KillSwitchStatus(), workload(7), "alice", NOW)
    again = step(SCALE, first.status, workload(0), "alice", NOW + timedelta(minutes=5))
    assert again.actions == ()
    assert again.events == ()
    assert again.status == first.status


@pytest.mark.parametrize("someone", [5, 7, 1], ids=lambda n: f"scaled-to-{n}")
def test_scaling_up_while_engaged_is_reverted_and_saved_kept(someone: int) -> None:
    s = step(SCALE, engaged(7), workload(someone), "bob", NOW)
    assert s.actions == (Scale(0),)
    assert reasons(s) == ["KillSwitchEnforced"]
    assert s.events[0].type == "Warning"
    assert str(someone) in s.events[0].message
    assert s.status.saved == saved(7)  # never overwritten
    assert s.status.requested_by == "alice"  # who engaged it, not who looked later


def test_crash_after_engage_status_written_reissues_scale() -> None:
    """Status (saved 7) was written, Scale(0) never ran: the Deployment still has 7."""
    first = step(SCALE, KillSwitchStatus(), workload(7), "alice", NOW)
    replay = step(SCALE, first.status, workload(7), "alice", NOW + timedelta(seconds=1))
    assert replay.actions == (Scale(0),)
    assert replay.status.saved == saved(7)
    assert replay.status.since == NOW


def test_reason_update_while_engaged_is_recorded() -> None:
    spec = SCALE.model_copy(update={"reason": "INC-42: root cause found"})
    s = step(spec, engaged(7), workload(0), "", NOW)
    assert s.status.reason == "INC-42: root cause found"
    assert s.actions == ()


def test_release_restores_and_stays_engaged_until_observed() -> None:
    start = engaged(7)
    restoring = step(OFF, start, workload(0), "carol", NOW)
    assert restoring.actions == (Scale(7),)
    assert restoring.status == start  # still engaged: a crash now restores again
    assert restoring.events == ()
    assert not restoring.released

    # A crash before the Scale(7) ran: the replay asks again.
    replay = step(OFF, restoring.status, workload(0), "carol", NOW)
    assert replay.actions == (Scale(7),)

    done = step(OFF, restoring.status, workload(7), "carol", NOW)
    assert done.actions == ()
    assert done.released
    assert done.status == KillSwitchStatus()
    assert reasons(done) == ["KillSwitchReleased"]
    assert done.events[0].type == "Normal"
    assert "carol" in done.events[0].message and "replicas 7" in done.events[0].message

    # And once released, nothing more.
    after = step(OFF, done.status, workload(7), "", NOW)
    assert after == KillSwitchStep(status=KillSwitchStatus())


def test_release_partially_observed_restores_again() -> None:
    """Someone scaled to 3 between our restore and our observation: restore to 7 again."""
    s = step(OFF, engaged(7), workload(3), "", NOW)
    assert s.actions == (Scale(7),)
    assert not s.released


def test_reengage_during_release_keeps_the_first_saved_count() -> None:
    """Release was asked and Scale(7) ran, then the switch was flipped on again before we
    observed: the saved 7 stays, we scale back to 0."""
    s = step(SCALE, engaged(7), workload(7), "", NOW)
    assert s.actions == (Scale(0),)
    assert s.status.saved == saved(7)


def test_full_cycle_restores_exactly() -> None:
    w = workload(7)
    status = KillSwitchStatus()
    s = step(SCALE, status, w, "alice", NOW)
    w = apply(w, s.actions)
    assert w.replicas == 0
    s = step(SCALE, s.status, w, "alice", NOW)
    assert s.actions == ()
    s = step(OFF, s.status, w, "alice", NOW)
    w = apply(w, s.actions)
    s = step(OFF, s.status, w, "alice", NOW)
    assert s.released
    assert w.replicas == 7


# --------------------------------------------------------------------------- fallback


def test_fallback_with_ready_pods_switches_selector_only() -> None:
    s = step(FB, KillSwitchStatus(), workload(7, service=True, fallback_ready=2), "alice", NOW)
    assert s.actions == (SetSelector("fraud-scorer", FALLBACK),)
    assert s.status.saved == saved(None, MODEL)
    assert s.status.fallback_ready is True
    assert s.status.mode is KillSwitchMode.FALLBACK
    assert reasons(s) == ["KillSwitchEngaged"]
    assert "app=fraud-rules" in s.events[0].message


def test_fallback_without_ready_pods_switches_and_scales_to_zero() -> None:
    s = step(FB, KillSwitchStatus(), workload(7, service=True, fallback_ready=0), "alice", NOW)
    assert s.actions == (SetSelector("fraud-scorer", FALLBACK), Scale(0))
    assert s.status.saved == saved(7, MODEL)
    assert s.status.fallback_ready is False
    assert reasons(s) == ["KillSwitchEngaged", "FallbackUnavailable"]
    assert s.events[1].type == "Warning"


def test_fallback_service_missing_scales_to_zero_with_warning() -> None:
    w = replace(workload(7), service=ServiceState("fraud-scorer", exists=False))
    s = step(FB, KillSwitchStatus(), w, "alice", NOW)
    assert s.actions == (Scale(0),)
    assert s.status.saved == saved(7, None)
    assert s.status.fallback_ready is False
    assert reasons(s) == ["KillSwitchEngaged", "FallbackServiceNotFound"]
    assert all(e.type == "Warning" for e in s.events)


def test_fallback_service_not_observed_scales_to_zero() -> None:
    s = step(FB, KillSwitchStatus(), workload(7, service=False, fallback_ready=3), "", NOW)
    assert s.actions == (Scale(0),)
    assert "FallbackServiceNotFound" in reasons(s)


def test_fallback_engaged_and_in_place_is_idempotent() -> None:
    first = step(FB, KillSwitchStatus(), workload(7, service=True, fallback_ready=2), "a", NOW)
    w = apply(workload(7, service=True, fallback_ready=2), first.actions)
    again = step(FB, first.status, w, "a", NOW)
    assert again.actions == ()
    assert again.events == ()
    assert again.status == first.status


def test_service_selector_edited_while_engaged_is_switched_back() -> None:
    status = engaged(None, MODEL, KillSwitchMode.FALLBACK, fallback_ready=True)
    w = workload(7, selector={"app": "fraud-scorer", "edited": "yes"}, service=True)
    w = replace(w, fallback_ready_pods=2)
    s = step(FB, status, w, "", NOW)
    assert s.actions == (SetSelector("fraud-scorer", FALLBACK),)
    assert reasons(s) == ["KillSwitchEnforced"]
    assert s.status.saved == saved(None, MODEL)  # not overwritten


def test_crash_after_fallback_engage_reissues_selector() -> None:
    first = step(FB, KillSwitchStatus(), workload(7, service=True, fallback_ready=2), "a", NOW)
    replay = step(FB, first.status, workload(7, service=True, fallback_ready=2), "a", NOW)
    assert replay.actions == (SetSelector("fraud-scorer", FALLBACK),)
    assert replay.status.saved == saved(None, MODEL)


def test_fallback_losing_its_last_ready_pod_stops_the_model_once() -> None:
    """One Scale(0) and one warning that says why; not a second 'someone scaled it'."""
    status = engaged(None, MODEL, KillSwitchMode.FALLBACK, fallback_ready=True)
    w = workload(7, selector=FALLBACK, service=True, fallback_ready=0)
    s = step(FB, status, w, "", NOW)
    assert s.actions == (Scale(0),)
    assert reasons(s) == ["FallbackUnavailable"]
    assert s.status.saved == saved(7, MODEL)
    assert s.status.fallback_ready is False
    # Applied: nothing more to do.
    again = step(FB, s.status, apply(w, s.actions), "", NOW)
    assert again.actions == ()
    assert again.events == ()


def test_fallback_ready_again_does_not_restart_the_model_while_engaged() -> None:
    """Once the model was stopped it stays stopped until release, even if the fallback
    recovers: the switch never turns the model back on by itself."""
    status = engaged(7, MODEL, KillSwitchMode.FALLBACK, fallback_ready=False)
    w = workload(0, selector=FALLBACK, service=True, fallback_ready=3)
    s = step(FB, status, w, "", NOW)
    assert s.actions == ()
    assert s.status.fallback_ready is True
    assert s.status.saved == saved(7, MODEL)


@pytest.mark.parametrize(
    ("status", "w", "actions"),
    [
        pytest.param(
            engaged(None, MODEL, KillSwitchMode.FALLBACK, True),
            workload(7, selector=FALLBACK, service=True, fallback_ready=2),
            (SetSelector("fraud-scorer", MODEL),),
            id="selector-only",
        ),
        pytest.param(
            engaged(7, MODEL, KillSwitchMode.FALLBACK, False),
            workload(0, selector=FALLBACK, service=True, fallback_ready=0),
            (Scale(7), SetSelector("fraud-scorer", MODEL)),
            id="selector-and-replicas",
        ),
        pytest.param(
            engaged(7, None, KillSwitchMode.FALLBACK, False),
            workload(0, service=False),
            (Scale(7),),
            id="service-was-missing",
        ),
    ],
)
def test_release_in_fallback_restores_what_was_saved(
    status: KillSwitchStatus, w: Workload, actions: tuple[Action, ...]
) -> None:
    s = step(FB_OFF, status, w, "carol", NOW)
    assert s.actions == actions
    assert s.status == status
    done = step(FB_OFF, s.status, apply(w, s.actions), "carol", NOW)
    assert done.released
    assert done.actions == ()
    assert reasons(done) == ["KillSwitchReleased"]
    after = apply(w, s.actions)
    if status.saved and status.saved.selector is not None:
        assert after.service is not None and after.service.selector == status.saved.selector
    if status.saved and status.saved.replicas is not None:
        assert after.replicas == status.saved.replicas


def test_release_when_the_service_is_gone_completes() -> None:
    status = engaged(None, MODEL, KillSwitchMode.FALLBACK, True)
    w = replace(workload(7), service=ServiceState("fraud-scorer", exists=False))
    s = step(FB_OFF, status, w, "", NOW)
    assert s.actions == ()
    assert s.released
