"""spec: what a user writes (target, version, analysis, rollback, kill switch); its checks
are in checks.py."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from modelguard.core.api.base import (
    RESERVED_CHECK_NAME,
    ApiModel,
    DnsLabel,
    DnsSubdomain,
    Duration1s,
    EnvVarName,
    cel,
    duration,
)
from modelguard.core.api.canary import CanarySpec
from modelguard.core.api.checks import Check
from modelguard.core.api.notifications import NotificationsSpec


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
                cel(
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
    timeout: Duration1s = duration("10s", "1s", "Per-query timeout.")
    auth_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret with a bearer token for Prometheus."
    )


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
    interval: Duration1s = duration("30s", "1s", "How often the checks run.")
    warmup: str = duration("2m", None, "No verdict this soon after a version goes live.")
    failure_threshold: int = Field(
        default=3, ge=1, le=100, description="Consecutive failed evaluations before rollback."
    )
    promote_after: str = duration("10m", None, "Passing this long makes a version known good.")
    rollout_timeout: Duration1s = duration(
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
                cel(
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
    cooldown: str = duration("10m", None, "Minimum time between two automatic actions.")


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
                cel(
                    "!has(self.enabled) || !self.enabled || "
                    "(has(self.reason) && size(self.reason.trim()) > 0)",
                    "reason is required when the kill switch is enabled",
                    ".reason",
                ),
                cel(
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
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.canary) || (has(self.version) && has(self.analysis))",
                    "canary needs version and analysis",
                    ".canary",
                )
            ]
        }
    )

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
    notifications: NotificationsSpec | None = Field(
        default=None, description="Webhooks told about decisions. Absent: none."
    )
    canary: CanarySpec | None = Field(
        default=None,
        description="Introduce a new version step by step beside the stable one. Absent: "
        "a new version replaces the old in place.",
    )

    @model_validator(mode="after")
    def _canary_needs_analysis(self) -> ModelDeploymentSpec:
        if self.canary is not None and (self.version is None or self.analysis is None):
            raise ValueError("canary needs version and analysis")
        return self
