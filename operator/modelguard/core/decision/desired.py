"""Following the desired version: adopting a Deployment, applying a new spec version,
guarding a version someone else rolled out, and reverting drift behind our back."""

from __future__ import annotations

from modelguard.core import conditions as cond
from modelguard.core.api import (
    GitOpsConflict,
    ModelDeploymentSpec,
    ModelVersion,
    Outcome,
    VersionSpec,
    VersionStatus,
)
from modelguard.core.canary import start as canary_start
from modelguard.core.decision.draft import Draft
from modelguard.core.decision.versions import (
    desired_quarantined,
    is_quarantined,
    matches,
    plain,
    resolve,
)
from modelguard.core.reasons import ConditionReason, EventReason
from modelguard.core.workload import SetVersion, Workload


def set_desired(draft: Draft, desired: ModelVersion) -> None:
    """Record the desired version; `since` moves only when the version does, so that an
    idle reconcile writes nothing."""
    if not desired.same(draft.status.desired_version):
        draft.status.desired_version = VersionStatus.of(desired, draft.now)


def record_desired(draft: Draft, spec: ModelDeploymentSpec, workload: Workload) -> None:
    """While killed, version changes are only recorded; release applies them."""
    if spec.version is not None:
        set_desired(draft, resolve(spec.version, draft.status.current_version or workload.version))


def adopt(draft: Draft, spec: ModelDeploymentSpec, workload: Workload, env: str) -> None:
    """First sight of the Deployment. What it runs has been serving: it becomes the first
    known-good version when a different version is desired, so that there is something
    to roll back to."""
    running = workload.version
    assert running is not None
    if spec.version is None or matches(spec.version, running):
        draft.go_live(
            running, Outcome.LIVE, "running when modelguard adopted it", kind=None, env=env
        )
        draft.status.desired_version = VersionStatus.of(running, draft.now)
        draft.event(
            "Normal", EventReason.ADOPTED, f"Guarding version {running.name} of the Deployment"
        )
        return
    draft.go_live(
        running, Outcome.PROMOTED, "running when modelguard adopted it", kind=None, env=env
    )
    draft.known_good.append(VersionStatus.of(running, draft.now))
    draft.status.stable_version = VersionStatus.of(running, draft.now)
    _apply_desired(draft, spec, spec.version, running, env)


def _apply_desired(
    draft: Draft,
    spec: ModelDeploymentSpec,
    desired_spec: VersionSpec,
    running: ModelVersion,
    env: str,
) -> None:
    desired = resolve(desired_spec, running)
    if spec.canary is not None:
        # The target is not touched: the new version starts beside it (core.canary),
        # and apply_version runs only once the canary passed all of its steps.
        set_desired(draft, desired)
        draft.status.canary, started = canary_start(plain(desired), draft.now)
        draft.events.append(started)
        return
    apply_version(draft, desired, env)


def apply_version(draft: Draft, desired: ModelVersion, env: str) -> None:
    """Patch the target to `desired` (write-ahead: a pending action), as the new version."""
    previous = draft.status.current_version
    draft.close_current(Outcome.SUPERSEDED, f"superseded by {desired.name}")
    reason = f"desired version changed from {previous.name if previous else 'none'}"
    draft.go_live(desired, Outcome.LIVE, reason, kind="apply", env=env)
    draft.status.desired_version = VersionStatus.of(desired, draft.now)
    draft.put(cond.ROLLED_BACK, "False", ConditionReason.NEW_VERSION, f"applied {desired.name}")
    draft.event(
        "Normal",
        EventReason.VERSION_APPLIED,
        f"Applied version {desired.name} (image={desired.image}, modelTag={desired.model_tag})",
    )


def _guard_new(draft: Draft, running: ModelVersion, env: str, *, watch: bool) -> None:
    """Someone else rolled out `running`: guard it as a new version from now."""
    draft.close_current(Outcome.SUPERSEDED, f"superseded by {running.name}")
    draft.go_live(running, Outcome.LIVE, "Deployment changed", kind=None, env=env)
    if watch:
        draft.status.desired_version = VersionStatus.of(running, draft.now)
    else:
        set_desired(draft, running)
    draft.put(cond.ROLLED_BACK, "False", ConditionReason.NEW_VERSION, f"detected {running.name}")


def _desired_is_current(draft: Draft, desired_spec: VersionSpec, current: ModelVersion) -> None:
    """The spec asks for what runs: typically, after a rollback, Git was reverted to the
    version rolled back to. The desired version follows, and the rollback is over."""
    set_desired(draft, resolve(desired_spec, current))
    if cond.is_true(draft.status.conditions, cond.ROLLED_BACK):
        draft.put(
            cond.ROLLED_BACK,
            "False",
            ConditionReason.DESIRED_IS_KNOWN_GOOD,
            f"the desired version is {current.name}, the known-good version running",
        )


