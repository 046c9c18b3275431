"""plan(): the one decision per reconcile, in the order of precedence of the package
docstring; and what an invalid object or a missing target still yields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelguard.core import conditions as cond
from modelguard.core.api import (
    CanaryPhase,
    CanaryStatus,
    KillSwitchSpec,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
)
from modelguard.core.decision import canary
from modelguard.core.decision.desired import adopt, follow_desired, record_desired
from modelguard.core.decision.draft import Draft
from modelguard.core.decision.health import track_rollout, with_rollout
from modelguard.core.decision.model import Observation, Plan
from modelguard.core.decision.rollback import manual_rollback
from modelguard.core.decision.summary import finish, kill_message, kill_reason, observed, phase_of
from modelguard.core.decision.verdicts import judge
from modelguard.core.decision.versions import plain, tag_env
from modelguard.core.killswitch import step as kill_switch_step
from modelguard.core.killswitch_audit import record as record_kill_switch
from modelguard.core.reasons import ConditionReason, EventReason
from modelguard.core.workload import Action, Event, SetVersion, Workload


def plan(
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    generation: int | None,
    obs: Observation,
    now: datetime,
) -> Plan:
    draft = Draft.of(status, now, generation)
    draft.status.observed_generation = generation
    workload = obs.workload

    if not workload.exists or workload.version is None:
        return _target_missing(draft, spec, workload, generation)

    env = tag_env(spec)
    switch_actions = _kill_switch(draft, spec, status, obs)
    if draft.status.kill_switch.engaged:
        track_rollout(draft, workload)  # 0 replicas on purpose: no stuck rollout
        if spec.kill_switch.enabled:
            # The target is stopped first: actions run in order and stop at the first
            # failure, so a canary that cannot be scaled must never delay the kill.
            draft.actions.extend(switch_actions)
            canary.killed(draft, spec, workload, env)
            record_desired(draft, spec, workload)
        else:
            canary.killed(draft, spec, workload, env)
            # Releasing: the model comes back on the version it should run now, never on
            # the one that was stopped. The version is patched first (at 0 replicas, or
            # while traffic is still on the fallback), the replicas/selector after it.
            _versions_before_restore(draft, spec, workload, env)
            draft.actions.extend(switch_actions)
        return finish(draft, spec, generation)
    # Released: nothing left to restore, except under dry run, where the release is
    # recorded at once and its restore is only described (runtime dry-run hold).
    draft.actions.extend(switch_actions)
    if status.kill_switch.engaged:
        canary.released(draft, spec, env)  # after the target's restore

    if not _pending_confirmed(draft, workload, env):
        return finish(draft, spec, generation)

    if draft.status.current_version is None:
        adopt(draft, spec, workload, env)
        return finish(draft, spec, generation)
    # The version the evaluation (if any) was taken for, before anything changed here.
    evaluated = draft.status.current_version

    running_canary = draft.status.canary
    if obs.rollback_request is not None and (
        obs.rollback_request.id != draft.status.handled_rollback_request
    ):
        if running_canary is not None and running_canary.phase is CanaryPhase.PROGRESSING:
            canary.rollback_requested(draft, spec, obs.rollback_request, workload, env)
            return finish(draft, spec, generation)
        manual_rollback(draft, obs.rollback_request, env)
        if draft.status.pending_action is not None:
            return finish(draft, spec, generation)

    # A canary's evaluation is the canary's (template_values): never the current's.
    canary_results = obs.evaluation if _canary_evaluated(running_canary) else None
    if canary.step(draft, spec, workload, canary_results, env, dry_run=obs.dry_run):
        return finish(draft, spec, generation)
    if canary_results is not None:
        return finish(draft, spec, generation)

    follow_desired(draft, spec, workload, env)
    if running_canary is None and draft.status.canary is not None:
        canary.step(draft, spec, workload, None, env, dry_run=obs.dry_run)  # create it now
    track_rollout(draft, workload)
    if (
        draft.status.pending_action is None
        and obs.evaluation is not None
        and spec.analysis is not None
        and evaluated.same(draft.status.current_version)
    ):
        # Not when the version changed in between (watch mode, a change made by someone
        # else): the results describe the old version and must not count for the new.
        judge(draft, spec, with_rollout(draft, spec.analysis, workload, obs.evaluation), env)
    return finish(draft, spec, generation)


def _canary_evaluated(running: CanaryStatus | None) -> bool:
    return (
        running is not None
        and running.phase is CanaryPhase.PROGRESSING
        and running.ready_at is not None
    )


def _kill_switch(
    draft: Draft, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, obs: Observation
) -> tuple[Action, ...]:
    """Step the kill switch into the draft and return its actions, for the caller to
    order: while it stays engaged nothing else is decided, except during a release."""
    now = draft.now
    step = kill_switch_step(
        spec.kill_switch,
        status.kill_switch,
        obs.workload,
        obs.requested_by,
        now,
        dry_run=obs.dry_run,
    )
    draft.status.kill_switch = step.status
    draft.status.kill_switch_history = record_kill_switch(
        status.kill_switch_history,
        status.kill_switch,
        step.status,
        step.released,
        obs.requested_by,
        now,
    )
    draft.events.extend(step.events)
    current = draft.status.current_version
    if step.released and current is not None:
        # A fresh warmup: the model was stopped, its metrics say nothing about now.
        draft.status.current_version = current.model_copy(update={"since": now})
        draft.status.consecutive_failures = 0
        draft.status.passing_since = None
        draft.status.last_passed_with_data = None
    return step.actions


def _versions_before_restore(
    draft: Draft, spec: ModelDeploymentSpec, workload: Workload, env: str
) -> None:
    """While a release restores the workload: finish a recorded version change and follow
    the desired version (a change made while killed, drift), as an unkilled model would;
    rollback requests and evaluations wait until the release is confirmed."""
    if not _pending_confirmed(draft, workload, env):
        return
    if draft.status.current_version is None:
        adopt(draft, spec, workload, env)
    else:
        follow_desired(draft, spec, workload, env)


def _pending_confirmed(draft: Draft, workload: Workload, env: str) -> bool:
    """Finish a recorded version change (write-ahead): False while the Deployment does
    not run its target yet, after asking again for the patch."""
    pending = draft.status.pending_action
    if pending is None:
        return True
    if pending.target.same(workload.version):
        # Warmup counts from when the Deployment took the version, not from the decision.
        current = draft.status.current_version
        draft.status.pending_action = None
        draft.status.current_version = (
            current.model_copy(update={"since": draft.now}) if current else None
        )
        return True
    draft.actions.append(SetVersion(plain(pending.target), env))
    return False


def _target_missing(
    draft: Draft, spec: ModelDeploymentSpec, workload: Workload, generation: int | None
) -> Plan:
    message = workload.problem or f"Deployment {spec.target_ref.name!r} not found"
    ready = cond.get_condition(draft.status.conditions, cond.READY)
    if ready is None or ready.reason != ConditionReason.TARGET_NOT_FOUND:
        draft.event("Warning", EventReason.TARGET_NOT_FOUND, message)
    readiness = phase_of(spec, draft.status, target_found=False)
    draft.put(cond.READY, readiness.ready, readiness.reason, message)
    draft.put(cond.INVALID_SPEC, "False", ConditionReason.VALID)
    draft.status.phase = readiness.phase
    draft.status.conditions = observed(draft.status.conditions, generation)
    return Plan(status=draft.get(), events=tuple(draft.events))


@dataclass(frozen=True)
class KillSwitchOnly:
    """What an invalid object still yields for its kill switch: the switch wins over
    everything, a typo elsewhere in the spec included."""

    spec: KillSwitchSpec
    workload: Workload
    requested_by: str = ""
    dry_run: bool = False


def invalid_spec(
    status: ModelDeploymentStatus,
    message: str,
    generation: int | None,
    now: datetime,
    kill_switch: KillSwitchOnly | None = None,
) -> Plan:
    """An object the API server admitted but the operator cannot act on, except for its
    kill switch when that part of the spec (and the target) could still be read."""
    was_invalid = cond.is_true(status.conditions, cond.INVALID_SPEC)
    events: list[Event] = (
        [] if was_invalid else [Event("Warning", EventReason.INVALID_SPEC, message)]
    )
    actions: tuple[Action, ...] = ()
    ks = status.kill_switch
    history = status.kill_switch_history
    ks_condition: tuple[cond.Status, str, str] | None = None
    if kill_switch is not None and kill_switch.workload.exists:
        step = kill_switch_step(
            kill_switch.spec,
            ks,
            kill_switch.workload,
            kill_switch.requested_by,
            now,
            dry_run=kill_switch.dry_run,
        )
        history = record_kill_switch(
            history, ks, step.status, step.released, kill_switch.requested_by, now
        )
        running_canary = status.canary
        ks, actions = step.status, step.actions
        events.extend(step.events)
        if running_canary is not None:
            # The canary is part of the model the switch stops, a typo included.
            stopped = canary.kill_only(running_canary, ks, status.kill_switch, kill_switch, now)
            running_canary, actions = stopped.status, (*actions, *stopped.actions)
        if ks.engaged:
            ks_condition = ("True", kill_reason(ks), kill_message(ks))
        else:
            ks_condition = ("False", ConditionReason.RELEASED, "")
    new = status.model_copy(
        update={
            "observed_generation": generation,
            "kill_switch": ks,
            "kill_switch_history": history,
            **({"canary": running_canary} if kill_switch is not None and status.canary else {}),
        }
    )
    readiness = phase_of(None, new)

    # Upserted in this order so that a first write lists them as it always has.
    conditions = cond.set_condition(
        status.conditions,
        cond.INVALID_SPEC,
        "True",
        ConditionReason.INVALID_SPEC,
        message,
        now,
        generation,
    )
    conditions = cond.set_condition(
        conditions, cond.READY, readiness.ready, readiness.reason, message, now, generation
    )
    if ks_condition is not None:
        conditions = cond.set_condition(
            conditions, cond.KILL_SWITCH_ENGAGED, *ks_condition, now, generation
        )
    new = new.model_copy(
        update={"phase": readiness.phase, "conditions": observed(conditions, generation)}
    )
    return Plan(status=new, actions=actions, events=tuple(events))
