"""The reconcile decision: (spec, status, what was observed, now) -> (status, actions, events).

One pure function decides everything, in a fixed order of precedence:

1. the target must exist;
2. the kill switch wins over everything (killswitch.step);
3. a recorded but unfinished version change is finished (write-ahead, see PendingAction);
4. a manual rollback request is handled once (its id is recorded);
5. the desired version is applied unless it is quarantined;
6. an evaluation result, if one is due and was taken, promotes or rolls back.

The reconciler writes the returned status *before* running the actions, so every
decision is durable before it has an effect; re-running plan() on the same inputs after
the actions ran yields no new actions (idempotence, tested as a property).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelguard.core import conditions as cond
from modelguard.core.api import (
    HISTORY_LIMIT,
    KNOWN_GOOD_LIMIT,
    QUARANTINE_LIMIT,
    CheckResult,
    Condition,
    Evaluation,
    HistoryEntry,
    KillSwitchSpec,
    KillSwitchStatus,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
    Outcome,
    PendingAction,
    Phase,
    QuarantinedVersion,
    RollbackRequest,
    Verdict,
    VersionSpec,
    VersionStatus,
)
from modelguard.core.durations import format_duration, parse_duration
from modelguard.core.evaluation import metrics_available, overall
from modelguard.core.killswitch import step as kill_switch_step
from modelguard.core.workload import Action, Event, SetVersion, Workload

DEFAULT_TAG_ENV = "MODEL_VERSION"
# Without these, an engaged switch or an unconfirmed version change would be "due" at
# once forever (no evaluation moves the clock) and spin the scheduler.
KILL_SWITCH_RECHECK = timedelta(seconds=10)
PENDING_RECHECK = timedelta(seconds=2)


@dataclass(frozen=True)
class Observation:
    workload: Workload
    requested_by: str = ""
    rollback_request: RollbackRequest | None = None
    evaluation: Sequence[CheckResult] | None = None  # taken this tick, if one was due


@dataclass(frozen=True)
class Plan:
    status: ModelDeploymentStatus
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()


# --------------------------------------------------------------------------- helpers


def tag_env(spec: ModelDeploymentSpec) -> str:
    return spec.version.model_tag_env if spec.version is not None else DEFAULT_TAG_ENV


def matches(desired: VersionSpec, concrete: ModelVersion | None) -> bool:
    """A desired version names an image, a tag or both; the unnamed part is free."""
    if concrete is None:
        return False
    return (desired.image is None or desired.image == concrete.image) and (
        desired.model_tag is None or desired.model_tag == concrete.model_tag
    )


def resolve(desired: VersionSpec, running: ModelVersion | None) -> ModelVersion:
    """The concrete version that applying `desired` over `running` produces."""
    return ModelVersion(
        image=desired.image or (running.image if running else None),
        model_tag=desired.model_tag or (running.model_tag if running else None),
    )


def plain(version: ModelVersion) -> ModelVersion:
    """Just the identity (image, tag): what actions and pending actions carry, so that
    they compare equal and a status survives a round trip through the API server."""
    return ModelVersion(image=version.image, model_tag=version.model_tag)


def is_quarantined(status: ModelDeploymentStatus, version: ModelVersion) -> bool:
    return any(q.same(version) for q in status.quarantined_versions)


def desired_quarantined(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> bool:
    return spec.version is not None and any(
        matches(spec.version, q) for q in status.quarantined_versions
    )


def rollback_target(status: ModelDeploymentStatus) -> VersionStatus | None:
    """Newest known-good version that is not quarantined and is not what runs now."""
    for version in reversed(status.known_good_versions):
        if not is_quarantined(status, version) and not version.same(status.current_version):
            return version
    return None


def stable_version(status: ModelDeploymentStatus) -> VersionStatus | None:
    for version in reversed(status.known_good_versions):
        if not is_quarantined(status, version):
            return version
    return None


def template_values(status: ModelDeploymentStatus, namespace: str, name: str) -> dict[str, str]:
    """Values for PromQL templates. {{stableVersion}} is the version a relative check
    compares against: the newest known-good one other than the current version, so a
    promoted version is still compared with its predecessor after promotion."""
    values = {"namespace": namespace, "name": name}
    if status.current_version is not None:
        values["version"] = status.current_version.name
    baseline = rollback_target(status)
    if baseline is not None:
        values["stableVersion"] = baseline.name
    return values


def analysis_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> bool:
    """Whether the reconciler should query Prometheus now."""
    if spec.analysis is None or status.current_version is None:
        return False
    if status.kill_switch.engaged or spec.kill_switch.enabled or status.pending_action:
        return False
    since = status.current_version.since or now
    if now < since + parse_duration(spec.analysis.warmup):
        return False
    last = status.last_evaluation
    if last is None or last.version != status.current_version.name or last.time < since:
        return True
    return now >= last.time + parse_duration(spec.analysis.interval)


def next_due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> datetime:
    """When to reconcile next without an event: when analysis_due() turns true, or
    sooner for a switch or a version change that is being held in place."""
    if status.kill_switch.engaged or spec.kill_switch.enabled:
        # No analysis runs; re-check the fallback's readiness and the enforcement.
        return now + KILL_SWITCH_RECHECK
    if status.pending_action is not None:
        return now + PENDING_RECHECK
    if spec.analysis is None or status.current_version is None:
        return now + timedelta(hours=1)
    since = status.current_version.since or now
    warm = since + parse_duration(spec.analysis.warmup)
    last = status.last_evaluation
    if last is None or last.version != status.current_version.name or last.time < since:
        return max(now, warm)
    return max(now, warm, last.time + parse_duration(spec.analysis.interval))


def _missing_reason(results: Sequence[CheckResult]) -> str:
    """MetricsAvailable=False's reason: a failing query (Prometheus down, bad PromQL)
    before an ambiguous result before plain absence, so an alert can tell them apart."""
    reasons = {r.reason for r in results if r.verdict is Verdict.INCONCLUSIVE}
    return next((r for r in ("QueryError", "AmbiguousResult") if r in reasons), "NoData")


def _evidence(results: Sequence[CheckResult]) -> str:
    failing = [r for r in results if r.verdict is not Verdict.PASSED]
    shown = failing or list(results)
    return "; ".join(f"{r.name}: {r.verdict.value} ({r.message})" for r in shown)


# --------------------------------------------------------------------------- the draft


@dataclass
class _Draft:
    """A mutable working copy of the status for one plan() call."""

    status: ModelDeploymentStatus
    now: datetime
    generation: int | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    quarantined: list[QuarantinedVersion] = field(default_factory=list)
    known_good: list[VersionStatus] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    updates: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, status: ModelDeploymentStatus, now: datetime, generation: int | None) -> _Draft:
        return cls(
            status=status,
            now=now,
            generation=generation,
            history=list(status.history),
            quarantined=list(status.quarantined_versions),
            known_good=list(status.known_good_versions),
        )

    def get(self) -> ModelDeploymentStatus:
        return self.status.model_copy(
            update={
                **self.updates,
                "history": self.history[-HISTORY_LIMIT:],
                "quarantined_versions": self.quarantined[-QUARANTINE_LIMIT:],
                "known_good_versions": self.known_good[-KNOWN_GOOD_LIMIT:],
            }
        )

    def set(self, **updates: object) -> None:
        self.updates.update(updates)
        self.status = self.status.model_copy(update=updates)

    def put(self, type_: str, value: cond.Status, reason: str, message: str = "") -> None:
        conditions = cond.set_condition(
            self.status.conditions, type_, value, reason, message, self.now, self.generation
        )
        self.set(conditions=conditions)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(Event("Warning" if type_ == "Warning" else "Normal", reason, message))

    def close_current(self, outcome: Outcome, reason: str) -> None:
        if self.history and self.history[-1].outcome in (Outcome.LIVE, Outcome.PROMOTED):
            last = self.history[-1]
            if outcome is Outcome.SUPERSEDED and last.outcome is Outcome.PROMOTED:
                return  # a promoted version stays marked as such in the record
            self.history[-1] = last.model_copy(update={"outcome": outcome, "reason": reason})

    def go_live(
        self, version: ModelVersion, outcome: Outcome, reason: str, *, kind: str | None, env: str
    ) -> None:
        """Record `version` as running from now; with kind, also ask for the patch."""
        self.history.append(
            HistoryEntry(
                version=version.name,
                image=version.image,
                model_tag=version.model_tag,
                since=self.now,
                outcome=outcome,
                reason=reason,
            )
        )
        self.set(
            current_version=VersionStatus.of(version, self.now),
            consecutive_failures=0,
            passing_since=None,
        )
        if kind is not None:
            self.set(
                pending_action=PendingAction.model_validate(
                    {
                        "kind": kind,
                        "target": plain(version),
                        "reason": reason,
                        "decidedAt": self.now,
                    }
                )
            )
            self.actions.append(SetVersion(plain(version), env))


# --------------------------------------------------------------------------- plan


def plan(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    generation: int | None,
    obs: Observation,
    now: datetime,
) -> Plan:
    draft = _Draft.of(status, now, generation)
    draft.set(observed_generation=generation)
    workload = obs.workload

    if not workload.exists or workload.version is None:
        return _target_missing(draft, spec, workload, generation)

    step = kill_switch_step(spec.kill_switch, status.kill_switch, workload, obs.requested_by, now)
    draft.set(kill_switch=step.status)
    draft.actions.extend(step.actions)
    draft.events.extend(step.events)
    if step.released and draft.status.current_version is not None:
        # A fresh warmup: the model was stopped, its metrics say nothing about now.
        draft.set(
            current_version=draft.status.current_version.model_copy(update={"since": now}),
            consecutive_failures=0,
            passing_since=None,
        )
    if step.status.engaged:
        _record_desired(draft, spec, workload)
        return _finish(draft, spec, generation)

    env = tag_env(spec)
    pending = draft.status.pending_action
    if pending is not None:
        if pending.target.same(workload.version):
            # Warmup counts from when the Deployment took the version, not from the decision.
            current = draft.status.current_version
            draft.set(
                pending_action=None,
                current_version=current.model_copy(update={"since": now}) if current else None,
            )
        else:
            draft.actions.append(SetVersion(plain(pending.target), env))
            return _finish(draft, spec, generation)

    if draft.status.current_version is None:
        _adopt(draft, spec, workload, env)
        return _finish(draft, spec, generation)
    # The version the evaluation (if any) was taken for, before anything changed here.
    evaluated = draft.status.current_version

    if obs.rollback_request is not None and (
        obs.rollback_request.id != draft.status.handled_rollback_request
    ):
        _manual_rollback(draft, obs.rollback_request, env)
        if draft.status.pending_action is not None:
            return _finish(draft, spec, generation)

    _follow_desired(draft, spec, workload, env)
    if (
        draft.status.pending_action is None
        and obs.evaluation is not None
        and spec.analysis is not None
        and evaluated.same(draft.status.current_version)
    ):
        # Not when the version changed in between (watch mode, a change made by someone
        # else): the results describe the old version and must not count for the new.
        _judge(draft, spec, obs.evaluation, env)
    return _finish(draft, spec, generation)


@dataclass(frozen=True)
class KillSwitchOnly:
    """What an invalid object still yields for its kill switch: the switch wins over
    everything, a typo elsewhere in the spec included."""

    spec: KillSwitchSpec
    workload: Workload
    requested_by: str = ""


def invalid_spec(
    status: ModelDeploymentStatus,
    message: str,
    generation: int | None,
    now: datetime,
    kill_switch: KillSwitchOnly | None = None,
) -> Plan:
    """An object the API server admitted but the operator cannot act on, except for its
    kill switch when that part of the spec (and the target) could still be read."""
    conditions = cond.set_condition(
        status.conditions, cond.INVALID_SPEC, "True", "InvalidSpec", message, now, generation
    )
    conditions = cond.set_condition(
        conditions, cond.READY, "False", "InvalidSpec", message, now, generation
    )
    was_invalid = cond.is_true(status.conditions, cond.INVALID_SPEC)
    events: list[Event] = [] if was_invalid else [Event("Warning", "InvalidSpec", message)]
    actions: tuple[Action, ...] = ()
    ks = status.kill_switch
    if kill_switch is not None and kill_switch.workload.exists:
        step = kill_switch_step(
            kill_switch.spec, ks, kill_switch.workload, kill_switch.requested_by, now
        )
        ks, actions = step.status, step.actions
        events.extend(step.events)
        if ks.engaged:
            state: tuple[cond.Status, str, str] = ("True", _kill_reason(ks), _kill_message(ks))
        else:
            state = ("False", "Released", "")
        conditions = cond.set_condition(
            conditions, cond.KILL_SWITCH_ENGAGED, *state, now, generation
        )
    new = status.model_copy(
        update={
            "phase": Phase.KILLED if ks.engaged else Phase.INVALID,
            "observed_generation": generation,
            "kill_switch": ks,
            "conditions": _observed(conditions, generation),
        }
    )
    return Plan(status=new, actions=actions, events=tuple(events))


def _target_missing(
    draft: _Draft, spec: ModelDeploymentSpec, workload: Workload, generation: int | None
) -> Plan:
    message = workload.problem or f"Deployment {spec.target_ref.name!r} not found"
    ready = cond.get_condition(draft.status.conditions, cond.READY)
    if ready is None or ready.reason != "TargetNotFound":
        draft.event("Warning", "TargetNotFound", message)
    draft.put(cond.READY, "False", "TargetNotFound", message)
    draft.put(cond.INVALID_SPEC, "False", "Valid")
    draft.set(phase=Phase.PENDING, conditions=_observed(draft.status.conditions, generation))
    return Plan(status=draft.get(), events=tuple(draft.events))


def _set_desired(draft: _Draft, desired: ModelVersion) -> None:
    """Record the desired version; `since` moves only when the version does, so that an
    idle reconcile writes nothing."""
    if not desired.same(draft.status.desired_version):
        draft.set(desired_version=VersionStatus.of(desired, draft.now))


def _record_desired(draft: _Draft, spec: ModelDeploymentSpec, workload: Workload) -> None:
    """While killed, version changes are only recorded; release applies them."""
    if spec.version is not None:
        _set_desired(draft, resolve(spec.version, draft.status.current_version or workload.version))


def _adopt(draft: _Draft, spec: ModelDeploymentSpec, workload: Workload, env: str) -> None:
    """First sight of the Deployment. What it runs has been serving: it becomes the first
    known-good version when a different version is desired, so that there is something
    to roll back to."""
    running = workload.version
    assert running is not None
    if spec.version is None or matches(spec.version, running):
        draft.go_live(
            running, Outcome.LIVE, "running when modelguard adopted it", kind=None, env=env
        )
        draft.set(desired_version=VersionStatus.of(running, draft.now))
        draft.event("Normal", "Adopted", f"Guarding version {running.name} of the Deployment")
        return
    draft.go_live(
        running, Outcome.PROMOTED, "running when modelguard adopted it", kind=None, env=env
    )
    draft.known_good.append(VersionStatus.of(running, draft.now))
    draft.set(stable_version=VersionStatus.of(running, draft.now))
    _apply_desired(draft, spec.version, running, env)


def _apply_desired(
    draft: _Draft, desired_spec: VersionSpec, running: ModelVersion, env: str
) -> None:
    desired = resolve(desired_spec, running)
    previous = draft.status.current_version
    draft.close_current(Outcome.SUPERSEDED, f"superseded by {desired.name}")
    reason = f"desired version changed from {previous.name if previous else 'none'}"
    draft.go_live(desired, Outcome.LIVE, reason, kind="apply", env=env)
    draft.set(desired_version=VersionStatus.of(desired, draft.now))
    draft.put(cond.ROLLED_BACK, "False", "NewVersion", f"applied {desired.name}")
    draft.event(
        "Normal",
        "VersionApplied",
        f"Applied version {desired.name} (image={desired.image}, modelTag={desired.model_tag})",
    )


def _follow_desired(draft: _Draft, spec: ModelDeploymentSpec, workload: Workload, env: str) -> None:
    running = workload.version
    assert running is not None
    current = draft.status.current_version
    if spec.version is None:
        # Watch mode: the Deployment is the source of truth; guard what it runs.
        if current is not None and not running.same(current):
            draft.close_current(Outcome.SUPERSEDED, f"superseded by {running.name}")
            draft.go_live(running, Outcome.LIVE, "Deployment changed", kind=None, env=env)
            draft.set(desired_version=VersionStatus.of(running, draft.now))
            draft.put(cond.ROLLED_BACK, "False", "NewVersion", f"detected {running.name}")
            if is_quarantined(draft.status, running):
                draft.event(
                    "Warning",
                    "QuarantinedVersionDeployed",
                    f"The Deployment now runs {running.name}, which was rolled back before; "
                    "guarding it again",
                )
            else:
                draft.event("Normal", "VersionDetected", f"Now guarding version {running.name}")
        return

    if matches(spec.version, running):
        if current is None or running.same(current):
            return
        if is_quarantined(draft.status, running):
            # The rolled-back version was put back on the Deployment behind our back:
            # the rollback holds here just as it does against the unchanged spec.
            draft.actions.append(SetVersion(plain(current), env))
            draft.event(
                "Warning",
                "DriftReverted",
                f"The Deployment ran {running.name}, which was rolled back and is "
                f"quarantined; restored {current.name}",
            )
            return
        # Someone else rolled out what the spec asks for (or, with a tag-only spec, a
        # new image): guard it as a new version.
        draft.close_current(Outcome.SUPERSEDED, f"superseded by {running.name}")
        draft.go_live(running, Outcome.LIVE, "Deployment changed", kind=None, env=env)
        _set_desired(draft, running)
        draft.put(cond.ROLLED_BACK, "False", "NewVersion", f"detected {running.name}")
        draft.event("Normal", "VersionDetected", f"Now guarding version {running.name}")
        return
    if current is not None and matches(spec.version, current):
        # The Deployment was changed behind our back (kubectl set image, a GitOps tool
        # that owns the image): put back the version this resource guards.
        draft.actions.append(SetVersion(plain(current), env))
        draft.event(
            "Warning",
            "DriftReverted",
            f"The Deployment ran {running.name}; restored the guarded version {current.name}",
        )
        return
    if desired_quarantined(spec, draft.status):
        # The rollback holds: GitOps keeps this spec, and re-applying would undo it.
        _set_desired(draft, resolve(spec.version, current))
        if current is not None and not running.same(current):
            # Someone changed the Deployment behind our back: put back what we guard.
            draft.actions.append(SetVersion(plain(current), env))
            draft.event(
                "Warning",
                "DriftReverted",
                f"The Deployment ran {running.name}; restored {current.name} (the desired "
                "version is quarantined)",
            )
        return
    _apply_desired(draft, spec.version, running, env)


def _judge(
    draft: _Draft, spec: ModelDeploymentSpec, results: Sequence[CheckResult], env: str
) -> None:
    analysis = spec.analysis
    current = draft.status.current_version
    assert analysis is not None
    assert current is not None
    verdict = overall(results, analysis.no_data)
    draft.set(
        last_evaluation=Evaluation(
            time=draft.now, version=current.name, verdict=verdict, checks=list(results)
        )
    )
    available = metrics_available(results)
    was_available = cond.get_condition(draft.status.conditions, cond.METRICS_AVAILABLE)
    if not available and (was_available is None or was_available.status != "False"):
        draft.event("Warning", "MetricsUnavailable", _evidence(results))

    if verdict is Verdict.PASSED:
        passing_since = draft.status.passing_since or draft.now
        draft.set(consecutive_failures=0, passing_since=passing_since)
        promote_after = parse_duration(analysis.promote_after)
        if (
            not any(v.same(current) for v in draft.known_good)
            and draft.now - passing_since >= promote_after
        ):
            draft.known_good = [v for v in draft.known_good if not v.same(current)]
            draft.known_good.append(VersionStatus.of(current, draft.now))
            draft.set(stable_version=VersionStatus.of(current, draft.now))
            if draft.history and draft.history[-1].version == current.name:
                draft.close_current(Outcome.PROMOTED, f"passed for {analysis.promote_after}")
            draft.event(
                "Normal",
                "VersionPromoted",
                f"Version {current.name} is known good: checks passed for "
                f"{format_duration(draft.now - passing_since)}",
            )
        return
    if verdict is Verdict.INCONCLUSIVE:
        draft.set(passing_since=None)  # promotion needs an unbroken run of passes
        return

    failures = draft.status.consecutive_failures + 1
    draft.set(consecutive_failures=failures, passing_since=None)
    evidence = _evidence(results)
    threshold = analysis.failure_threshold
    if failures < threshold:
        draft.event(
            "Warning",
            "CheckFailed",
            f"Version {current.name} failed {failures}/{threshold}: {evidence}",
        )
        return
    target = rollback_target(draft.status)
    crossing = failures == threshold
    if not spec.rollback.automatic:
        if crossing:
            draft.event(
                "Warning",
                "DegradationDetected",
                f"Version {current.name} failed {failures} consecutive evaluations (report "
                f"only, would roll back to {target.name if target else 'nothing'}): {evidence}",
            )
        return
    if target is None:
        if crossing:
            draft.event(
                "Warning",
                "NoRollbackTarget",
                f"Version {current.name} degraded but no known-good version is left to roll "
                f"back to: {evidence}",
            )
        return
    cooldown = parse_duration(spec.rollback.cooldown)
    last_action = draft.status.last_action_time
    if last_action is not None and draft.now < last_action + cooldown:
        if crossing:
            draft.event(
                "Warning",
                "RollbackDeferred",
                f"Version {current.name} degraded; rollback waits for the cooldown until "
                f"{(last_action + cooldown).isoformat()}: {evidence}",
            )
        return
    _roll_back(
        draft, current, target, f"{failures} consecutive failed evaluations: {evidence}", env
    )


def _roll_back(
    draft: _Draft, current: VersionStatus, target: ModelVersion, why: str, env: str
) -> None:
    draft.quarantined = [q for q in draft.quarantined if not q.same(current)]
    draft.quarantined.append(QuarantinedVersion.quarantine(current, draft.now, why))
    draft.close_current(Outcome.ROLLED_BACK, why)
    draft.go_live(
        target, Outcome.PROMOTED, f"rolled back from {current.name}", kind="rollback", env=env
    )
    draft.set(last_action_time=draft.now)
    draft.set(stable_version=stable_version(draft.get()))
    draft.put(cond.ROLLED_BACK, "True", "RolledBack", f"{current.name} -> {target.name}: {why}")
    draft.event(
        "Warning",
        "RolledBack",
        f"Rolled back {current.name} -> {target.name} (image={target.image}, "
        f"modelTag={target.model_tag}); {current.name} is quarantined. Evidence: {why}",
    )


def _manual_rollback(draft: _Draft, request: RollbackRequest, env: str) -> None:
    draft.set(handled_rollback_request=request.id)
    current = draft.status.current_version
    assert current is not None
    target: ModelVersion | None
    if request.to is None:
        target = rollback_target(draft.status)
    else:
        candidates: list[ModelVersion] = [v for v in draft.known_good if v.name == request.to]
        candidates += [
            ModelVersion(image=h.image, model_tag=h.model_tag)
            for h in draft.history
            if h.version == request.to
        ]
        target = candidates[-1] if candidates else None
    if target is None or target.same(current):
        known = sorted({v.name for v in draft.known_good} | {h.version for h in draft.history})
        draft.event(
            "Warning",
            "RollbackRequestRejected",
            f"Cannot roll back to {request.to or 'the stable version'}: "
            + ("it is already running" if target else f"known versions: {', '.join(known)}"),
        )
        return
    if is_quarantined(draft.status, target):
        # Rolling "back" onto a rolled-back version would quarantine the good one that
        # runs now and leave a quarantined version running; clear the quarantine first.
        draft.event(
            "Warning",
            "RollbackRequestRejected",
            f"Cannot roll back to {target.name}: it was rolled back before and is quarantined",
        )
        return
    by = f" by {request.requested_by}" if request.requested_by else ""
    _roll_back(draft, current, target, f"manual rollback{by}: {request.reason or 'no reason'}", env)
    # A manually chosen target is known good by the requester's word.
    if not any(v.same(target) for v in draft.known_good):
        draft.known_good.append(VersionStatus.of(target, draft.now))
        draft.set(stable_version=VersionStatus.of(target, draft.now))


# --------------------------------------------------------------------------- summary


def _finish(draft: _Draft, spec: ModelDeploymentSpec, generation: int | None) -> Plan:
    status = draft.get()
    ks = status.kill_switch
    current = status.current_version
    promoted = current is not None and any(v.same(current) for v in status.known_good_versions)
    last = status.last_evaluation
    failing = (
        last is not None and last.verdict is Verdict.FAILED and status.consecutive_failures > 0
    )
    held = spec.version is not None and next(
        (q for q in status.quarantined_versions if matches(spec.version, q)), None
    )

    draft.put(cond.INVALID_SPEC, "False", "Valid")
    if ks.engaged:
        draft.put(cond.KILL_SWITCH_ENGAGED, "True", _kill_reason(ks), _kill_message(ks))
    else:
        draft.put(cond.KILL_SWITCH_ENGAGED, "False", "Released")
    if failing and last is not None:
        message = f"{status.consecutive_failures} consecutive failed evaluations: "
        draft.put(cond.DEGRADED, "True", "ChecksFailing", message + _evidence(last.checks))
    else:
        draft.put(cond.DEGRADED, "False", "ChecksPassing" if last else "NotEvaluated")
    if held:
        draft.put(
            cond.ROLLED_BACK,
            "True",
            "DesiredVersionQuarantined",
            f"running {current.name if current else '?'}; desired {held.name} was rolled "
            f"back: {held.reason}",
        )
    elif cond.get_condition(draft.status.conditions, cond.ROLLED_BACK) is None:
        draft.put(cond.ROLLED_BACK, "False", "NoRollback")
    if last is not None:
        ok = metrics_available(last.checks)
        draft.put(
            cond.METRICS_AVAILABLE,
            "True" if ok else "False",
            "QueriesAnswered" if ok else _missing_reason(last.checks),
            "" if ok else _evidence(last.checks),
        )
    elif cond.get_condition(draft.status.conditions, cond.METRICS_AVAILABLE) is None:
        draft.put(cond.METRICS_AVAILABLE, "Unknown", "NotEvaluated")

    ready: cond.Status = "False"
    if ks.engaged:
        phase, why = Phase.KILLED, "Killed"
    elif status.pending_action is not None:
        phase, why = Phase.PROGRESSING, "Applying"
    elif failing:
        phase, why = Phase.DEGRADED, "Degraded"
    elif held:
        phase, why, ready = Phase.ROLLED_BACK, "RolledBack", "True" if promoted else "False"
    elif spec.analysis is None:
        phase, why, ready = Phase.HEALTHY, "NoAnalysis", "True"
    elif promoted:
        phase, why, ready = Phase.HEALTHY, "KnownGood", "True"
    else:
        phase, why = Phase.PROGRESSING, "Analysing"
    draft.put(cond.READY, ready, why, f"version {current.name}" if current else "")
    draft.set(phase=phase, conditions=_observed(draft.status.conditions, generation))
    return Plan(status=draft.get(), actions=tuple(draft.actions), events=tuple(draft.events))


def _observed(conditions: Sequence[Condition], generation: int | None) -> list[Condition]:
    """Every condition was re-derived from this generation, including those left as they
    were: say so, as the API conventions ask (observedGeneration per condition)."""
    return [c.model_copy(update={"observed_generation": generation}) for c in conditions]


def _kill_reason(ks: KillSwitchStatus) -> str:
    if ks.saved is not None and ks.saved.selector is not None and ks.saved.replicas is None:
        return "TrafficOnFallback"
    if ks.saved is not None and ks.saved.selector is not None:
        return "FallbackUnavailable"
    return "ScaledToZero"


def _kill_message(ks: KillSwitchStatus) -> str:
    by = f" by {ks.requested_by}" if ks.requested_by else ""
    saved = ks.saved
    parts = []
    if saved is not None and saved.replicas is not None:
        parts.append(f"saved replicas {saved.replicas}")
    if saved is not None and saved.selector is not None:
        parts.append("saved selector " + ",".join(f"{k}={v}" for k, v in saved.selector.items()))
    if ks.fallback_ready is False and saved is not None and saved.selector is not None:
        parts.append("fallback has no Ready pods: model scaled to zero too")
    return f"engaged{by}: {ks.reason} ({'; '.join(parts)})"
