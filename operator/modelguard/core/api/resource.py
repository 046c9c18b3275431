"""A whole ModelDeployment object as read from the API server."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelguard.core.api.base import GROUP, VERSION
from modelguard.core.api.spec import ModelDeploymentSpec
from modelguard.core.api.status import ModelDeploymentStatus


class ModelDeployment(BaseModel):
    """A whole object as read from the API server (metadata kept loosely)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    api_version: str = Field(default=f"{GROUP}/{VERSION}", alias="apiVersion")
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, Any] = {}
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = ModelDeploymentStatus()
