"""status.canary: where the canary in progress stands (see core.canary)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from modelguard.core.api.status import ModelDeploymentStatus, ModelVersion, StatusModel


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


# status.canary is a forward reference (this module imports status): resolved here, and
# the package imports this module before anything uses ModelDeploymentStatus.
ModelDeploymentStatus.model_rebuild(_types_namespace={"CanaryStatus": CanaryStatus})
