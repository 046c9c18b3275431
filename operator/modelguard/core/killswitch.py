"""The kill-switch state machine.

    Released --spec.enabled--> Engaged --spec disabled, workload restored--> Released

Crash-safety comes from ordering, which the reconciler guarantees: the status this
returns (with the saved replica count / selector) is written *before* its actions run.
So a crash after saving re-enforces from the saved state, and a crash before saving
finds the workload untouched and saves it then. Saved state is written once per
engagement and never overwritten while engaged, so a second engage cannot save the 0
replicas of the first. Release stays Engaged until the restore is observed, so a crash
mid-restore restores again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelguard.core.api import (
    FallbackSpec,
    KillSwitchMode,
    KillSwitchSpec,
    KillSwitchStatus,
    SavedWorkload,
)
from modelguard.core.reasons import EventReason
from modelguard.core.workload import Action, Event, Scale, SetSelector, Workload


@dataclass(frozen=True)
class KillSwitchStep:
    status: KillSwitchStatus
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    released: bool = False  # restore confirmed this step: analysis restarts from scratch


def _fmt_selector(selector: dict[str, str] | None) -> str:
    if not selector:
        return "{}"
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _by(requested_by: str) -> str:
    return f" by {requested_by}" if requested_by else ""


def step(
    spec: KillSwitchSpec,
    status: KillSwitchStatus,
    workload: Workload,
    requested_by: str,
    now: datetime,
    *,
    dry_run: bool = False,
) -> KillSwitchStep:
    """dry_run: the restore is never written, so it can never be observed; the release
    is recorded at once with the restore as a held action (see core.dryrun)."""
    if spec.enabled and not status.engaged:
        return _engage(spec, workload, requested_by, now)
    if spec.enabled:
        return _enforce(spec, status, workload)
    if status.engaged:
        return _release(status, workload, requested_by, dry_run)
    return KillSwitchStep(status=status)


@dataclass
class _Engagement:
    """What engaging changes, built up by the mode's steps: saved before it is changed."""

    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    saved_replicas: int | None = None
    saved_selector: dict[str, str] | None = None
    saved_service: str | None = None
    fallback_ready: bool | None = None
    detail: str = ""

    def scale_to_zero(self, replicas: int) -> None:
        self.saved_replicas = replicas
        self.actions.append(Scale(0))
        self.detail += f"; scaled {replicas} -> 0 replicas"


def _engage_fallback(
    fallback: FallbackSpec, workload: Workload, replicas: int, out: _Engagement
) -> None:
    """Switch the Service to the fallback; also scale to zero when the fallback cannot
    serve (no Service, or no Ready fallback pods), so the model is stopped either way."""
    service = workload.service
    out.fallback_ready = (workload.fallback_ready_pods or 0) > 0
    if service is None or not service.exists:
        out.events.append(
            Event(
                "Warning",
                EventReason.FALLBACK_SERVICE_NOT_FOUND,
                f"Service {fallback.service_name!r} not found: scaling the model "
                "to zero instead of switching traffic",
            )
        )
        out.fallback_ready = False
    elif not service.selector:
        # No selector: its endpoints are managed by hand (an external or headless
        # backend). Setting one hands them to the endpoints controller, which drops the
        # hand-made ones, and no restore brings them back: never switch such a Service.
        out.events.append(
            Event(
                "Warning",
                EventReason.FALLBACK_UNAVAILABLE,
                f"Service {service.name!r} has no selector (its endpoints are managed by "
                "hand), so traffic cannot be switched to the fallback: scaling the model "
                "to zero instead",
            )
        )
        out.fallback_ready = False
        out.scale_to_zero(replicas)
        return
    else:
        out.saved_selector = dict(service.selector or {})
        out.saved_service = service.name
        out.actions.append(SetSelector(service.name, dict(fallback.selector)))
        out.detail = (
            f"; Service {service.name} switched from {_fmt_selector(out.saved_selector)} "
            f"to fallback {_fmt_selector(fallback.selector)}"
        )
    if out.fallback_ready:
        return
    out.scale_to_zero(replicas)
    if service is not None and service.exists:
        out.events.append(
            Event(
                "Warning",
                EventReason.FALLBACK_UNAVAILABLE,
                f"fallback {_fmt_selector(fallback.selector)} has no Ready pods: "
                f"the model is scaled to zero too, so nothing serves traffic",
            )
        )


