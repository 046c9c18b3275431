"""The mutable draft of the next status that one plan() call builds up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from modelguard.core import conditions as cond
from modelguard.core.api import (
    HISTORY_LIMIT,
    KNOWN_GOOD_LIMIT,
    QUARANTINE_LIMIT,
    Condition,
    HistoryEntry,
    ModelDeploymentStatus,
    ModelVersion,
    Outcome,
    PendingAction,
    QuarantinedVersion,
    VersionStatus,
)
from modelguard.core.decision.versions import plain
from modelguard.core.reasons import CheckReason, ConditionReason, EventReason
from modelguard.core.workload import Action, Event, SetVersion

_M = TypeVar("_M", bound=BaseModel)


def _construct(cls: type[_M], values: dict[str, Any], fields_set: set[str]) -> _M:
    """An instance of cls from every one of its fields' values, already validated.

    What model_construct() does for these models (no extra="allow", no private
    attributes, no post-init), without its per-field alias and default look-ups: those
    took ~70 us for the status's 25 fields, three times in every plan() call, which made
    them the largest single cost of a backtest (a week at 30 s is 20,000 plan() calls).
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", fields_set)
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


class WorkingStatus(ModelDeploymentStatus):
    """The status being decided, changed by plain attribute assignment.

    Every assignment is validated (strictly: no coercion) and an unknown field is
    rejected, so `draft.status.phas = ...` or a wrong type fails under mypy and at run
    time instead of silently writing nothing, as a `model_copy(update=...)` would.
    """

    model_config = ConfigDict(frozen=False, validate_assignment=True, extra="forbid", strict=True)

    @classmethod
    def of(cls, status: ModelDeploymentStatus) -> WorkingStatus:
        # No re-validation: the fields come from a validated status and are kept as is
        # (the values are frozen models, lists replaced on change, never mutated: shared).
        return _construct(cls, dict(vars(status)), set(status.model_fields_set))


@dataclass
class Draft:
    """A mutable working copy of the status for one plan() call.

    history, quarantined and known_good are kept beside the status and written into it
    only by get(): until then draft.status keeps the lists as the tick began, and rules
    that read the status (rollback_target(draft.status), is_quarantined) see those.
    """

    status: WorkingStatus
    now: datetime
    generation: int | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    quarantined: list[QuarantinedVersion] = field(default_factory=list)
    known_good: list[VersionStatus] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @classmethod
    def of(cls, status: ModelDeploymentStatus, now: datetime, generation: int | None) -> Draft:
        return cls(
            status=WorkingStatus.of(status),
            now=now,
            generation=generation,
            history=list(status.history),
            quarantined=list(status.quarantined_versions),
            known_good=list(status.known_good_versions),
        )

    def get(self) -> ModelDeploymentStatus:
        """The draft as a (frozen) status, with the lists trimmed to their limits."""
        lists = {
            "history": self.history[-HISTORY_LIMIT:],
            "quarantined_versions": self.quarantined[-QUARANTINE_LIMIT:],
            "known_good_versions": self.known_good[-KNOWN_GOOD_LIMIT:],
        }
        return _construct(
            ModelDeploymentStatus,
            {**vars(self.status), **lists},
            self.status.model_fields_set | lists.keys(),
        )

    def put(
        self,
        type_: cond.ConditionType,
        value: cond.Status,
        reason: ConditionReason | CheckReason,
        message: str = "",
    ) -> None:
        """Upsert a condition. reason is a ConditionReason, or for MetricsAvailable=False
        the reason a check was inconclusive (see evidence.missing_reason)."""
        self.set_conditions(
            cond.set_condition(
                self.status.conditions, type_, value, reason, message, self.now, self.generation
            )
        )

    def set_conditions(self, conditions: list[Condition]) -> None:
        """Assign status.conditions, unless that changes nothing: each assignment validates
        the whole list again, and most reconciles re-derive every condition unchanged
        (the list compares element by element, identity first: cheap when unchanged)."""
        if conditions != self.status.conditions:
            self.status.conditions = conditions

    def event(self, type_: Literal["Normal", "Warning"], reason: EventReason, message: str) -> None:
        self.events.append(Event(type_, reason, message))

    def close_current(self, outcome: Outcome, reason: str) -> None:
        if self.history and self.history[-1].outcome in (Outcome.LIVE, Outcome.PROMOTED):
            last = self.history[-1]
            if outcome is Outcome.SUPERSEDED and last.outcome is Outcome.PROMOTED:
                return  # a promoted version stays marked as such in the record
            self.history[-1] = last.model_copy(update={"outcome": outcome, "reason": reason})

    def _mark_served(self, previous: ModelVersion | None, version: ModelVersion) -> None:
        """A known-good version that stops serving records when (relative checks read
        their baseline as of then); one that serves again is read live again."""

        def marked(kept: VersionStatus) -> VersionStatus:
            if kept.same(version):
                return kept.model_copy(update={"served_until": None})
            if kept.same(previous):
                return kept.model_copy(update={"served_until": self.now})
            return kept

        self.known_good = [marked(kept) for kept in self.known_good]

    def go_live(
        self, version: ModelVersion, outcome: Outcome, reason: str, *, kind: str | None, env: str
    ) -> None:
        """Record `version` as running from now; with kind, also ask for the patch."""
        self._mark_served(self.status.current_version, version)
        self.history.append(
            HistoryEntry(
                version=version.name,
                image=version.image,
                model_tag=version.model_tag,
                since=self.now,
                outcome=outcome,
                reason=reason,
            )
        )
        self.status.current_version = VersionStatus.of(version, self.now)
        self.status.consecutive_failures = 0
        self.status.passing_since = None
        self.status.last_passed_with_data = None  # evidence is per version
        if kind is not None:
            self.status.pending_action = PendingAction.model_validate(
                {"kind": kind, "target": plain(version), "reason": reason, "decidedAt": self.now}
            )
            self.actions.append(SetVersion(plain(version), env))
