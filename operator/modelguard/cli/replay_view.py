"""How a replay reads: the timeline table, the summary, the sweep table, JSON.

A week at a 30 s step is twenty thousand evaluations, so the table collapses runs: an
evaluation that reads like the one before it (same version, same verdict for every
check, nothing decided) is counted, not printed, and the run is closed by a line
saying how many there were. --full prints every evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelguard.cli.views import NONE, number, table
from modelguard.core.api import CheckResult
from modelguard.core.replay import Replay, Step
from modelguard.core.replay.report import CAVEATS, clock_time, inconclusive_share, since, summary
from modelguard.core.rollout import ROLLOUT_CHECK

HEADERS = (
    "TIME",
    "SINCE LIVE",
    "VERSION",
    "CHECK",
    "VALUE",
    "BASELINE",
    "SAMPLES",
    "CHECK VERDICT",
    "VERDICT",
    "CONSEC",
    "DECISION",
)


def _shown(step: Step) -> list[CheckResult]:
    # The simulated workload always completes its rollout: the built-in check would only
    # repeat "Passed" (it is in the JSON output).
    return [c for c in step.checks if c.name != ROLLOUT_CHECK] or list(step.checks)


def _signature(step: Step) -> tuple[Any, ...]:
    return (step.version, step.verdict, tuple((c.name, c.verdict, c.reason) for c in step.checks))


def _rows(step: Step, replay: Replay) -> list[list[str]]:
    rows = []
    for i, check in enumerate(_shown(step)):
        first = i == 0
        rows.append(
            [
                clock_time(step.time, replay) if first else "",
                since(step.since_live) if first else "",
                step.version if first else "",
                check.name,
                number(check.value) if check.value is not None else NONE,
                number(check.baseline) if check.baseline is not None else NONE,
                number(check.samples) if check.samples is not None else NONE,
                check.verdict.value + (f" ({check.reason})" if check.reason else ""),
                step.verdict.value if first else "",
                str(step.consecutive_failures) if first else "",
                step.decision if first else "",
            ]
        )
    return rows


def timeline(replay: Replay, *, full: bool = False) -> str:
    rows: list[list[str]] = []
    # (row index, line) said after that many table rows: a collapsed run.
    notes: list[tuple[int, str]] = []
    count, last, previous = 0, None, None

    def close() -> None:
        if count and last is not None:
            notes.append(
                (len(rows), f"   ... {count} more like this, until {clock_time(last.time, replay)}")
            )

    for step in replay.steps:
        quiet = step.decision == NONE
        if not full and quiet and previous is not None and _signature(step) == _signature(previous):
            count, last = count + 1, step
            continue
        close()
        count, last = 0, None
        rows.extend(_rows(step, replay))
        previous = step
    close()
    if not rows:
        return "(no evaluation in the window)"
    lines = table(HEADERS, rows).split("\n")
    for index, note in reversed(notes):
        lines.insert(index + 1, note)  # +1: the header line
    return "\n".join(lines)


def text(replay: Replay, *, full: bool = False, caveats: Sequence[str] = CAVEATS) -> str:
    parts = [timeline(replay, full=full), "", *summary(replay)]
    if caveats:
        parts += ["", "Caveats:", *(f"- {c}" for c in caveats)]
    return "\n".join(parts)


def _check_json(check: CheckResult) -> dict[str, Any]:
    return check.model_dump(mode="json", by_alias=True, exclude_none=True)


def as_json(replay: Replay, caveats: Sequence[str] = CAVEATS) -> dict[str, Any]:
    return {
        "summary": summary(replay),
        "outcomes": [
            {
                "version": o.version,
                "liveAt": o.live_at.isoformat(),
                "evaluations": o.evaluations,
                "verdicts": o.verdicts,
                "rolledBackAt": o.rolled_back_at.isoformat() if o.rolled_back_at else None,
                "rolledBackTo": o.rolled_back_to,
                "secondsToRollback": (
                    o.time_to_rollback.total_seconds() if o.time_to_rollback else None
                ),
                "promotedAt": o.promoted_at.isoformat() if o.promoted_at else None,
                "firstFailedAt": o.first_failed_at.isoformat() if o.first_failed_at else None,
                "heldBy": o.held_by,
            }
            for o in replay.outcomes
        ],
        "timeline": [
            {
                "time": s.time.isoformat(),
                "secondsSinceLive": s.since_live.total_seconds(),
                "version": s.version,
                "verdict": s.verdict.value,
                "consecutiveFailures": s.consecutive_failures,
                "decision": s.decision,
                "events": [{"reason": e.reason, "message": e.message} for e in s.events],
                "checks": [_check_json(c) for c in s.checks],
            }
            for s in replay.steps
        ],
        "caveats": list(caveats),
    }


SWEEP_HEADERS = ("VARIANT", "ROLLED BACK", "AT", "AFTER", "FALSE ROLLBACKS", "INCONCLUSIVE")


def sweep_table(variants: Sequence[tuple[str, Replay]], healthy: Sequence[str] = ()) -> str:
    """One row per policy variant: which versions it rolls back and when, how many of
    them were healthy by the user's word (--healthy), and the share of Inconclusive."""
    rows = []
    for label, replay in variants:
        rolled = [o for o in replay.outcomes if o.rolled_back_at is not None]
        false = sum(1 for o in rolled if o.version in healthy) if healthy else None
        rows.append(
            [
                label,
                ", ".join(o.version for o in rolled) or "none",
                ", ".join(clock_time(o.rolled_back_at, replay) for o in rolled if o.rolled_back_at)
                or NONE,
                ", ".join(since(o.time_to_rollback) for o in rolled if o.time_to_rollback) or NONE,
                NONE if false is None else str(false),
                f"{inconclusive_share(replay):.0%}",
            ]
        )
    return table(SWEEP_HEADERS, rows)
