"""status: what the operator records (versions, evaluations, the kill switch, conditions)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field
from pydantic.alias_generators import to_camel

from modelguard.core.api.canary import HTTPRouteTraffic
from modelguard.core.api.notifications import NotificationsStatus
from modelguard.core.api.spec import KillSwitchMode


class Phase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    KILLED = "Killed"
    INVALID = "Invalid"


class Verdict(StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


class Outcome(StrEnum):
    """What became of a version that went live (an entry of status.history)."""

    LIVE = "Live"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"


class StatusModel(BaseModel):
    """Status parts: camelCase on the wire, mutable copies are made with model_copy."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class ModelVersion(StatusModel):
    """A concrete model version: what a container runs. Identity is (image, modelTag)."""

    image: str | None = None
    model_tag: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name(self) -> str:
        """The value substituted for {{version}}: the model tag, else the image tag."""
        if self.model_tag:
            return self.model_tag
        if self.image:
            last = self.image.rsplit("/", 1)[-1]
            if "@" in last:
                return last.split("@", 1)[1]
            if ":" in last:
                return last.rsplit(":", 1)[1]
            return self.image
        return "unknown"

    def same(self, other: ModelVersion | None) -> bool:
        """Same version, whatever the subclass carries beside image and tag."""
        return other is not None and (self.image, self.model_tag) == (
            other.image,
            other.model_tag,
        )


class VersionStatus(ModelVersion):
    """A version as shown in status, with when it got there."""

    since: datetime | None = None
    served_until: datetime | None = Field(
        default=None,
        description="In knownGoodVersions: when this version stopped serving (another went "
        "live in its place). A relative check reads its baseline as of then.",
    )

    @classmethod
    def of(cls, version: ModelVersion, since: datetime | None = None) -> VersionStatus:
        return cls(image=version.image, model_tag=version.model_tag, since=since)


class QuarantinedVersion(VersionStatus):
    reason: str = ""

    @classmethod
    def quarantine(cls, version: ModelVersion, since: datetime, reason: str) -> QuarantinedVersion:
        return cls(image=version.image, model_tag=version.model_tag, since=since, reason=reason)


class HistoryEntry(StatusModel):
    version: str
    image: str | None = None
    model_tag: str | None = None
    since: datetime
    outcome: Outcome
    reason: str = ""


class ProportionResult(StatusModel):
    """A proportion check's evidence: both arms' counts, the difference candidate - stable
    with its interval (the confidence sequence's for test sequential), and how many
    more outcomes each arm needs for a decision at the current estimate."""

    test: str
    successes: float | None = None
    total: float | None = None
    stable_successes: float | None = None
    stable_total: float | None = None
    estimate: float | None = Field(default=None, description="Candidate rate - stable rate.")
    low: float | None = Field(default=None, description="Lower bound of the interval.")
    high: float | None = Field(default=None, description="Upper bound of the interval.")
    samples_needed: int | None = Field(
        default=None,
        description="More outcomes the candidate arm needs for a decision, if the estimate "
        "and its variance stay as they are (0: decided; absent: not estimable, e.g. the "
        "estimate sits on the margin).",
    )
    stable_samples_needed: int | None = Field(
        default=None, description="The same for the stable arm."
    )


class CheckResult(StatusModel):
    name: str
    query: str
    value: float | None = None
    baseline: float | None = None
    threshold: str = ""
    samples: float | None = None
    baseline_at: datetime | None = Field(
        default=None,
        description="When the baseline was read: the last time the stable version served.",
    )
    proportion: ProportionResult | None = None
    verdict: Verdict
    reason: str = Field(default="", description="Why: BelowMin, NoData, TooFewSamples, ...")
    message: str = ""
    template: str | None = Field(
        default=None,
        description="The check template the check came from (ClusterModelCheckTemplate/f1-score).",
    )


class Evaluation(StatusModel):
    time: datetime
    version: str
    verdict: Verdict
    checks: list[CheckResult] = []


class SavedWorkload(StatusModel):
    """What the kill switch changed, saved before it changed it, restored on release."""

    replicas: int | None = None
    selector: dict[str, str] | None = None
    service: str | None = Field(
        default=None,
        description="Service whose selector was saved: the release restores it even when "
        "the spec no longer names it (a GitOps revert removes the whole killSwitch block).",
    )


class KillSwitchStatus(StatusModel):
    engaged: bool = False
    mode: KillSwitchMode | None = None
    since: datetime | None = None
    reason: str = ""
    requested_by: str = ""
    saved: SavedWorkload | None = None
    fallback_ready: bool | None = None


