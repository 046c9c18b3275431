"""The ModelDeployment API (modelguard.io/v1alpha1), defined once.

These pydantic models are the single source of truth: the CRD schema in ``crds/`` is
generated from them (``python -m modelguard.crdgen``), and the operator parses every
object through them. Cross-field rules are written twice on purpose: as CEL
(``x-kubernetes-validations``) so that ``kubectl apply`` rejects a bad resource, and as
pydantic validators so that an object admitted by an older CRD still gets a clear
``InvalidSpec`` condition instead of undefined behaviour. A test keeps the two in step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict, JsonValue

from modelguard.core.durations import DURATION_PATTERN, parse_duration

GROUP = "modelguard.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ["mdep"]

# Annotations the CLI writes on a ModelDeployment. Requests go through metadata, never
# through spec fields a GitOps tool owns, and each carries an id so it is handled once.
ANNOTATION_REQUESTED_BY = f"{GROUP}/requested-by"
ANNOTATION_ROLLBACK_REQUEST = f"{GROUP}/rollback-request"

HISTORY_LIMIT = 20
QUARANTINE_LIMIT = 20
KNOWN_GOOD_LIMIT = 10
KILL_SWITCH_HISTORY_LIMIT = 20
# The built-in rollout check (core.rollout) is reported beside the user's checks.
RESERVED_CHECK_NAME = "rollout"


def _cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    out: JsonDict = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def _duration(default: str, minimum: str | None, description: str) -> Any:
    """A Go-style duration string ("30s", "2m", "1h30m") with a lower bound.

    Go syntax because CEL's ``duration()`` parses it, so the API server can enforce
    the minimum at apply time.
    """
    rules: list[JsonValue] = [
        _cel(f"duration(self) >= duration('{minimum}')", f"must be at least {minimum}")
    ]
    return Field(
        default=default,
        pattern=DURATION_PATTERN,
        max_length=32,
        description=f"{description} Go duration" + (f", at least {minimum}." if minimum else "."),
        json_schema_extra={"x-kubernetes-validations": rules} if minimum else None,
    )


def _at_least_one_second(value: str) -> str:
    if parse_duration(value) < timedelta(seconds=1):
        raise ValueError("must be at least 1s")
    return value


# A duration with a floor of one second: polling faster than that only loads Prometheus.
Duration1s = Annotated[str, AfterValidator(_at_least_one_second)]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


DnsLabel = Annotated[
    str,
    Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]
DnsSubdomain = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
EnvVarName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]


# --------------------------------------------------------------------------- spec


class TargetRef(ApiModel):
    """The existing Deployment that serves the model."""

    name: DnsSubdomain = Field(description="Name of the Deployment in the same namespace.")
    container: DnsLabel | None = Field(
        default=None,
        description="Container that runs the model; defaults to the first container.",
    )


class VersionSpec(ApiModel):
    """The desired model version: an image, a model tag, or both."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.image) || has(self.modelTag)",
                    "version needs an image, a modelTag, or both",
                )
            ]
        }
    )

    image: str | None = Field(
        default=None, min_length=1, max_length=1024, description="Container image to run."
    )
    model_tag: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="Model version tag, written to the env var named by modelTagEnv.",
    )
    model_tag_env: EnvVarName = Field(
        default="MODEL_VERSION", description="Env var of the container that holds the model tag."
    )

    @model_validator(mode="after")
    def _image_or_tag(self) -> VersionSpec:
        if self.image is None and self.model_tag is None:
            raise ValueError("version needs an image, a modelTag, or both")
        return self


class SecretKeyRef(ApiModel):
    """A key of a Secret in the ModelDeployment's namespace."""

    name: DnsSubdomain
    key: str = Field(default="token", min_length=1, description="Key holding a bearer token.")


class PrometheusSpec(ApiModel):
    url: str = Field(
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description="Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090.",
    )
    timeout: Duration1s = _duration("10s", "1s", "Per-query timeout.")
    auth_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret with a bearer token for Prometheus."
    )


