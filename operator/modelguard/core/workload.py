"""What the core sees of the guarded workload, and what it asks to change there.

Actions are level-based ("make replicas 0", "make the image X"), never deltas, so the
reconciler can repeat any of them after a crash without harm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from modelguard.core.api import HTTPRouteTraffic, ModelVersion


@dataclass(frozen=True)
class ServiceState:
    name: str
    exists: bool
    selector: dict[str, str] | None = None


@dataclass(frozen=True)
class Progressing:
    """The Deployment's Progressing condition, as its controller reports it."""

    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class CanaryWorkload:
    """The sibling `<target>-canary` Deployment that modelguard owns (core.canary)."""

    replicas: int
    ready_replicas: int = 0  # Ready pods of its current template
    version: ModelVersion | None = None
    current: bool = True  # derived from the target's pod template as it is now


@dataclass(frozen=True)
class RouteState:
    """httpRoute mode: the user's HTTPRoute and the Services behind its two backendRefs."""

    canary_weight: int | None = None  # the canary backendRef's weight; None: no route
    canary_service: bool = False  # the operator's canary Service exists
    problem: str = ""  # why the canary cannot take traffic through the route (hold)


@dataclass(frozen=True)
class Workload:
    """The observed Deployment (and, for the fallback kill switch, its Service)."""

    exists: bool
    container: str | None = None
    version: ModelVersion | None = None
    replicas: int | None = None
    ready_replicas: int = 0
    # The rollout, from the Deployment's status. None: not reported (then the rollout
    # is not judged: no evidence is not evidence of a stuck rollout).
    updated_replicas: int | None = None  # pods of the current template
    available_replicas: int | None = None
    total_replicas: int | None = None  # pods of every template, old ones included
    rollout_observed: bool = True  # the controller has seen the current generation
    progressing: Progressing | None = None
    service: ServiceState | None = None
    fallback_ready_pods: int | None = None
    autoscaler: str | None = None  # name of an HPA that targets the Deployment
    problem: str = ""  # e.g. "container 'server' not found"
    uid: str = ""  # the Deployment's, to post Events about it once the ModelDeployment is gone
    # The canary Deployment: None when it does not exist (or no canary is in play).
    canary: CanaryWorkload | None = None
    route: RouteState | None = None  # httpRoute mode only


@dataclass(frozen=True)
class SetVersion:
    version: ModelVersion
    tag_env: str


@dataclass(frozen=True)
class Scale:
    replicas: int


@dataclass(frozen=True)
class SetSelector:
    service: str
    selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EnsureCanary:
    """Make the canary Deployment exist with this version and replica count, its pod
    template derived from the target's (core.canary.manifest). The target is only read."""

    version: ModelVersion
    tag_env: str
    replicas: int


@dataclass(frozen=True)
class ScaleCanary:
    """Scale the canary Deployment, if it exists."""

    replicas: int


@dataclass(frozen=True)
class DeleteCanary:
    """Delete the canary Deployment; a no-op when it is gone."""


@dataclass(frozen=True)
class SetRouteWeight:
    """Set the canary backendRef's weight to `weight` and the stable's to 100 - weight on
    the user's HTTPRoute (only those two weights; core.canary.route); `in_progress`
    labels the route for GitOps tools while a canary runs."""

    route: HTTPRouteTraffic
    weight: int
    in_progress: bool = True


@dataclass(frozen=True)
class EnsureCanaryService:
    """Make the operator-owned Service of the canary's pods exist."""

    route: HTTPRouteTraffic


@dataclass(frozen=True)
class DeleteCanaryService:
    """Delete the operator-owned canary Service; a no-op when it is gone."""

    route: HTTPRouteTraffic


RouteAction = SetRouteWeight | EnsureCanaryService | DeleteCanaryService
CanaryAction = EnsureCanary | ScaleCanary | DeleteCanary | RouteAction
Action = SetVersion | Scale | SetSelector | CanaryAction


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str
