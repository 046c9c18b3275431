"""Which status changes are worth a write to the API server.

Every evaluation produces a new status, and most of the time the only difference from
the stored one is when the evaluation ran and by how much its values drifted. Writing
that costs the API server a PATCH and every watcher of the object an event, once per
object per interval: at a thousand objects, hundreds of writes a minute that tell nobody
anything. So a status is written when it changed in a way a person or a decision depends
on, and otherwise only once the stored evaluation time is `refresh` old.

Volatile, i.e. written at the bounded rate only: lastEvaluation.time, lastPassedWithData
once set, and in each check result its value, baseline, samples and the proportion
figures while they stay within `tolerance` (relative) of the stored ones, plus the parts
that merely describe those numbers (the message, baselineAt). Everything else is
significant: a verdict or a reason, a check that appears or goes, the version judged,
counters (consecutiveFailures, the canary's), phase, conditions, pending actions and
Events, the kill switch, notifications. A decision is never held back by this rule: the
plan that decides acts from the status it returned, and whatever it recorded for the
actions (a pending action, Events) is significant.
"""

from __future__ import annotations

from datetime import timedelta

from modelguard.core.api import CheckResult, ModelDeploymentStatus
from modelguard.core.api.status import Evaluation, ProportionResult

#: Default relative tolerance on check figures (1%).
DEFAULT_TOLERANCE = 0.01
#: Default bound on the age of the stored evaluation time (see the module doc).
DEFAULT_REFRESH = timedelta(minutes=5)


def significant(
    stored: ModelDeploymentStatus,
    new: ModelDeploymentStatus,
    *,
    refresh: timedelta = DEFAULT_REFRESH,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether `new` must be written over `stored` (the status as the API server has it)."""
    if new == stored:
        return False
    if _masked(new, stored, tolerance) != stored:
        return True  # something beyond the volatile fields, or a figure beyond tolerance
    # Only volatile fields moved: refresh them once the stored time is `refresh` old.
    return _age(stored.last_evaluation, new.last_evaluation) >= refresh


def _age(stored: Evaluation | None, new: Evaluation | None) -> timedelta:
    if stored is None or new is None:
        return timedelta.max  # unreachable after _masked; written, to be safe
    return new.time - stored.time


def _masked(
    new: ModelDeploymentStatus, stored: ModelDeploymentStatus, tolerance: float
) -> ModelDeploymentStatus:
    """`new` with each volatile field that may be skipped set back to the stored value."""
    update: dict[str, object] = {}
    if new.last_passed_with_data is not None and stored.last_passed_with_data is not None:
        update["last_passed_with_data"] = stored.last_passed_with_data
    evaluation = _masked_evaluation(new.last_evaluation, stored.last_evaluation, tolerance)
    if evaluation is not None:
        update["last_evaluation"] = evaluation
    return new.model_copy(update=update) if update else new


def _masked_evaluation(
    new: Evaluation | None, stored: Evaluation | None, tolerance: float
) -> Evaluation | None:
    """The new evaluation at the stored time with the stored figures, if it differs from
    the stored one only in volatile ways; else None (it is significant as it is)."""
    if new is None or stored is None:
        return None
    if (new.version, new.verdict, len(new.checks)) != (
        stored.version,
        stored.verdict,
        len(stored.checks),
    ):
        return None
    checks: list[CheckResult] = []
    for fresh, old in zip(new.checks, stored.checks, strict=True):
        check = _masked_check(fresh, old, tolerance)
        if check is None:
            return None
        checks.append(check)
    return new.model_copy(update={"time": stored.time, "checks": checks})


_CHECK_FIGURES = ("value", "baseline", "samples")
_PROPORTION_FIGURES = (
    "successes",
    "total",
    "stable_successes",
    "stable_total",
    "estimate",
    "low",
    "high",
    "samples_needed",
    "stable_samples_needed",
)


def _masked_check(new: CheckResult, stored: CheckResult, tolerance: float) -> CheckResult | None:
    if not all(close(getattr(new, f), getattr(stored, f), tolerance) for f in _CHECK_FIGURES):
        return None
    proportion = new.proportion
    if new.proportion is not None or stored.proportion is not None:
        proportion = _masked_proportion(new.proportion, stored.proportion, tolerance)
        if proportion is None:
            return None
    return new.model_copy(
        update={
            **{f: getattr(stored, f) for f in _CHECK_FIGURES},
            "message": stored.message,
            "baseline_at": stored.baseline_at,
            "proportion": proportion,
        }
    )


def _masked_proportion(
    new: ProportionResult | None, stored: ProportionResult | None, tolerance: float
) -> ProportionResult | None:
    if new is None or stored is None or new.test != stored.test:
        return None
    if not all(close(getattr(new, f), getattr(stored, f), tolerance) for f in _PROPORTION_FIGURES):
        return None
    return stored


def close(a: float | None, b: float | None, tolerance: float) -> bool:
    """Equal, or both numbers within `tolerance` of the larger magnitude. A number that
    appears or goes (None on one side) is a change, as is a crossing of zero's sign."""
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    if (a < 0) != (b < 0):
        return False
    return abs(a - b) <= tolerance * max(abs(a), abs(b))
