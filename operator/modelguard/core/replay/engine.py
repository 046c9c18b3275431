"""The replay engine: what the operator would have decided, step by step, over a window.

It drives the operator's own pure pieces in the reconciler's order: analysis_due, the
checks run against a MetricsSource (core.checks), then plan() passes until no action
is left (MAX_PASSES), the status each pass returns carried into the next reconcile
exactly as the reconciler writes it (its Events announced: the outbox emptied), and the
clock moved to next_due(), as the scheduler does. Only the workload is simulated: every
version change the plan asks for rolls out at once and completely, so a rollback
switches the Deployment to the version rolled back to, and the replay carries on with
that version as the operator would.

How the versions go live: the operator first sees the Deployment when the first
rollout's version is desired, while the stable version runs there. That is its adopt
rule: what runs has been serving, so it becomes the first known-good version (and the
rollback target), and the desired version is applied. Later rollouts change
spec.version at their time, as a GitOps sync would. The kill switch, manual rollback
requests and any other human action are not replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from modelguard.core import dryrun
from modelguard.core.api import (
    CheckResult,
    KillSwitchSpec,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
    Verdict,
    VersionSpec,
)
from modelguard.core.checks import run_checks
from modelguard.core.decision import MAX_PASSES, Observation, analysis_due, next_due, plan, resolve
from modelguard.core.ports import MetricsSource
from modelguard.core.reasons import EventReason
from modelguard.core.workload import Action, Event, Scale, SetVersion, Workload

# The replay stops here even if the window is longer: a safety net against a spec whose
# interval makes a window of years into millions of evaluations.
MAX_RECONCILES = 200_000


@dataclass(frozen=True)
class Rollout:
    """A version that went live (spec.version set to it) at a time."""

    version: str
    at: datetime


@dataclass(frozen=True)
class Scenario:
    spec: ModelDeploymentSpec
    rollouts: tuple[Rollout, ...]
    end: datetime
    # What the Deployment ran before the first rollout (known good by the adopt rule);
    # None: the first rollout's version is the first the operator sees (no rollback
    # target until one is promoted).
    stable: str | None = None
    namespace: str = "default"
    name: str = "model"


@dataclass(frozen=True)
class Step:
    """One evaluation the operator judged, and what it decided then."""

    time: datetime
    version: str
    since_live: timedelta
    checks: tuple[CheckResult, ...]
    verdict: Verdict
    consecutive_failures: int
    events: tuple[Event, ...]
    running: str  # the version running once the decision was carried out

    @property
    def decision(self) -> str:
        """The Events this evaluation led to, by reason (MetricsUnavailable aside)."""
        shown = [e.reason for e in self.events if e.reason != EventReason.METRICS_UNAVAILABLE]
        return ", ".join(shown) or "-"


@dataclass(frozen=True)
class VersionOutcome:
    """What became of one version that went live in the replay."""

    version: str
    live_at: datetime
    evaluations: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    rolled_back_at: datetime | None = None
    rolled_back_to: str | None = None
    promoted_at: datetime | None = None
    first_failed_at: datetime | None = None
    # Rollback was due but not taken (report only, no target, cooldown): the Event reason.
    held_by: str | None = None
    # Asked for again after its rollback: never applied (the rollback holds).
    quarantined: bool = False

    @property
    def time_to_rollback(self) -> timedelta | None:
        return None if self.rolled_back_at is None else self.rolled_back_at - self.live_at


# repr=False: asyncio.run reprs its task, result included, twice (Python 3.11's signal
# handling formats the SIGINT handler it restores): a week's timeline took seconds.
@dataclass(frozen=True, repr=False)
class Replay:
    scenario: Scenario
    steps: tuple[Step, ...]
    outcomes: tuple[VersionOutcome, ...]
    status: ModelDeploymentStatus  # the last one written
    events: tuple[tuple[datetime, Event], ...]
    # Set when MAX_RECONCILES ended the replay before the window did.
    stopped_at: datetime | None = None

    def __repr__(self) -> str:
        return f"Replay({len(self.steps)} evaluations, outcomes={self.outcomes!r})"


def version_spec(spec: ModelDeploymentSpec, name: str) -> VersionSpec:
    """spec.version naming `name` ({{version}} renders to it): the spec's model tag when
    it has one (or no version at all), else its image with `name` as the tag."""
    base = spec.version
    if base is None:
        return VersionSpec(model_tag=name)
    if base.model_tag is not None or base.image is None:
        return base.model_copy(update={"model_tag": name})
    repo = base.image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return base.model_copy(update={"image": f"{repo}:{name}"})


def _rolled_out(workload: Workload, actions: Sequence[Action]) -> Workload:
    """The simulated Deployment after the plan's actions: each change rolls out at once."""
    for action in actions:
        if isinstance(action, SetVersion):
            workload = replace(
                workload, version=resolve(_as_spec(action.version), workload.version)
            )
        elif isinstance(action, Scale):
            n = action.replicas
            workload = replace(
                workload,
                replicas=n,
                ready_replicas=n,
                updated_replicas=n,
                available_replicas=n,
                total_replicas=n,
            )
    return workload