class Check(ApiModel):
    """One PromQL quality check. Templates: {{version}}, {{stableVersion}}, {{namespace}},
    {{name}}; values are escaped for label matchers."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.min) || has(self.max) || has(self.maxDrop) || has(self.maxIncrease)",
                    "a check needs at least one of min, max, maxDrop, maxIncrease",
                ),
                _cel(
                    "!has(self.min) || !has(self.max) || self.min <= self.max",
                    "min must be less than or equal to max",
                    ".min",
                ),
                _cel(
                    "(has(self.maxDrop) || has(self.maxIncrease)) == has(self.baselineQuery)",
                    "maxDrop/maxIncrease and baselineQuery go together",
                    ".baselineQuery",
                ),
                _cel(
                    "has(self.minSamples) == has(self.samplesQuery)",
                    "minSamples and samplesQuery go together",
                    ".samplesQuery",
                ),
            ]
        }
    )

    name: DnsLabel = Field(description="Unique name of the check.")
    query: str = Field(
        min_length=1, max_length=4096, description="PromQL returning one value for {{version}}."
    )
    min: float | None = Field(default=None, description="Fail when the value is below this.")
    max: float | None = Field(default=None, description="Fail when the value is above this.")
    baseline_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL for the same quantity on {{stableVersion}}.",
    )
    max_drop: float | None = Field(
        default=None, ge=0, description="Fail when baseline - value exceeds this."
    )
    max_increase: float | None = Field(
        default=None, ge=0, description="Fail when value - baseline exceeds this."
    )
    samples_query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL counting the samples behind the value.",
    )
    min_samples: int | None = Field(
        default=None, ge=0, description="Below this many samples the check is Inconclusive."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Check:
        relative = self.max_drop is not None or self.max_increase is not None
        if self.min is None and self.max is None and not relative:
            raise ValueError("a check needs at least one of min, max, maxDrop, maxIncrease")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be less than or equal to max")
        if relative != (self.baseline_query is not None):
            raise ValueError("maxDrop/maxIncrease and baselineQuery go together")
        if (self.min_samples is not None) != (self.samples_query is not None):
            raise ValueError("minSamples and samplesQuery go together")
        return self


class NoDataPolicy(StrEnum):
    HOLD = "hold"
    FAIL = "fail"
    PASS = "pass"


def _no_reserved_name(checks: list[Check]) -> list[Check]:
    if any(c.name == RESERVED_CHECK_NAME for c in checks):
        raise ValueError(f"check name {RESERVED_CHECK_NAME!r} is reserved for the built-in check")
    return checks


class AnalysisSpec(ApiModel):
    prometheus: PrometheusSpec
    interval: Duration1s = _duration("30s", "1s", "How often the checks run.")
    warmup: str = _duration("2m", None, "No verdict this soon after a version goes live.")
    failure_threshold: int = Field(
        default=3, ge=1, le=100, description="Consecutive failed evaluations before rollback."
    )
    promote_after: str = _duration("10m", None, "Passing this long makes a version known good.")
    rollout_timeout: Duration1s = _duration(
        "5m",
        "1s",
        "A rollout of the current version not complete for this long (pods not updated "
        "or not available) fails the built-in rollout check, as does the Deployment's "
        "ProgressDeadlineExceeded.",
    )
    no_data: NoDataPolicy = Field(
        default=NoDataPolicy.HOLD,
        description="What an Inconclusive check means: hold (neither), fail, or pass.",
    )
    checks: Annotated[list[Check], AfterValidator(_no_reserved_name)] = Field(
        min_length=1,
        max_length=32,
        description="Quality checks; every one must pass.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-validations": [
                _cel(
                    f"self.all(c, c.name != '{RESERVED_CHECK_NAME}')",
                    f"check name {RESERVED_CHECK_NAME!r} is reserved for the built-in check",
                )
            ],
        },
    )

    @model_validator(mode="after")
    def _unique_names(self) -> AnalysisSpec:
        names = [c.name for c in self.checks]
        if len(names) != len(set(names)):
            raise ValueError("check names must be unique")
        return self


class RollbackSpec(ApiModel):
    automatic: bool = Field(
        default=True, description="false = report only: verdicts and Events, no patches."
    )
    cooldown: str = _duration("10m", None, "Minimum time between two automatic actions.")


class KillSwitchMode(StrEnum):
    SCALE_TO_ZERO = "scaleToZero"
    FALLBACK = "fallback"


class FallbackSpec(ApiModel):
    service_name: DnsLabel = Field(description="Service in front of the model.")
    selector: dict[str, str] = Field(
        min_length=1, description="Pod selector of the fallback to route the Service to."
    )


class KillSwitchSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.enabled) || !self.enabled || "
                    "(has(self.reason) && size(self.reason.trim()) > 0)",
                    "reason is required when the kill switch is enabled",
                    ".reason",
                ),
                _cel(
                    "!has(self.mode) || self.mode != 'fallback' || has(self.fallback)",
                    "mode fallback needs fallback.serviceName and fallback.selector",
                    ".fallback",
                ),
            ]
        }
    )

    enabled: bool = False
    mode: KillSwitchMode = KillSwitchMode.SCALE_TO_ZERO
    fallback: FallbackSpec | None = None
    reason: str = Field(default="", max_length=1024, description="Why; required when enabled.")

    @model_validator(mode="after")
    def _consistent(self) -> KillSwitchSpec:
        if self.enabled and not self.reason.strip():
            raise ValueError("reason is required when the kill switch is enabled")
        if self.mode is KillSwitchMode.FALLBACK and self.fallback is None:
            raise ValueError("mode fallback needs fallback.serviceName and fallback.selector")
        return self


class ModelDeploymentSpec(ApiModel):
    target_ref: TargetRef
    version: VersionSpec | None = Field(
        default=None,
        description="Desired version. Absent: watch the Deployment and guard what it runs.",
    )
    analysis: AnalysisSpec | None = Field(
        default=None, description="Quality checks. Absent: kill switch only, no analysis."
    )
    rollback: RollbackSpec = RollbackSpec()
    kill_switch: KillSwitchSpec = KillSwitchSpec()


# --------------------------------------------------------------------------- status


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
    verdict: Verdict
    reason: str = Field(default="", description="Why: BelowMin, NoData, TooFewSamples, ...")
    message: str = ""


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
    conditions: list[Condition] = []

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ModelDeployment(BaseModel):
    """A whole object as read from the API server (metadata kept loosely)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    api_version: str = Field(default=f"{GROUP}/{VERSION}", alias="apiVersion")
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, Any] = {}
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = ModelDeploymentStatus()
