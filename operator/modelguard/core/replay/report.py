"""A replay in words: one summary line per version, and the caveats that apply."""

from __future__ import annotations

from datetime import datetime, timedelta

from modelguard.core.durations import format_duration
from modelguard.core.replay.engine import MAX_RECONCILES, Replay, VersionOutcome

CAVEATS = (
    "evaluations are step-aligned: each reads the last step at or before its time",
    "the kill switch, manual rollbacks and other human actions are not replayed",
    "a canary is replayed as in-place rollouts: its steps and traffic share are not simulated",
    "the workload is simulated: every version change rolls out at once and completely",
    "increase()/rate() extrapolate at the window's edges as they do live",
    "a series relabelled or renamed within the window reads as missing data",
)


def clock_time(when: datetime, replay: Replay) -> str:
    """10:21:30 when the replay stays within one UTC day, else 2026-11-20 10:21:30."""
    first = replay.scenario.rollouts[0].at if replay.scenario.rollouts else when
    same_day = first.date() == replay.scenario.end.date()
    return when.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")


def _counts(outcome: VersionOutcome) -> str:
    parts = [f"{n} {verdict}" for verdict, n in outcome.verdicts.items()]
    return f"{outcome.evaluations} evaluations: " + ", ".join(parts)


def summary_line(outcome: VersionOutcome, replay: Replay) -> str:
    v = outcome.version
    if outcome.quarantined:
        return (
            f"{v}, asked for again at {clock_time(outcome.live_at, replay)}, would not have "
            "been applied: it is quarantined (the rollback holds)"
        )
    if outcome.rolled_back_at is not None:
        after = format_duration(outcome.rolled_back_at - outcome.live_at)
        first = outcome.first_failed_at
        failed = f" (first Failed {clock_time(first, replay)})" if first else ""
        return (
            f"{v} would have been rolled back to {outcome.rolled_back_to} at "
            f"{clock_time(outcome.rolled_back_at, replay)}, {after} after going live{failed}; "
            + _counts(outcome)
        )
    if outcome.held_by is not None:
        return f"{v} would not have been rolled back ({outcome.held_by}); " + _counts(outcome)
    if outcome.promoted_at is not None:
        after = format_duration(outcome.promoted_at - outcome.live_at)
        return (
            f"{v} would have been promoted to known good at "
            f"{clock_time(outcome.promoted_at, replay)}, {after} after going live; "
            + _counts(outcome)
        )
    return f"{v} would not have been rolled back; " + _counts(outcome)


def summary(replay: Replay) -> list[str]:
    lines = [summary_line(o, replay) for o in replay.outcomes]
    if replay.stopped_at is not None:
        lines.append(
            f"the replay stopped at {clock_time(replay.stopped_at, replay)} after "
            f"{MAX_RECONCILES} reconciles: shorten the window or raise analysis.interval"
        )
    return lines


def inconclusive_share(replay: Replay) -> float:
    total = sum(o.evaluations for o in replay.outcomes)
    inconclusive = sum(o.verdicts.get("Inconclusive", 0) for o in replay.outcomes)
    return inconclusive / total if total else 0.0


def since(delta: timedelta) -> str:
    return "+" + format_duration(delta)
