"""The rollouts a live object's status.history records, for `backtest --from-history`.

A history entry is a version that went live. Those the operator put live itself by
rolling back (reason "rolled back from ...") are not rollouts: the replay decides them
again, and may decide otherwise. The entry just before the first rollout in the window
is the stable version, running when the window starts; adoption itself is not a rollout.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelguard.core.api import HistoryEntry
from modelguard.core.replay.engine import Rollout

OPERATOR_REASONS = ("rolled back from ", "running when modelguard adopted it")


def rollouts_from_history(
    history: Sequence[HistoryEntry], start: datetime, end: datetime
) -> tuple[str | None, tuple[Rollout, ...]]:
    """(the stable version, the rollouts in [start, end]), oldest first."""
    entries = sorted(history, key=lambda h: h.since)
    rollouts = tuple(
        Rollout(h.version, h.since)
        for h in entries
        if start <= h.since <= end and not h.reason.startswith(OPERATOR_REASONS)
    )
    if not rollouts:
        return None, ()
    before = [h for h in entries if h.since < rollouts[0].at]
    adopted_with_it = [
        h for h in entries if h.since == rollouts[0].at and h.reason.startswith(OPERATOR_REASONS[1])
    ]
    stable = (adopted_with_it or before)[-1:]
    return (stable[0].version if stable else None), rollouts