def _engage(
    spec: KillSwitchSpec, workload: Workload, requested_by: str, now: datetime
) -> KillSwitchStep:
    replicas = workload.replicas if workload.replicas is not None else 1
    out = _Engagement()
    if spec.mode is KillSwitchMode.FALLBACK and spec.fallback is not None:
        _engage_fallback(spec.fallback, workload, replicas, out)
    else:
        out.scale_to_zero(replicas)

    if out.saved_replicas is not None and workload.autoscaler:
        # An HPA does not scale a target that has 0 replicas, and resumes when the
        # release restores them: nothing to patch on it, but say so.
        out.detail += (
            f"; HorizontalPodAutoscaler {workload.autoscaler} pauses while replicas are 0 "
            "and resumes on release"
        )
    new_status = KillSwitchStatus(
        engaged=True,
        mode=spec.mode,
        since=now,
        reason=spec.reason,
        requested_by=requested_by,
        saved=SavedWorkload(
            replicas=out.saved_replicas, selector=out.saved_selector, service=out.saved_service
        ),
        fallback_ready=out.fallback_ready,
    )
    engaged = Event(
        "Warning",
        EventReason.KILL_SWITCH_ENGAGED,
        f"Kill switch engaged{_by(requested_by)} ({spec.mode.value}): {spec.reason}{out.detail}",
    )
    return KillSwitchStep(
        status=new_status, actions=tuple(out.actions), events=(engaged, *out.events)
    )


def _enforce(spec: KillSwitchSpec, status: KillSwitchStatus, workload: Workload) -> KillSwitchStep:
    saved = status.saved or SavedWorkload()
    actions: list[Action] = []
    events: list[Event] = []
    fallback_ready = status.fallback_ready
    stopping = False  # scaled to zero just now, with its own event

    if status.mode is KillSwitchMode.FALLBACK and spec.fallback is not None:
        service = workload.service
        if (
            saved.selector is not None
            and service is not None
            and service.exists
            and service.selector != spec.fallback.selector
        ):
            actions.append(SetSelector(service.name, dict(spec.fallback.selector)))
            events.append(
                Event(
                    "Warning",
                    EventReason.KILL_SWITCH_ENFORCED,
                    f"Service {service.name} selector was {_fmt_selector(service.selector)} "
                    f"while the kill switch is engaged: switched back to the fallback",
                )
            )
        fallback_ready = (workload.fallback_ready_pods or 0) > 0
        if saved.replicas is None and not fallback_ready:
            # The fallback lost its last Ready pod: stop the model rather than let the
            # Service route to nothing while the model is believed stopped.
            replicas = workload.replicas if workload.replicas is not None else 1
            saved = saved.model_copy(update={"replicas": replicas})
            stopping = True
            actions.append(Scale(0))
            events.append(
                Event(
                    "Warning",
                    EventReason.FALLBACK_UNAVAILABLE,
                    f"fallback {_fmt_selector(spec.fallback.selector)} has no Ready pods: "
                    f"scaled the model {replicas} -> 0 replicas too",
                )
            )

    if saved.replicas is not None and workload.replicas != 0 and not stopping:
        actions.append(Scale(0))
        events.append(
            Event(
                "Warning",
                EventReason.KILL_SWITCH_ENFORCED,
                f"Deployment was scaled to {workload.replicas} while the kill switch is "
                "engaged: scaled back to 0",
            )
        )

    new_status = status.model_copy(
        update={"reason": spec.reason, "saved": saved, "fallback_ready": fallback_ready}
    )
    return KillSwitchStep(status=new_status, actions=tuple(actions), events=tuple(events))


def restored(saved: SavedWorkload | None) -> str:
    """What a release puts back, for Events: "replicas 3, selector app=x" or "nothing"."""
    parts = []
    if saved is not None and saved.replicas is not None:
        parts.append(f"replicas {saved.replicas}")
    if saved is not None and saved.selector is not None:
        parts.append(f"selector {_fmt_selector(saved.selector)}")
    return ", ".join(parts) or "nothing"


def _release(
    status: KillSwitchStatus, workload: Workload, requested_by: str, dry_run: bool
) -> KillSwitchStep:
    saved = status.saved or SavedWorkload()
    actions: list[Action] = []
    if saved.replicas is not None and workload.replicas != saved.replicas:
        actions.append(Scale(saved.replicas))
    service = workload.service
    if (
        saved.selector is not None
        and service is not None
        and service.exists
        and service.selector != saved.selector
    ):
        actions.append(SetSelector(service.name, dict(saved.selector)))
    if actions and not dry_run:
        # Stay engaged until the restore is observed: a crash now restores again.
        return KillSwitchStep(status=status, actions=tuple(actions))
    event = Event(
        "Normal",
        EventReason.KILL_SWITCH_RELEASED,
        f"Kill switch released{_by(requested_by)}: restored {restored(saved)}"
        "; analysis restarts with a fresh warmup",
    )
    return KillSwitchStep(
        status=KillSwitchStatus(), actions=tuple(actions), events=(event,), released=True
    )
