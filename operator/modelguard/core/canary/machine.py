"""The canary step machine.

    start -> Progressing(step 0) --every check Passed for stepDuration--> step 1 ... -->
      last step passed -> Promoting (target patched) --target rolled out--> removed
    Progressing --Failed failureThreshold times / not Ready by readyDeadline--> Aborting
    Aborting --canary Deployment gone--> removed

A step begins when its canary pods are all Ready (readyAt): the warmup and the
evaluations count from then, so pods still loading a model never count as evidence,
and Inconclusive never advances a step (it breaks the run of passes). Every tick is
level-based: the same status and observation give the same actions, so a crash after
the status was written repeats them harmlessly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelguard.core.api import (
    CanaryPhase,
    CanarySpec,
    CanaryStatus,
    ModelVersion,
    Verdict,
)
from modelguard.core.canary import route as routing
from modelguard.core.canary.weights import Weights, most_replicas, rounded, share, weights
from modelguard.core.conditions import Status
from modelguard.core.durations import format_duration, parse_duration
from modelguard.core.reasons import ConditionReason, EventReason
from modelguard.core.workload import (
    Action,
    CanaryWorkload,
    EnsureCanary,
    Event,
    RouteState,
    ScaleCanary,
)

# While the canary's pods start, the target rolls out, or the canary is removed, look
# again this often: those changes are not evaluations and move no other clock.
CANARY_RECHECK = timedelta(seconds=2)
HOLDING = "Holding: "


@dataclass(frozen=True)
class Judged:
    """An evaluation of the canary, reduced to what the machine needs."""

    verdict: Verdict
    with_data: bool  # a check Passed on data (not only through noData: pass)
    evidence: str


@dataclass(frozen=True)
class Rules:
    """What the rest of the spec says about judging a canary."""

    failure_threshold: int
    automatic: bool  # spec.rollback.automatic: false = report only, never abort
    tag_env: str
    # Dry run: the canary is never created, so never Ready; that is no reason to fail it.
    dry_run: bool = False


@dataclass(frozen=True)
class Condition:
    status: Status
    reason: ConditionReason
    message: str


@dataclass(frozen=True)
class Tick:
    status: CanaryStatus | None  # None: the canary is over and its Deployment gone
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    condition: Condition | None = None
    promote: bool = False  # patch the target to the canary's version now
    quarantine: str | None = None  # aborted on evidence: quarantine the version, why


def start(version: ModelVersion, now: datetime) -> tuple[CanaryStatus, Event]:
    canary = CanaryStatus(version=version, started_at=now, step_started_at=now)
    return canary, Event("Normal", EventReason.CANARY_STARTED, f"Canary {version.name} started")


def with_changes(canary: CanaryStatus, **changes: Any) -> CanaryStatus:
    return canary.model_copy(update=changes)


def removal(canary: CanaryStatus, seen: CanaryWorkload | None) -> tuple[Action, ...]:
    """Route weight 0, then scale to 0, so that no pod serves while the delete is being
    carried out."""
    if seen is None:
        return ()
    scale = (ScaleCanary(0),) if seen.replicas != 0 else ()
    return routing.removal(canary.route, scale)


def abort(canary: CanaryStatus, seen: CanaryWorkload | None, why: str, *, quarantine: bool) -> Tick:
    """Record, then remove: weight 0, canary scaled to 0 and deleted. `quarantine`: the
    version failed (it is not tried again); otherwise it was only cancelled."""
    status = with_changes(
        canary,
        phase=CanaryPhase.ABORTING,
        desired_weight=0,
        actual_weight=0.0,
        canary_replicas=0,
        saved_replicas=None,
        message=why,
    )
    name = canary.version.name
    if quarantine:
        event = Event(
            "Warning",
            EventReason.CANARY_ABORTED,
            f"Canary {name} aborted at step {canary.step + 1} ({canary.desired_weight}%); "
            f"the target was not changed and {name} is quarantined. Evidence: {why}",
        )
        reason = ConditionReason.CANARY_ABORTED
    else:
        event = Event("Normal", EventReason.CANARY_CANCELLED, f"Canary {name} cancelled: {why}")
        reason = ConditionReason.CANARY_CANCELLED
    return Tick(
        status=status,
        actions=routing.removal(canary.route, (ScaleCanary(0),)),
        events=(event,),
        condition=Condition("False", reason, f"canary {name}: {why}"),
        quarantine=why if quarantine else None,
    )


def tick(
    spec: CanarySpec | None,
    canary: CanaryStatus,
    stable_ready: int,
    seen: CanaryWorkload | None,
    judged: Judged | None,
    now: datetime,
    rules: Rules,
    *,
    target_rolled_out: bool = False,
    route: RouteState | None = None,
) -> Tick:
    """One step of the machine. `judged` is an evaluation of the canary (only passed in
    once its step began); `target_rolled_out`: the target runs the canary's version on
    all its replicas, all available (Promoting waits for it); `route`: the HTTPRoute as
    observed (httpRoute mode). spec None: spec.canary was removed, which only a canary
    already Promoting or Aborting goes on without."""
    if canary.phase is CanaryPhase.ABORTING:
        if seen is None:
            return Tick(status=None)
        return Tick(status=canary, actions=removal(canary, seen))
    if canary.phase is CanaryPhase.PROMOTING:
        return _promoting(canary, seen, target_rolled_out)
    if spec is None:
        return abort(canary, seen, "spec.canary was removed", quarantine=False)
    return _progress(spec, canary, stable_ready, seen, judged, now, rules, route)


def _promoting(canary: CanaryStatus, seen: CanaryWorkload | None, rolled_out: bool) -> Tick:
    name = canary.version.name
    if not rolled_out:
        # The canary keeps serving until the target can take all of the traffic.
        return Tick(
            status=canary,
            condition=Condition(
                "True",
                ConditionReason.CANARY_PROMOTING,
                f"canary {name} promoted: waiting for the target's rollout to complete",
            ),
        )
    if seen is not None:
        return Tick(status=canary, actions=removal(canary, seen))
    return Tick(
        status=None,
        events=(
            Event(
                "Normal",
                EventReason.CANARY_COMPLETED,
                f"The target runs {name} on every replica; canary removed",
            ),
        ),
        condition=Condition("False", ConditionReason.CANARY_PROMOTED, f"{name} promoted"),
    )


def _judge(
    spec: CanarySpec, canary: CanaryStatus, judged: Judged, now: datetime, rules: Rules
) -> tuple[CanaryStatus, list[Event], str | None, bool]:
    """(status, events, abort reason, promote) after an evaluation of the step."""
    name = canary.version.name
    events: list[Event] = []
    at = f"step {canary.step + 1}/{len(spec.steps)} ({spec.steps[canary.step]}%)"
    if judged.verdict is Verdict.INCONCLUSIVE:
        return with_changes(canary, passing_since=None), events, None, False
    if judged.verdict is Verdict.FAILED:
        failures = canary.consecutive_failures + 1
        canary = with_changes(canary, consecutive_failures=failures, passing_since=None)
        threshold = rules.failure_threshold
        if failures >= threshold and rules.automatic:
            return (
                canary,
                events,
                f"{failures} consecutive failed evaluations: {judged.evidence}",
                False,
            )
        if failures < threshold:
            message = f"Canary {name} failed {failures}/{threshold} at {at}: {judged.evidence}"
            events.append(Event("Warning", EventReason.CHECK_FAILED, message))
        elif failures == threshold:
            message = (
                f"Canary {name} failed {failures} consecutive evaluations at {at} (report "
                f"only, would abort; holding): {judged.evidence}"
            )
            events.append(Event("Warning", EventReason.DEGRADATION_DETECTED, message))
        return canary, events, None, False
    since = canary.passing_since or now
    canary = with_changes(canary, passing_since=since, consecutive_failures=0)
    if not judged.with_data or now - since < parse_duration(spec.step_duration):
        return canary, events, None, False
    if canary.step + 1 >= len(spec.steps):
        return canary, events, None, True
    step = canary.step + 1
    canary = with_changes(canary, step=step, step_started_at=now, ready_at=None, passing_since=None)
    events.append(
        Event(
            "Normal",
            EventReason.CANARY_STEP_ADVANCED,
            f"Canary {name} passed {at} for {format_duration(now - since)}: step "
            f"{step + 1}/{len(spec.steps)} at {spec.steps[step]}%",
        )
    )
    return canary, events, None, False


def _progress(
    spec: CanarySpec,
    canary: CanaryStatus,
    stable_ready: int,
    seen: CanaryWorkload | None,
    judged: Judged | None,
    now: datetime,
    rules: Rules,
    observed_route: RouteState | None = None,
) -> Tick:
    events: list[Event] = []
    canary = with_changes(canary, route=routing.route_of(spec))
    if judged is not None and canary.ready_at is not None:
        canary, events, why, promote = _judge(spec, canary, judged, now, rules)
        if why is not None:
            return abort(canary, seen, why, quarantine=True)
        if promote:
            name = canary.version.name
            message = (
                f"Canary {name} passed all {len(spec.steps)} steps: promoting, the target "
                f"is set to {name}"
            )
            return Tick(
                status=with_changes(canary, phase=CanaryPhase.PROMOTING, passing_since=None),
                events=(*events, Event("Normal", EventReason.CANARY_PROMOTED, message)),
                condition=Condition("True", ConditionReason.CANARY_PROMOTING, message),
                promote=True,
            )
    weight = spec.steps[canary.step]
    planned, replicas, message, reason = _plan(spec, canary, stable_ready, observed_route)
    fresh = seen is not None and seen.current and canary.version.same(seen.version)
    if seen is not None and not fresh and canary.ready_at is not None:
        # Derived again (the target's template changed): its pods start over, the step too.
        canary = with_changes(canary, step_started_at=now, ready_at=None, passing_since=None)
    if not planned.reachable:
        # Holding: the step has not begun.
        canary = with_changes(canary, step_started_at=now, ready_at=None, passing_since=None)
        if not canary.message.startswith(HOLDING):
            events.append(Event("Warning", reason, f"Canary {message}"))
    actions: list[Action] = []
    if (seen is None and replicas > 0) or (
        seen is not None and (seen.replicas != replicas or not fresh)
    ):
        actions.append(EnsureCanary(canary.version, rules.tag_env, replicas))
    ready = min(seen.ready_replicas, replicas) if seen is not None and fresh else 0
    all_ready = (
        planned.reachable
        and replicas > 0
        and fresh
        and seen is not None
        and seen.replicas == replicas
        and seen.ready_replicas >= replicas
    )
    if canary.ready_at is None and all_ready:
        canary = with_changes(canary, ready_at=now)
    deadline = parse_duration(spec.ready_deadline)
    late = now - canary.step_started_at > deadline
    if planned.reachable and canary.ready_at is None and late and not rules.dry_run:
        why = (
            f"{ConditionReason.CANARY_NOT_READY}: {ready}/{replicas} canary pods Ready "
            f"{spec.ready_deadline} after step {canary.step + 1} began"
        )
        return abort(canary, seen, why, quarantine=True)
    actual = rounded(share(stable_ready, ready))
    if canary.route is not None:
        weighed = routing.step_weight(
            canary.route, observed_route, weight, all_ready, int(canary.actual_weight), ready
        )
        actual = float(weighed.weight)
        actions.extend(weighed.actions)
    canary = with_changes(
        canary,
        desired_weight=weight,
        actual_weight=actual,
        canary_replicas=replicas,
        canary_ready_replicas=seen.ready_replicas if seen is not None and fresh else 0,
        stable_ready_replicas=stable_ready,
        message=message,
    )
    return Tick(
        status=canary,
        actions=tuple(actions),
        events=tuple(events),
        condition=_progress_condition(spec, canary),
    )


def _plan(
    spec: CanarySpec, canary: CanaryStatus, stable_ready: int, observed: RouteState | None
) -> tuple[Weights, int, str, EventReason]:
    """The step's weights, the replicas to run, and when holding, why (message, reason)."""
    weight = spec.steps[canary.step]
    if canary.route is not None:
        # Weights are exact on a route; the replicas only give the canary the capacity.
        replicas = routing.route_replicas(stable_ready, weight, spec.max_canary_replicas)
        problem = observed.problem if observed else "the HTTPRoute was not read"
        planned = Weights(replicas=replicas, share=float(weight), reachable=not problem)
        if planned.reachable:
            return planned, replicas, "", EventReason.ROUTE_MISCONFIGURED
        # Hold with the pods it has: they get no traffic while the route is wrong.
        reason = EventReason.ROUTE_MISCONFIGURED
        return planned, canary.canary_replicas, f"{HOLDING}{reason}: {problem}", reason
    planned = weights(stable_ready, weight, spec.max_canary_replicas, spec.max_weight_overshoot)
    if planned.reachable:
        return planned, planned.replicas, "", EventReason.CANARY_WEIGHT_UNREACHABLE
    # Hold: grow no further (nothing runs at the first step), and shrink when the
    # stable shrank under it.
    ceiling = most_replicas(stable_ready, weight, spec.max_weight_overshoot)
    message = HOLDING + _unreachable(stable_ready, weight, planned.share, spec)
    return (
        planned,
        min(canary.canary_replicas, ceiling),
        message,
        EventReason.CANARY_WEIGHT_UNREACHABLE,
    )