def _revert_drift(draft: Draft, current: ModelVersion, env: str, message: str) -> None:
    """Put back the version this resource guards."""
    draft.actions.append(SetVersion(plain(current), env))
    draft.event("Warning", EventReason.DRIFT_REVERTED, message)


def _follow_watched(draft: Draft, running: ModelVersion, env: str) -> None:
    """Watch mode: the Deployment is the source of truth; guard what it runs."""
    current = draft.status.current_version
    if current is None or running.same(current):
        return
    if is_quarantined(draft.status, running):
        _fight(draft, running, current, env)
        return
    draft.status.git_ops_conflict = None  # a new version: whatever fight there was is over
    _guard_new(draft, running, env, watch=True)
    draft.event("Normal", EventReason.VERSION_DETECTED, f"Now guarding version {running.name}")


def _fight(draft: Draft, running: ModelVersion, current: VersionStatus, env: str) -> None:
    """Watch mode: a quarantined version is back on the Deployment, typically because a
    GitOps tool that owns it re-applies what Git says on every sync. Analysing it again
    would only roll it back again, sync after sync: revert it at once, and say once (the
    record in status survives restarts) what has to change for the fight to stop."""
    draft.actions.append(SetVersion(plain(current), env))
    record = draft.status.git_ops_conflict
    if record is not None and record.same(running):
        record = record.model_copy(update={"count": record.count + 1, "last_seen": draft.now})
    else:
        record = GitOpsConflict(
            image=running.image,
            model_tag=running.model_tag,
            restored=current.name,
            count=1,
            first_seen=draft.now,
            last_seen=draft.now,
        )
    tag = f" (modelTag {current.model_tag})" if current.model_tag else ""
    fix = (
        f"set the image in Git to {current.image}{tag} or clear the quarantine of "
        f"{running.name} (remove it from status.quarantinedVersions)"
    )
    draft.put(
        cond.ROLLED_BACK,
        "True",
        ConditionReason.GITOPS_CONFLICT,
        f"the quarantined version {running.name} was put back on the Deployment "
        f"{record.count} time(s), last at {record.last_seen.isoformat()}, and reverted to "
        f"{current.name}; if a GitOps tool owns the Deployment, {fix}",
    )
    if record.count == 1:
        draft.event(
            "Warning",
            EventReason.QUARANTINED_VERSION_DEPLOYED,
            f"The Deployment was set to {running.name}, which was rolled back and is "
            f"quarantined; restored {current.name} without analysing {running.name} again. "
            f"This Event is not repeated (see status.gitOpsConflict): if a GitOps tool owns "
            f"the Deployment, {fix}",
        )
    draft.status.git_ops_conflict = record


def follow_desired(draft: Draft, spec: ModelDeploymentSpec, workload: Workload, env: str) -> None:
    running = workload.version
    assert running is not None
    current = draft.status.current_version
    if spec.version is None:
        _follow_watched(draft, running, env)
        return

    if matches(spec.version, running):
        if current is None:
            return
        if running.same(current):
            _desired_is_current(draft, spec.version, current)
            return
        if is_quarantined(draft.status, running):
            # The rolled-back version was put back on the Deployment behind our back:
            # the rollback holds here just as it does against the unchanged spec.
            _revert_drift(
                draft,
                current,
                env,
                f"The Deployment ran {running.name}, which was rolled back and is "
                f"quarantined; restored {current.name}",
            )
            return
        # Someone else rolled out what the spec asks for (or, with a tag-only spec, a
        # new image): guard it as a new version.
        _guard_new(draft, running, env, watch=False)
        draft.event("Normal", EventReason.VERSION_DETECTED, f"Now guarding version {running.name}")
        return
    if current is not None and matches(spec.version, current):
        # The Deployment was changed behind our back (kubectl set image, a GitOps tool
        # that owns the image): put back the version this resource guards.
        _revert_drift(
            draft,
            current,
            env,
            f"The Deployment ran {running.name}; restored the guarded version {current.name}",
        )
        return
    if desired_quarantined(spec, draft.status):
        # The rollback holds: GitOps keeps this spec, and re-applying would undo it.
        set_desired(draft, resolve(spec.version, current))
        if current is not None and not running.same(current):
            # Someone changed the Deployment behind our back: put back what we guard.
            _revert_drift(
                draft,
                current,
                env,
                f"The Deployment ran {running.name}; restored {current.name} (the desired "
                "version is quarantined)",
            )
        return
    _apply_desired(draft, spec, spec.version, running, env)