class KillSwitchRecord(StatusModel):
    """One engagement of the kill switch, kept after its release (Events expire in an
    hour; this is the durable audit trail). `by` is a verified requester, or "unknown
    (field manager X)" when only managedFields tell (core.metadata.requested_by)."""

    engaged_at: datetime
    engaged_by: str = ""
    reason: str = ""
    mode: KillSwitchMode | None = None
    released_at: datetime | None = None
    released_by: str = ""


class PendingAction(StatusModel):
    """A version change decided and recorded but not yet seen on the Deployment.

    Written before the Deployment is patched, so a crash in between re-applies the
    same change (idempotent) instead of deciding again.
    """

    kind: Literal["apply", "rollback"]
    target: ModelVersion
    reason: str = ""
    decided_at: datetime


# Written with the status change it belongs to and removed once posted under its fixed
# name, so a crash in between posts it after the restart (the API server refuses a second
# Event of the same name): each decision's Event exists exactly once.
class OutgoingEvent(StatusModel):
    """An Event decided with a status change and not yet posted."""

    name: str
    type: Literal["Normal", "Warning"]
    reason: str
    message: str = ""


class RollbackRequest(StatusModel):
    """A manual rollback asked for through the rollback-request annotation (JSON)."""

    id: str = Field(min_length=1)
    to: str | None = Field(default=None, description="Version name; default: the stable one.")
    reason: str = ""
    requested_by: str = ""


# Recorded so that the fight is announced by one Event, not one per sync, restarts included.
class GitOpsConflict(ModelVersion):
    """A quarantined version put back on the Deployment (watch mode), and reverted."""

    restored: str = Field(description="The version name the operator put back.")
    count: int = Field(description="How many times the version was put back and reverted.")
    first_seen: datetime
    last_seen: datetime


class Condition(StatusModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


# status.canary: where the canary in progress stands (see core.canary).
class CanaryPhase(StrEnum):
    PROGRESSING = "Progressing"  # stepping through spec.canary.steps
    PROMOTING = "Promoting"  # the target is patched; the canary serves until it is rolled out
    ABORTING = "Aborting"  # the canary is being removed (aborted, superseded, cancelled)


class CanaryStatus(StatusModel):
    """The canary in progress; absent when none is."""

    version: ModelVersion
    phase: CanaryPhase = CanaryPhase.PROGRESSING
    step: int = Field(default=0, description="Index into spec.canary.steps.")
    desired_weight: int = Field(default=0, description="The step's share, percent.")
    actual_weight: float = Field(
        default=0.0, description="Ready canary pods / all Ready pods, percent."
    )
    canary_replicas: int = Field(default=0, description="Replicas asked of the canary.")
    canary_ready_replicas: int = 0
    stable_ready_replicas: int = 0
    started_at: datetime
    step_started_at: datetime
    ready_at: datetime | None = Field(
        default=None,
        description="When the step's canary pods were all Ready: its warmup counts from then.",
    )
    passing_since: datetime | None = None
    consecutive_failures: int = 0
    saved_replicas: int | None = Field(
        default=None,
        description="The canary's replicas saved by the kill switch, restored on release.",
    )
    message: str = ""
    route: HTTPRouteTraffic | None = Field(
        default=None,
        description="httpRoute mode: the route and backendRefs the canary weighs, recorded "
        "so that an abort resets the weight even after spec.canary was removed.",
    )


class ModelDeploymentStatus(StatusModel):
    phase: Phase = Phase.PENDING
    observed_generation: int | None = None
    desired_version: VersionStatus | None = None
    current_version: VersionStatus | None = None
    stable_version: VersionStatus | None = None
    known_good_versions: list[VersionStatus] = []
    quarantined_versions: list[QuarantinedVersion] = []
    history: list[HistoryEntry] = []
    pending_action: PendingAction | None = None
    pending_events: list[OutgoingEvent] = []
    last_evaluation: Evaluation | None = None
    consecutive_failures: int = 0
    passing_since: datetime | None = None
    last_passed_with_data: datetime | None = Field(
        default=None,
        description="Last evaluation of the current version in which a check Passed on "
        "data (not through noData): promotion needs one within promoteAfter.",
    )
    rollout_incomplete_since: datetime | None = Field(
        default=None,
        description="When the Deployment's rollout was first seen incomplete; cleared "
        "once it completes. Kept here so that a restart does not restart the clock.",
    )
    last_action_time: datetime | None = None
    handled_rollback_request: str | None = None
    git_ops_conflict: GitOpsConflict | None = None
    kill_switch: KillSwitchStatus = KillSwitchStatus()
    #: The last KILL_SWITCH_HISTORY_LIMIT engagements, oldest first.
    kill_switch_history: list[KillSwitchRecord] = []
    notifications: NotificationsStatus | None = Field(
        default=None,
        description="Notices decided and not yet sent to every receiver, and the last "
        "outcomes. Absent until a receiver is first owed one.",
    )
    conditions: list[Condition] = []
    canary: CanaryStatus | None = None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
