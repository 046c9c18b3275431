"""The canary in the decision: core.canary's step machine applied to the draft.

plan() calls these in its order of precedence: the kill switch first (killed, released),
then a manual rollback request (rollback_requested), then the canary's own tick (step).
What the machine decides is recorded in the draft (status.canary, quarantine, the
Canary condition) with its actions, so the reconciler writes it before acting on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from modelguard.core import canary as machine
from modelguard.core import conditions as cond
from modelguard.core.api import (
    CanaryPhase,
    CanaryStatus,
    CheckResult,
    Evaluation,
    KillSwitchStatus,
    ModelDeploymentSpec,
    QuarantinedVersion,
    RollbackRequest,
    Verdict,
)
from modelguard.core.decision.desired import apply_version
from modelguard.core.decision.draft import Draft
from modelguard.core.decision.evidence import evidence
from modelguard.core.evaluation import overall
from modelguard.core.reasons import ConditionReason
from modelguard.core.workload import Workload

if TYPE_CHECKING:  # plan imports this module
    from modelguard.core.decision.plan import KillSwitchOnly


def _record(draft: Draft, spec: ModelDeploymentSpec, tick: machine.Tick, env: str) -> None:
    canary = draft.status.canary
    draft.status.canary = tick.status
    draft.actions.extend(tick.actions)
    draft.events.extend(tick.events)
    if tick.condition is not None:
        draft.put(cond.CANARY, tick.condition.status, tick.condition.reason, tick.condition.message)
    if canary is None:
        return
    if tick.quarantine is not None:
        draft.quarantined = [q for q in draft.quarantined if not q.same(canary.version)]
        draft.quarantined.append(
            QuarantinedVersion.quarantine(canary.version, draft.now, f"canary: {tick.quarantine}")
        )
        draft.status.last_action_time = draft.now
        draft.put(
            cond.ROLLED_BACK,
            "True",
            ConditionReason.CANARY_ABORTED,
            f"canary {canary.version.name} aborted: {tick.quarantine}",
        )
    if tick.promote:
        apply_version(draft, canary.version, env)


def _rules(spec: ModelDeploymentSpec, env: str, dry_run: bool) -> machine.Rules:
    analysis = spec.analysis
    return machine.Rules(
        failure_threshold=analysis.failure_threshold if analysis else 1,
        automatic=spec.rollback.automatic,
        tag_env=env,
        dry_run=dry_run,
    )


def _judged(spec: ModelDeploymentSpec, results: Sequence[CheckResult]) -> machine.Judged:
    assert spec.analysis is not None
    return machine.Judged(
        verdict=overall(results, spec.analysis.no_data),
        with_data=any(r.verdict is Verdict.PASSED and r.value is not None for r in results),
        evidence=evidence(results),
    )


def _rolled_out(canary: CanaryStatus, workload: Workload) -> bool:
    """The target runs the canary's version on every replica, all of them available
    (Flagger's "wait for the primary's rolling update to finish")."""
    replicas = workload.replicas or 0
    return (
        canary.version.same(workload.version)
        and workload.rollout_observed
        and workload.updated_replicas == replicas
        and workload.available_replicas == replicas
        and workload.total_replicas == replicas
        and workload.ready_replicas >= replicas
    )


def _cancelled(spec: ModelDeploymentSpec, canary: CanaryStatus) -> str | None:
    """Why a canary in progress is no longer wanted, if it is not."""
    if spec.canary is None:
        return "spec.canary was removed; the desired version is applied in place"
    version = spec.version
    if version is None or not (
        (version.image is None or version.image == canary.version.image)
        and (version.model_tag is None or version.model_tag == canary.version.model_tag)
    ):
        return "the desired version changed"
    return None


def step(
    draft: Draft,
    spec: ModelDeploymentSpec,
    workload: Workload,
    results: Sequence[CheckResult] | None,
    env: str,
    *,
    dry_run: bool = False,
) -> bool:
    """The canary's tick. True: the canary holds this reconcile (Progressing, or being
    removed), so nothing else is decided; False: the rest of plan() runs as usual."""
    canary = draft.status.canary
    if canary is None:
        return False
    seen = workload.canary
    if canary.phase is CanaryPhase.PROGRESSING:
        why = _cancelled(spec, canary)
        if why is not None:
            _record(draft, spec, machine.abort(canary, seen, why, quarantine=False), env)
            return True
    judged = None
    if results is not None and canary.ready_at is not None:
        judged = _judged(spec, results)
        draft.status.last_evaluation = Evaluation(
            time=draft.now,
            version=canary.version.name,
            verdict=judged.verdict,
            checks=list(results),
        )
    tick = machine.tick(
        spec.canary,
        canary,
        workload.ready_replicas,
        seen,
        judged,
        draft.now,
        _rules(spec, env, dry_run),
        target_rolled_out=_rolled_out(canary, workload),
        route=workload.route,
    )
    _record(draft, spec, tick, env)
    after = draft.status.canary
    return after is not None and after.phase is not CanaryPhase.PROMOTING


def rollback_requested(
    draft: Draft, spec: ModelDeploymentSpec, request: RollbackRequest, workload: Workload, env: str
) -> None:
    """A manual rollback during a canary rolls back the new version: the canary is
    aborted and its version quarantined; the stable (the target) is left as it is."""
    canary = draft.status.canary
    assert canary is not None
    draft.status.handled_rollback_request = request.id
    by = f" by {request.requested_by}" if request.requested_by else ""
    why = f"manual rollback{by}: {request.reason or 'no reason'}"
    _record(draft, spec, machine.abort(canary, workload.canary, why, quarantine=True), env)


def killed(draft: Draft, spec: ModelDeploymentSpec, workload: Workload, env: str) -> None:
    canary = draft.status.canary
    if canary is None:
        return
    saved = draft.status.kill_switch.saved
    scaled = saved is None or saved.replicas is not None
    tick = machine.killed(canary, workload.canary, scaled=scaled)
    if canary.phase is CanaryPhase.ABORTING and workload.canary is None:
        tick = machine.Tick(status=None)
    _record(draft, spec, tick, env)


def released(draft: Draft, spec: ModelDeploymentSpec, env: str) -> None:
    canary = draft.status.canary
    if canary is not None:
        _record(draft, spec, machine.released(canary, draft.now), env)


def kill_only(
    running: CanaryStatus,
    after: KillSwitchStatus,
    before: KillSwitchStatus,
    kill_switch: KillSwitchOnly,
    now: datetime,
) -> machine.Tick:
    """An invalid spec's kill switch stops (and its release restores) the canary too."""
    if after.engaged:
        saved = after.saved
        scaled = saved is None or saved.replicas is not None
        return machine.killed(running, kill_switch.workload.canary, scaled=scaled)
    if before.engaged:
        return machine.released(running, now)
    return machine.Tick(status=running)