def _unreachable(stable_ready: int, weight: int, got: float, spec: CanarySpec) -> str:
    if stable_ready <= 0:
        return f"no Ready stable pods to weigh a {weight}% step against"
    return (
        f"with {stable_ready} Ready stable pods one canary pod is already {rounded(got)}% "
        f"of the traffic, more than the step's {weight}% + {spec.max_weight_overshoot} "
        "points (maxWeightOvershoot): add stable replicas or start with a larger step"
    )


def _progress_condition(spec: CanarySpec, canary: CanaryStatus) -> Condition:
    at = f"step {canary.step + 1}/{len(spec.steps)}"
    name = canary.version.name
    if canary.message.startswith(HOLDING):
        reason = ConditionReason.CANARY_WEIGHT_UNREACHABLE
        if canary.message.startswith(HOLDING + ConditionReason.ROUTE_MISCONFIGURED):
            reason = ConditionReason.ROUTE_MISCONFIGURED
        return Condition("True", reason, f"{name} {at}: {canary.message}")
    weights_now = (
        f"{canary.desired_weight}% desired, {canary.actual_weight}% actual "
        f"({canary.canary_ready_replicas}/{canary.canary_replicas} canary, "
        f"{canary.stable_ready_replicas} stable Ready)"
    )
    if canary.ready_at is None:
        return Condition(
            "True",
            ConditionReason.CANARY_NOT_READY,
            f"{name} {at}: waiting for the canary's pods to be Ready; {weights_now}",
        )
    return Condition("True", ConditionReason.CANARY_PROGRESSING, f"{name} {at}: {weights_now}")
