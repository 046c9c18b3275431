"""Kubernetes-convention status conditions (type, status, reason, message,
lastTransitionTime, observedGeneration), so `kubectl wait --for=condition=X` works."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Literal

from modelguard.core.api import Condition


class ConditionType(StrEnum):
    """status.conditions[].type: what `kubectl wait --for=condition=X` names."""

    READY = "Ready"
    DEGRADED = "Degraded"
    ROLLED_BACK = "RolledBack"
    KILL_SWITCH_ENGAGED = "KillSwitchEngaged"
    METRICS_AVAILABLE = "MetricsAvailable"
    INVALID_SPEC = "InvalidSpec"
    # Only while the operator runs with MODELGUARD_DRY_RUN (see core.dryrun).
    DRY_RUN = "DryRun"
    # Only once a canary ran (spec.canary): True while one is in progress.
    CANARY = "Canary"


# Short names, as the core has always spelled them.
READY = ConditionType.READY
DEGRADED = ConditionType.DEGRADED
ROLLED_BACK = ConditionType.ROLLED_BACK
KILL_SWITCH_ENGAGED = ConditionType.KILL_SWITCH_ENGAGED
METRICS_AVAILABLE = ConditionType.METRICS_AVAILABLE
INVALID_SPEC = ConditionType.INVALID_SPEC
DRY_RUN = ConditionType.DRY_RUN
CANARY = ConditionType.CANARY

# Every condition a decision always writes (DryRun is written only in dry-run mode).
ALL_TYPES = (READY, DEGRADED, ROLLED_BACK, KILL_SWITCH_ENGAGED, METRICS_AVAILABLE, INVALID_SPEC)

Status = Literal["True", "False", "Unknown"]


def set_condition(
    conditions: Sequence[Condition],
    type_: ConditionType,
    status: Status,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """Return conditions with one upserted; lastTransitionTime moves only on a change of
    status, as the API conventions require."""
    previous = get_condition(conditions, type_)
    if (
        previous is not None
        and (previous.status, previous.reason, previous.message) == (status, reason, message)
        and previous.observed_generation == generation
    ):
        # Unchanged (the usual case: every reconcile re-derives every condition): the
        # frozen condition is kept as it is instead of validating an equal new one.
        return list(conditions)
    since = previous.last_transition_time if previous and previous.status == status else now
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type_ else c for c in conditions]


def get_condition(conditions: Sequence[Condition], type_: ConditionType) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Sequence[Condition], type_: ConditionType) -> bool:
    cond = get_condition(conditions, type_)
    return cond is not None and cond.status == "True"
