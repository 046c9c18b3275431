"""This replica's part in the leader election: the loop that reads and writes the Lease.

The decisions are core.leader's; this runs them against the Lease port every retry period
and turns their outcome into acting or not: `on_lead` when the Lease is won (the scheduler
resumes), `on_lose` the moment it is not renewed in time (the scheduler pauses, cancelling
what is in flight). "In time" is measured on the monotonic clock, and every Lease call is
bounded by what is left until the renew deadline, so a hung API server cannot keep a
replica acting past it. `leading()` is the same judgement made on the spot: the reconciler
asks it right before it writes or acts, which also covers a process that was frozen
(SIGSTOP, a stalled VM) and resumed after its deadline, before this loop ran again.

A replica that lost the Lease stays up as a standby and competes again (rather than
exiting): after an API-server outage every replica loses it, and a restart of each would
only add crash-loop backoff to the recovery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from modelguard.core.clock import utcnow
from modelguard.core.leader import Election, Step
from modelguard.core.ports import ConflictError, Leases
from modelguard.runtime import telemetry

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]
WallClock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class Leadership:
    def __init__(
        self,
        leases: Leases,
        election: Election,
        *,
        on_lead: Callable[[], None],
        on_lose: Callable[[], Awaitable[None]],
        clock: Monotonic = time.monotonic,
        wall: WallClock = utcnow,
        sleep: Sleep = asyncio.sleep,
        failure_retry: float = 0.5,
    ) -> None:
        """failure_retry: how soon to try again after a Lease call failed (not after a
        conflict or a wait). Sooner than the retry period: after an API-server outage
        every replica has lost the Lease, and the first to read it back leads again;
        until one does, a kill patched as the server came back waits. Retrying against a
        server that refuses connections costs nothing."""
        self._leases = leases
        self._election = election
        self._on_lead = on_lead
        self._on_lose = on_lose
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._failure_retry = failure_retry
        self._failed = False  # the last attempt failed (an error, a timeout)
        self._acting = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.failure: str | None = None  # why the loop ended, if not through stop()
        telemetry.LEADER.set(0)

    @property
    def identity(self) -> str:
        return self._election.identity

    def leading(self) -> bool:
        """Whether this replica may act right now: it won the Lease and its last renewal
        is younger than the renew deadline (judged now, not at the loop's last turn)."""
        return self._acting and self._election.leading(self._clock())

    # ------------------------------------------------------------- supervision

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="modelguard leader election")
        self._task.add_done_callback(self._ended)
        return self._task

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            if not self._stopping:
                self.failure = "cancelled"
        else:
            error = task.exception()
            self.failure = "ended" if error is None else f"died: {error!r}"
        if self.failure is not None:
            log.error("The leader election %s: this replica will never lead", self.failure)

    async def stop(self) -> None:
        """Stop competing and hand the Lease over. The caller has stopped acting first
        (the scheduler is stopped): once released, a standby may lead within a retry
        period, so nothing of ours may still be writing."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        self._acting = False
        telemetry.LEADER.set(0)
        try:
            async with asyncio.timeout(self._election.timings.renew_deadline):
                current = await self._leases.get()
                released = self._election.release(current, self._wall())
                if released is not None:
                    await self._leases.update(released)
                    log.info("Released the leader Lease", extra={"identity": self.identity})
        except Exception as exc:
            # Best effort. Not released: the standbys take over when it expires instead.
            log.warning("The leader Lease was not released: %r", exc)

    # ------------------------------------------------------------- the loop

    async def run(self) -> None:
        while True:
            await self._attempt()
            await self._settle()
            wait = self._election.next_attempt(self._clock())
            await self._sleep(min(wait, self._failure_retry) if self._failed else wait)

    async def _attempt(self) -> None:
        """Read the Lease and write what core.leader decides, within the time left; on a
        conflict (another replica wrote it since it was read) once more from a fresh read."""
        timings = self._election.timings
        now = self._clock()
        deadline = self._election.deadline(now)
        # While leading, no longer than the deadline: the loss must be noticed on time.
        budget = timings.retry_period if deadline is None else deadline - now
        self._failed = True
        try:
            async with asyncio.timeout(max(budget, 0.0)):
                for attempt in (1, 2):
                    try:
                        await self._read_and_write()
                    except ConflictError:
                        # It renewed, or won a race to take over: the fresh read says.
                        log.info("Leader Lease changed under %s (%d)", self.identity, attempt)
                    else:
                        self._failed = False
                        return
                self._failed = False  # lost two races: the Lease is alive, not failing
        except TimeoutError:
            log.warning("Leader Lease call timed out after %.1fs", budget)
        except Exception:
            log.warning("Leader Lease call failed", exc_info=True)

    async def _read_and_write(self) -> None:
        current = await self._leases.get()
        # The end of the read, not its start: the record is at least that old, so a slow
        # read can only make a standby wait longer, never less.
        move = self._election.decide(current, self._clock(), self._wall())
        if move.write is not None:
            started = self._clock()
            write = self._leases.create if move.step is Step.CREATE else self._leases.update
            self._election.wrote(await write(move.write), started)

    async def _settle(self) -> None:
        leading = self._election.leading(self._clock())
        if leading and not self._acting:
            self._acting = True
            telemetry.LEADER.set(1)
            log.info("Leading: this replica acts", extra={"identity": self.identity})
            self._on_lead()
        elif not leading and self._acting:
            self._acting = False
            telemetry.LEADER.set(0)
            # Per-object series are the leader's to report: a former leader's would go
            # stale (a release it never saw would still read "engaged" here, a rollback
            # the new leader resolved would keep ModelGuardRolledBack firing).
            telemetry.forget_all()
            log.warning(
                "Lost the leader Lease (not renewed in time): stopping at once",
                extra={"identity": self.identity},
            )
            await self._on_lose()
