"""Version identity and the version-valued questions about a status: which version a
spec means, which one is quarantined, which one a rollback goes to."""

from __future__ import annotations

from datetime import datetime

from modelguard.core.api import (
    CanaryPhase,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelVersion,
    VersionSpec,
    VersionStatus,
)

DEFAULT_TAG_ENV = "MODEL_VERSION"


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


def _canary_stepping(status: ModelDeploymentStatus) -> bool:
    canary = status.canary
    return canary is not None and canary.phase is CanaryPhase.PROGRESSING


def baseline_time(status: ModelDeploymentStatus) -> datetime | None:
    """When to read the baseline of {{stableVersion}} (the version template_values
    names): the last time it served, None while it still serves (read it now)."""
    if _canary_stepping(status):
        return None  # the stable serves beside the canary: compared side by side, now
    baseline = rollback_target(status)
    if baseline is None or baseline.same(status.current_version):
        return None
    if baseline.served_until is not None:
        return baseline.served_until
    # Recorded before servedUntil existed: it served until the next version went live.
    history = status.history
    for i in range(len(history) - 2, -1, -1):
        entry = history[i]
        if (entry.image, entry.model_tag) == (baseline.image, baseline.model_tag):
            return history[i + 1].since
    return None


def samples_since(status: ModelDeploymentStatus) -> datetime | None:
    """What {{sinceStart}} counts from: the canary's start while it steps (both arms
    cumulative over the same span, which keeps the sequential test valid across looks),
    else when the current version went live."""
    if _canary_stepping(status) and status.canary is not None:
        return status.canary.started_at
    return status.current_version.since if status.current_version else None


def template_values(status: ModelDeploymentStatus, namespace: str, name: str) -> dict[str, str]:
    """Values for PromQL templates. {{stableVersion}} is the version a relative check
    compares against: the newest known-good one other than the current version, so a
    promoted version is still compared with its predecessor after promotion. During a
    canary, {{version}} is the canary and {{stableVersion}} the version the target runs."""
    values = {"namespace": namespace, "name": name}
    if _canary_stepping(status) and status.canary is not None:
        # Both serve at once: the canary is judged against the stable, side by side.
        values["version"] = status.canary.version.name
        if status.current_version is not None:
            values["stableVersion"] = status.current_version.name
        return values
    if status.current_version is not None:
        values["version"] = status.current_version.name
    baseline = rollback_target(status)
    if baseline is not None:
        values["stableVersion"] = baseline.name
    return values
