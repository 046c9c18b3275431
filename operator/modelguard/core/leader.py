"""Leader election on a Lease: what to write, and whether we lead, from the Lease's fields.

Pure: the runtime reads and writes the Lease (core.ports.Leases) and passes the times in.
Two clocks, on purpose. The Lease's renewTime/acquireTime are wall-clock stamps for people
(`kubectl get lease -o yaml`); every decision is measured on the caller's *monotonic*
clock (`now`, in seconds), as client-go does, so that skew between nodes' wall clocks never
decides who leads.

The rules, with client-go's timings (lease 15 s, renew deadline 10 s, retry 2 s):
- The holder renews every retry period and leads while its last successful renewal
  *started* less than renew deadline ago; after that it must stop acting at once, whether
  or not anyone else has taken over.
- A standby takes the Lease when its holder is empty (released) or when the record has not
  changed for lease duration. It measures that from when it first saw the current record,
  minus one retry period: it polls every retry period, so the holder wrote the record at
  most that long before it was seen. This makes a takeover come at most lease duration
  after the holder's last renewal (client-go's "from when it was seen" adds up to one more
  retry period). It is still safe: the holder stopped acting at most renew deadline after
  that renewal, lease - renew deadline - retry = 3 s earlier, and the Lease calls time
  out well within those 3 s (a slow read would otherwise make "seen" late).
- Every write carries the resourceVersion it was decided from (optimistic concurrency), so
  of two standbys that decide to take the same expired Lease, one wins and the other gets a
  conflict and waits.
- A graceful shutdown releases the Lease (no holder, lease duration 1 s) so that a standby
  takes it at its next poll instead of waiting out the lease.

No fencing here: client-go says it too, an elector alone "does not guarantee that only one
client is acting as a leader". The reconciler's status writes are conditional on the
object's resourceVersion, which is what makes a stale leader's decision fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Timings:
    """Seconds. client-go's defaults; renew deadline < lease duration, retry < renew deadline."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, "
                f"not {self.retry_period} / {self.renew_deadline} / {self.lease_duration}"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """The fields of a coordination.k8s.io/v1 Lease that election uses."""

    holder: str  # holderIdentity; "" when free (released, or never held)
    duration: float  # leaseDurationSeconds
    acquired: datetime | None = None  # acquireTime: when the holder took it
    renewed: datetime | None = None  # renewTime: the holder's last renewal
    transitions: int = 0  # leaseTransitions: how often it changed hands
    version: str | None = None  # metadata.resourceVersion; None: not stored yet


class Step(StrEnum):
    CREATE = "create"  # no Lease yet: create it, holding it
    ACQUIRE = "acquire"  # free or expired: take it over
    RENEW = "renew"  # ours: renew it
    WAIT = "wait"  # someone else holds it and it has not expired


@dataclass(frozen=True)
class Move:
    step: Step
    write: LeaseRecord | None  # what to write (with the version it was decided from)


class Election:
    """One replica's view of the election. Mutable: it remembers the last record it saw
    and when, and when its own last successful renewal started."""

    def __init__(self, identity: str, timings: Timings | None = None) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        self.identity = identity
        self.timings = timings or Timings()
        self._seen: LeaseRecord | None = None
        self._seen_at = -math.inf  # monotonic, already moved back by one retry period
        self._renewed_at: float | None = None  # start of our last successful write

    # ------------------------------------------------------------- decisions

    def decide(self, current: LeaseRecord | None, now: float, wall: datetime) -> Move:
        """What to do about the Lease as just read (None: it does not exist)."""
        if current is None:
            self._lost()
            record = LeaseRecord(self.identity, self.timings.lease_duration, wall, wall)
            return Move(Step.CREATE, record)
        self._observe(current, now)
        if current.holder == self.identity:
            # Ours (also after a restart under the same identity, e.g. a container restarted
            # in its pod: the process that held it is gone, nobody else took it).
            renewal = replace(current, renewed=wall, duration=self.timings.lease_duration)
            return Move(Step.RENEW, renewal)
        self._lost()  # someone else holds it (or it is free): whatever we thought, we do not
        if current.holder and now < self._seen_at + current.duration:
            return Move(Step.WAIT, None)
        taken = replace(
            current,
            holder=self.identity,
            duration=self.timings.lease_duration,
            acquired=wall,
            renewed=wall,
            transitions=current.transitions + 1,
        )
        return Move(Step.ACQUIRE, taken)

    def wrote(self, record: LeaseRecord, started: float) -> None:
        """A write of ours succeeded: we lead, counted from when the write `started`
        (before the server stored it: the holder errs towards stopping early)."""
        self._seen, self._seen_at = record, started
        self._renewed_at = started

    def leading(self, now: float) -> bool:
        return self._renewed_at is not None and now < self._renewed_at + self.timings.renew_deadline

    def deadline(self, now: float) -> float | None:
        """The monotonic time at which we stop leading unless we renew; None when we do not
        lead at `now` (a deadline already past is no budget for the next call)."""
        if not self.leading(now):
            return None
        assert self._renewed_at is not None
        return self._renewed_at + self.timings.renew_deadline

    def next_attempt(self, now: float) -> float:
        """Seconds until the next read of the Lease: the retry period, or sooner when the
        record we wait on expires (or our renew deadline passes) before that. Never 0
        for something already past: that attempt was just made, and failed."""
        wait = self.timings.retry_period
        moments = [self.deadline(now)]
        if not self.leading(now) and self._seen is not None and self._seen.holder:
            moments.append(self._seen_at + self._seen.duration)
        for moment in moments:
            if moment is not None and moment > now:
                wait = min(wait, moment - now)
        return wait

    def release(self, current: LeaseRecord | None, wall: datetime) -> LeaseRecord | None:
        """Stop leading; the record that hands the Lease over (None: not ours to release).

        The caller stops acting *before* writing it: once it is stored, a standby may
        take over within a retry period."""
        self._lost()
        if current is None or current.holder != self.identity:
            return None
        return replace(current, holder="", duration=1.0, renewed=wall)

    # ------------------------------------------------------------- internals

    def _observe(self, current: LeaseRecord, now: float) -> None:
        # Any change counts as a sign of life, the version included: every write bumps it,
        # even one within the wall clock's resolution. (A stranger's write, say a label,
        # only makes a standby wait longer: the safe side.)
        if self._seen != current:
            self._seen = current
            self._seen_at = now - self.timings.retry_period

    def _lost(self) -> None:
        self._renewed_at = None
