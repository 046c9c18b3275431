"""Following the desired version: adopting a Deployment, applying a new spec version,
guarding a version someone else rolled out, and reverting drift behind our back."""

from __future__ import annotations

from modelguard.core import conditions as cond
from modelguard.core.api import (
    ModelDeploymentSpec,
    ModelVersion,
    Outcome,
    VersionSpec,
    VersionStatus,
)
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
    _apply_desired(draft, spec.version, running, env)


def _apply_desired(
    draft: Draft, desired_spec: VersionSpec, running: ModelVersion, env: str
) -> None:
    desired = resolve(desired_spec, running)
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


def _revert_drift(draft: Draft, current: ModelVersion, env: str, message: str) -> None:
    """Put back the version this resource guards."""
    draft.actions.append(SetVersion(plain(current), env))
    draft.event("Warning", EventReason.DRIFT_REVERTED, message)


def _follow_watched(draft: Draft, running: ModelVersion, env: str) -> None:
    """Watch mode: the Deployment is the source of truth; guard what it runs."""
    current = draft.status.current_version
    if current is None or running.same(current):
        return
    _guard_new(draft, running, env, watch=True)
    if is_quarantined(draft.status, running):
        draft.event(
            "Warning",
            EventReason.QUARANTINED_VERSION_DEPLOYED,
            f"The Deployment now runs {running.name}, which was rolled back before; "
            "guarding it again",
        )
    else:
        draft.event("Normal", EventReason.VERSION_DETECTED, f"Now guarding version {running.name}")


def follow_desired(draft: Draft, spec: ModelDeploymentSpec, workload: Workload, env: str) -> None:
    running = workload.version
    assert running is not None
    current = draft.status.current_version
    if spec.version is None:
        _follow_watched(draft, running, env)
        return

    if matches(spec.version, running):
        if current is None or running.same(current):
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
    _apply_desired(draft, spec.version, running, env)