def _as_spec(version: ModelVersion) -> VersionSpec:
    return VersionSpec(image=version.image, model_tag=version.model_tag)


# How often (in evaluations) the progress callback hears of a long replay.
PROGRESS_EVERY = 5000


async def replay(
    scenario: Scenario,
    source: MetricsSource,
    clock: SimClock,
    progress: Callable[[datetime, int], None] | None = None,
) -> Replay:
    """Replay the scenario; `source` reads its data at `clock.now`, which this moves.
    `progress(now, evaluations)` is called every PROGRESS_EVERY evaluations."""
    # What a replay judges is the checks and the rollback policy. The kill switch is a
    # human action (not replayed), and a canary needs a sibling Deployment whose pods the
    # simulated workload never has: a canary spec is replayed as in-place rollouts
    # (report.CAVEATS says both), rather than sitting at "waiting for Ready" all window.
    spec = scenario.spec.model_copy(update={"canary": None, "kill_switch": KillSwitchSpec()})
    if spec.analysis is None:
        raise ValueError("the spec has no analysis: there is nothing to replay")
    rollouts = sorted(scenario.rollouts, key=lambda r: r.at)
    if not rollouts:
        raise ValueError("no version goes live in the window")
    first = version_spec(spec, scenario.stable or rollouts[0].version)
    workload = Workload(
        exists=True,
        container=spec.target_ref.container,
        version=resolve(first, None),
        replicas=1,
        ready_replicas=1,
        updated_replicas=1,
        available_replicas=1,
        total_replicas=1,
    )
    status = ModelDeploymentStatus()
    steps: list[Step] = []
    events: list[tuple[datetime, Event]] = []
    generation = 0
    current_spec = spec
    pending = list(rollouts)
    now = rollouts[0].at
    stopped_at: datetime | None = None
    for _ in range(MAX_RECONCILES):
        if now > scenario.end:
            break
        clock.now = now
        while pending and pending[0].at <= now:
            rollout = pending.pop(0)
            current_spec = spec.model_copy(update={"version": version_spec(spec, rollout.version)})
            generation += 1
        evaluation: list[CheckResult] | None = None
        if analysis_due(current_spec, status, now):
            evaluation = await run_checks(
                source, spec.analysis.checks, status, scenario.namespace, scenario.name, now
            )
        before, failures_before = status.last_evaluation, status.consecutive_failures
        tick_events: list[Event] = []
        for _pass in range(MAX_PASSES):
            decided = dryrun.clear(
                plan(
                    current_spec,
                    status,
                    generation,
                    Observation(workload, evaluation=evaluation),
                    now,
                )
            )
            evaluation = None  # one evaluation is judged once
            # Written, then announced: the reconciler empties the outbox once posted.
            status = (
                decided.status.model_copy(update={"pending_events": []})
                if decided.status.pending_events
                else decided.status  # nothing to empty: no copy (one per reconcile)
            )
            tick_events.extend(decided.events)
            workload = _rolled_out(workload, decided.actions)
            if not decided.actions:
                break
        events.extend((now, e) for e in tick_events)
        last = status.last_evaluation
        if last is not None and last is not before and last.time == now:
            steps.append(_step(status, last.version, now, tick_events, failures_before))
            if progress is not None and len(steps) % PROGRESS_EVERY == 0:
                progress(now, len(steps))
        due = next_due(current_spec, status, now)
        if pending:
            due = min(due, pending[0].at)
        now = due if due > now else now + timedelta(seconds=1)
    else:
        stopped_at = now if now <= scenario.end else None
    return Replay(
        scenario=scenario,
        steps=tuple(steps),
        outcomes=tuple(_outcomes(rollouts, steps, status)),
        status=status,
        events=tuple(events),
        stopped_at=stopped_at,
    )


