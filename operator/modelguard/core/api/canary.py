"""spec.canary: a new version introduced step by step beside the stable.

The canary is a sibling Deployment `<target>-canary` that modelguard owns; the target
Deployment is never written during a canary (GitOps and the HPA own it), so an abort is
deleting the sibling. See core.canary for the step machine and the weights.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from modelguard.core.api.base import ApiModel, DnsLabel, DnsSubdomain, Duration1s, cel, duration

DEFAULT_TRACK_LABEL = "modelguard.io/track"
# A qualified label key: an optional DNS-subdomain prefix and a name of at most 63.
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)

Percent = Annotated[int, Field(ge=1, le=99)]


class TrafficMode(StrEnum):
    REPLICAS = "replicas"
    HTTP_ROUTE = "httpRoute"


class HTTPRouteTraffic(ApiModel):
    """The user's HTTPRoute and the two backendRefs on it whose weights modelguard sets."""

    name: DnsSubdomain = Field(description="HTTPRoute in the same namespace.")
    stable_backend: DnsLabel = Field(description="backendRef (Service) name of the stable.")
    canary_backend: DnsLabel = Field(description="backendRef (Service) name of the canary.")


class CanaryTraffic(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.mode) || self.mode != 'httpRoute' || has(self.httpRoute)",
                    "mode httpRoute needs httpRoute.name, stableBackend and canaryBackend",
                    ".httpRoute",
                )
            ]
        }
    )

    mode: TrafficMode = Field(
        default=TrafficMode.REPLICAS,
        description="replicas: the Service selects both Deployments and the replica ratio "
        "splits traffic; httpRoute: a Gateway API HTTPRoute's backend weights do.",
    )
    http_route: HTTPRouteTraffic | None = Field(
        default=None, description="Required in mode httpRoute."
    )

    @model_validator(mode="after")
    def _route(self) -> CanaryTraffic:
        if self.mode is TrafficMode.HTTP_ROUTE and self.http_route is None:
            raise ValueError("mode httpRoute needs httpRoute.name, stableBackend and canaryBackend")
        return self


class CanarySpec(ApiModel):
    """Absent: a new version replaces the old in place (the behaviour without canaries)."""

    steps: list[Percent] = Field(
        min_length=1,
        max_length=20,
        description="Canary share of traffic per step, percent, strictly ascending, each "
        "1..99; after the last step passes the target is patched to the new version.",
        json_schema_extra={
            "x-kubernetes-list-type": "set",
            "x-kubernetes-validations": [
                cel("self.isSorted()", "steps must be strictly ascending"),
            ],
        },
    )
    step_duration: Duration1s = duration(
        "10m", "1s", "Minimum time every check must pass at a step (after the warmup)."
    )
    traffic: CanaryTraffic = CanaryTraffic()
    max_canary_replicas: int = Field(
        default=10, ge=1, le=1000, description="Upper bound of the canary's replicas."
    )
    ready_deadline: Duration1s = duration(
        "10m", "1s", "A canary not Ready this long after its step began fails the step."
    )
    track_label: str = Field(
        default=DEFAULT_TRACK_LABEL,
        max_length=317,
        pattern=LABEL_KEY_PATTERN,
        description="Label key the canary's pods get (value 'canary'); the canary's "
        "selector is the target's plus this label.",
    )
    max_weight_overshoot: int = Field(
        default=10,
        ge=0,
        le=98,
        description="Percentage points the actual share (canary / all Ready pods) may "
        "exceed the step by; beyond, the canary holds (too few stable replicas).",
    )

    @model_validator(mode="after")
    def _ascending(self) -> CanarySpec:
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("steps must be strictly ascending")
        return self
