"""What plan() is given besides spec and status (Observation) and what it returns (Plan)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelguard.core.api import CheckResult, ModelDeploymentStatus, RollbackRequest
from modelguard.core.workload import Action, Event, Workload

# A reconcile that acted looks again at once to confirm (observe, plan, act); this
# bounds that loop. The replay engine (core.replay) loops the same way.
MAX_PASSES = 4


@dataclass(frozen=True)
class Observation:
    workload: Workload
    requested_by: str = ""
    rollback_request: RollbackRequest | None = None
    evaluation: Sequence[CheckResult] | None = None  # taken this tick, if one was due
    dry_run: bool = False  # nothing is written to the workload (core.dryrun)


@dataclass(frozen=True)
class Plan:
    status: ModelDeploymentStatus
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