@dataclass
class SimClock:
    """The simulated now, shared by the engine (which moves it) and the source."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _step(
    status: ModelDeploymentStatus,
    version: str,
    now: datetime,
    events: list[Event],
    failures_before: int,
) -> Step:
    last = status.last_evaluation
    assert last is not None
    failures = status.consecutive_failures
    current = status.current_version
    if current is None or current.name != version:
        # Rolled back in this step: the new version starts from 0; show the count that
        # made the decision.
        failures = failures_before + 1 if last.verdict is Verdict.FAILED else failures_before
    # The version's start: its current `since`, or (rolled back in this very step) the
    # history entry it went live with.
    live = next((h.since for h in reversed(status.history) if h.version == version), now)
    return Step(
        time=now,
        version=version,
        since_live=now - live,
        checks=tuple(last.checks),
        verdict=last.verdict,
        consecutive_failures=failures,
        events=tuple(events),
        running=status.current_version.name if status.current_version else version,
    )


_HELD = (
    EventReason.DEGRADATION_DETECTED,
    EventReason.NO_ROLLBACK_TARGET,
    EventReason.ROLLBACK_DEFERRED,
)


def _outcomes(
    rollouts: Sequence[Rollout], steps: Sequence[Step], status: ModelDeploymentStatus
) -> list[VersionOutcome]:
    quarantined = {q.name for q in status.quarantined_versions}
    out = []
    for i, rollout in enumerate(rollouts):
        # A step belongs to the latest rollout of its version at or before it: a version
        # asked for again is a new rollout, one that the rollback may hold off.
        later = [r.at for r in rollouts[i + 1 :] if r.version == rollout.version]
        until = later[0] if later else None
        mine = [
            s
            for s in steps
            if s.version == rollout.version
            and s.time >= rollout.at
            and (until is None or s.time < until)
        ]
        verdicts = {v.value: sum(1 for s in mine if s.verdict is v) for v in Verdict}
        outcome = VersionOutcome(
            version=rollout.version,
            live_at=rollout.at,
            evaluations=len(mine),
            verdicts=verdicts,
            first_failed_at=next((s.time for s in mine if s.verdict is Verdict.FAILED), None),
            quarantined=not mine and rollout.version in quarantined,
        )
        for s in mine:
            reasons = {e.reason for e in s.events}
            if EventReason.ROLLED_BACK in reasons and outcome.rolled_back_at is None:
                outcome = replace(outcome, rolled_back_at=s.time, rolled_back_to=s.running)
            if EventReason.VERSION_PROMOTED in reasons and outcome.promoted_at is None:
                outcome = replace(outcome, promoted_at=s.time)
            held = next((r for r in _HELD if r in reasons), None)
            if held is not None and outcome.held_by is None:
                outcome = replace(outcome, held_by=held)
        out.append(outcome)
    return out
