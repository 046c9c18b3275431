"""The kill switch's audit trail: who engaged it, when, why, in which mode, and who
released it when. status.killSwitch keeps only the engaged state and is reset on
release, and Events expire after an hour, so the record lives in its own bounded list
(status.killSwitchHistory) that a release does not clear."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelguard.core.api import KILL_SWITCH_HISTORY_LIMIT, KillSwitchRecord, KillSwitchStatus


def record(
    history: Sequence[KillSwitchRecord],
    before: KillSwitchStatus,
    after: KillSwitchStatus,
    released: bool,
    requested_by: str,
    now: datetime,
) -> list[KillSwitchRecord]:
    """The history after one kill-switch step (before -> after)."""
    entries = list(history)
    if after.engaged and not before.engaged:
        entries.append(
            KillSwitchRecord(
                engaged_at=after.since or now,
                engaged_by=after.requested_by,
                reason=after.reason,
                mode=after.mode,
            )
        )
    elif released:
        if not entries or entries[-1].released_at is not None:
            # Engaged before this record existed (an upgrade): start it from the status.
            entries.append(
                KillSwitchRecord(
                    engaged_at=before.since or now,
                    engaged_by=before.requested_by,
                    reason=before.reason,
                    mode=before.mode,
                )
            )
        entries[-1] = entries[-1].model_copy(
            update={"released_at": now, "released_by": requested_by}
        )
    return entries[-KILL_SWITCH_HISTORY_LIMIT:]
