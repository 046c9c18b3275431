"""What every part of the API shares: the group, kind and limits, the wire conventions
(camelCase, unknown fields rejected) and the field types with their validation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
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


def cel(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    out: JsonDict = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def duration(default: str, minimum: str | None, description: str) -> Any:
    """A Go-style duration string ("30s", "2m", "1h30m") with a lower bound.

    Go syntax because CEL's ``duration()`` parses it, so the API server can enforce
    the minimum at apply time.
    """
    rules: list[JsonValue] = [
        cel(f"duration(self) >= duration('{minimum}')", f"must be at least {minimum}")
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
