"""Runs reconciles: at most one at a time per object, coalescing bursts of events.

Watch events (of the ModelDeployment, its Deployment, its Service) ask for a reconcile
now; a finished reconcile says when it wants to run next (the next analysis tick). A
failed reconcile is retried with exponential backoff, so a missing Deployment or an
unreachable API never becomes a hot loop. Nothing here is state that must survive a
restart: on start, kopf lists every object and each gets reconciled from its status.

The loop is supervised: `start()` runs it as a task whose end is noticed. If it ever
ends other than through `stop()` (it raised, or something cancelled it), `failure` says
so and the operator's liveness probe fails, because an operator whose scheduler is dead
still answers watch events but never acts on them again.

Two lanes. Everything that concerns the kill switch (engage, enforce, release) is kicked
`urgent` and runs in a lane of its own, with its own concurrency limit, ahead of the due
queue: evaluations against a Prometheus that hangs, or a backlog of hundreds of due
reconciles, fill only the normal lane, never this one. While kill-switch reconciles run,
the normal lane starts no new ones, and those in flight are asked to stop at their next
safe point (`interrupt`), so that nothing competes with a kill for the CPU. The normal lane
starts due reconciles in due order, and only as many as it has slots: an object waiting
for a slot is still in the queue (not a task blocked on a semaphore), so an urgent kick
can take it out of the queue and run it at once. At most one reconcile per object runs
at any time, in either lane: an urgent kick for an object whose normal reconcile is
running asks the reconciler to `interrupt` it (stop at its next safe point, its
evaluation abandoned; the reconciler never abandons a commit midway) and runs urgently
as soon as that reconcile returns.

Leadership (runtime.leadership). The inputs (kicks, watch(), changed()) always run, so a
standby's indexes stay as warm as the leader's, but only a leader starts reconciles:
`pause()` stops acting at once (reconciles in flight are cancelled, which is as safe as a
crash: every action is level-based and derivable from the status written first), and
`resume()` makes every object it knows due at once, kill switches in the kill-switch lane,
because the replica that led before may have left anything undone.

At scale. A restart lists every object at once, and so does a replica that becomes the
leader: objects with nothing under way (`at_rest`, from the handler) are then spread
over `spread` seconds by a stable per-object offset instead of all coming due in the
same second (the core's slots keep them spread afterwards: core.decision.timing), while
anything under way runs at once. Within the normal lane, reconciles asked for by an event
(a new object, a spec edit) alternate with those due by the clock, so a backlog of due
evaluations never starves a newly created object, nor the other way round. Every
reconcile's lag behind its due time is observed (modelguard_evaluation_lag_seconds).

Time comes from an injectable `clock` and the loop sleeps through an injectable `wait`,
so tests can run hours of due times and backoffs in milliseconds; the defaults are the
wall clock and a real timed wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from modelguard.core.clock import utcnow
from modelguard.core.decision import slot_phase
from modelguard.runtime import telemetry

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name) of a ModelDeployment
ReconcileFn = Callable[[str, str], Awaitable[datetime | None]]
#: Asks the running reconcile of (namespace, name) to stop at its next safe point.
InterruptFn = Callable[[str, str], None]
Clock = Callable[[], datetime]  # an aware UTC datetime, like the reconciler's due times
#: Waits until the event is set or the given seconds have passed, whichever comes first.
Wait = Callable[[asyncio.Event, float], Awaitable[None]]

#: The longest the loop sleeps without looking at the due times again.
_IDLE = 5.0


def _no_interrupt(namespace: str, name: str) -> None:
    pass


async def _wait(event: asyncio.Event, seconds: float) -> None:
    # asyncio.timeout, not wait_for: on 3.11, wait_for drops a cancellation that arrives
    # as the event is set, and stop() would then wait forever for a loop that goes on.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class Scheduler:
    def __init__(
        self,
        reconcile: ReconcileFn,
        concurrency: int = 16,
        max_backoff: float = 300.0,
        *,
        urgent_concurrency: int = 16,
        interrupt: InterruptFn = _no_interrupt,
        clock: Clock = utcnow,
        wait: Wait = _wait,
        leading: bool = True,
        spread: float = 0.0,
    ) -> None:
        self._reconcile = reconcile
        self._interrupt = interrupt
        self._clock = clock
        self._wait = wait
        self._limits = {False: concurrency, True: urgent_concurrency}  # by lane (urgent?)
        self._max_backoff = max_backoff
        # When each object is due, per lane. An object may also be in either while it
        # runs: kicked meanwhile, it runs once more right after.
        self._due: dict[Key, datetime] = {}
        self._urgent: dict[Key, datetime] = {}
        self._running: dict[Key, bool] = {}  # -> whether it runs in the urgent lane
        self._failures: dict[Key, int] = {}
        # Objects whose kill switch is in play (enabled or engaged): events on what they
        # guard are urgent, e.g. a kubectl scale that undoes an engaged switch.
        self._kill_switch: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # Which ModelDeployments guard which Deployment / Service: events on those
        # objects kick the guards (kill-switch enforcement within a watch event).
        self._watchers: dict[tuple[str, str, str], set[Key]] = {}
        self._guarding: dict[Key, set[tuple[str, str, str]]] = {}  # the reverse index
        # What each watched object last looked like where it matters (see changed()).
        self._seen: dict[tuple[str, str, str], object] = {}
        self._loop: asyncio.Task[None] | None = None  # the task of run(), once started
        self._stopping = False
        self._failure: str | None = None
        self._leading = leading  # False: a standby, which starts no reconcile
        self._spread = spread  # seconds over which listed objects at rest are spread
        self._at_rest: set[Key] = set()  # nothing under way (see the module doc)
        self._evented: set[Key] = set()  # due in the normal lane because of an event

    # ------------------------------------------------------------- inputs

    def kick(self, key: Key, *, urgent: bool = False, listed: bool = False) -> None:
        """Reconcile `key` now; `urgent`: in the kill-switch lane; `listed`: it comes from
        a (re)listing, so an object at rest is spread (see the module doc)."""
        now = self._clock()
        queue = self._urgent if urgent else self._due
        at = self._spread_time(key, now) if listed and not urgent else now
        queue[key] = min(queue.get(key, at), at)
        if not urgent and not listed:
            self._evented.add(key)
        if urgent and self._running.get(key) is False:
            self._interrupt(*key)  # its normal reconcile may be waiting for Prometheus
        self._wake.set()

    def _spread_time(self, key: Key, now: datetime) -> datetime:
        if key not in self._at_rest or self._spread <= 0:
            return now
        return now + timedelta(seconds=self._spread * slot_phase(f"{key[0]}/{key[1]}"))

    def forget(self, key: Key) -> None:
        self._at_rest.discard(key)
        self._evented.discard(key)
        self._due.pop(key, None)
        self._urgent.pop(key, None)
        self._failures.pop(key, None)
        self._seen.pop(("modeldeployment", *key), None)
        self.watch(key, [])

    def watch(
        self,
        key: Key,
        targets: list[tuple[str, str]],
        *,
        kill_switch: bool = False,
        at_rest: bool = False,
    ) -> None:
        """Record the (kind, name) objects that `key` guards, replacing earlier ones;
        `kill_switch`: its switch is enabled or engaged, so events on them are urgent;
        `at_rest`: nothing is under way (core.guarded.at_rest)."""
        if at_rest:
            self._at_rest.add(key)
        else:
            self._at_rest.discard(key)
        if kill_switch:
            self._kill_switch.add(key)
        else:
            self._kill_switch.discard(key)
        wanted = {(kind, key[0], name) for kind, name in targets}
        for target in self._guarding.pop(key, set()) - wanted:
            watchers = self._watchers.get(target)
            if watchers is not None:
                watchers.discard(key)
                if not watchers:
                    del self._watchers[target]
                    self._seen.pop(target, None)
        for target in wanted:
            self._watchers.setdefault(target, set()).add(key)
        if wanted:
            self._guarding[key] = wanted

    def changed(self, kind: str, namespace: str, name: str, look: object) -> bool:
        """Whether an object's `look` (the part of it a decision depends on, e.g. its
        generation) differs from the last one seen; remembers it. Watch events that only
        echo status updates (pods coming and going, the operator's own status writes)
        then kick nothing: under a fleet-wide kill they outnumber the real changes."""
        obj = (kind, namespace, name)
        if obj in self._seen and self._seen[obj] == look:
            return False
        self._seen[obj] = look
        return True

    def unseen(self, kind: str, namespace: str, name: str) -> None:
        self._seen.pop((kind, namespace, name), None)

    def guards_of(self, kind: str, namespace: str, name: str) -> set[Key]:
        return set(self._watchers.get((kind, namespace, name), ()))

    def kick_guards(self, kind: str, namespace: str, name: str) -> None:
        for key in self.guards_of(kind, namespace, name):
            self.kick(key, urgent=key in self._kill_switch)

    def namespaces(self) -> set[str]:
        """Every namespace with an object the scheduler knows (runtime.sweep lists them)."""
        known = self._due.keys() | self._urgent.keys() | self._running.keys()
        return {key[0] for key in known | self._guarding.keys() | self._kill_switch}

    @property
    def size(self) -> int:
        return len(self._due.keys() | self._urgent.keys() | self._running.keys())

    # ------------------------------------------------------------- leadership

    @property
    def leading(self) -> bool:
        return self._leading

    def resume(self) -> None:
        """Act: this replica became the leader. Every object it knows is due now, those
        whose kill switch is in play in the kill-switch lane: a kill engaged while nobody
        led (or one the old leader left half done) is enforced first, and at once."""
        self._leading = True
        now = self._clock()
        known = self._due.keys() | self._urgent.keys() | self._guarding.keys()
        for key in known | self._kill_switch:
            urgent = key in self._kill_switch
            queue = self._urgent if urgent else self._due
            at = now if urgent else self._spread_time(key, now)
            queue[key] = min(queue.get(key, at), at)
        log.info(
            "Leading: %d objects due now, %d with a kill switch", len(known), len(self._kill_switch)
        )
        self._wake.set()

    async def pause(self) -> None:
        """Stop acting at once: start nothing more, cancel the reconciles in flight and
        wait until they unwound. They stay known (due again on resume())."""
        self._leading = False
        running = dict(self._running)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        now = self._clock()
        for key, urgent in running.items():
            queue = self._urgent if urgent else self._due
            queue[key] = min(queue.get(key, now), now)
        log.warning("Not leading: %d reconciles in flight cancelled", len(running))

    # ------------------------------------------------------------- supervision

    def start(self) -> asyncio.Task[None]:
        """Run the loop as a task (in the running event loop) and watch how it ends."""
        if self._loop is not None:
            raise RuntimeError("the scheduler is already started")
        self._loop = asyncio.create_task(self.run(), name="modelguard scheduler")
        self._loop.add_done_callback(self._ended)
        return self._loop

    @property
    def failure(self) -> str | None:
        """Why the loop is no longer running, if it ended other than through stop()."""
        return self._failure

    def _ended(self, task: asyncio.Task[None]) -> None:
        # A done callback sees the loop's end exactly once: the one place to log it.
        if task.cancelled():
            if self._stopping:
                return  # stop() asked for it
            self._failure = "cancelled"
            log.error("The scheduler was cancelled: no reconcile will run any more")
            return
        error = task.exception()  # also marks it retrieved: no "never retrieved" warning
        self._failure = "ended" if error is None else f"died: {error!r}"
        log.error("The scheduler %s: no reconcile will run any more", self._failure, exc_info=error)

    async def stop(self) -> None:
        """Stop the loop, then cancel the reconciles in flight and wait until they unwound.

        The loop goes first so that it starts nothing new while the others are cancelled.
        Nothing here raises the loop's own end: `_ended` has already logged an unexpected
        one, and a cleanup handler that raised would only make kopf retry it after 60 s.
        A cancellation of stop() itself (kopf giving up on cleanup) still propagates.
        """
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.wait([self._loop])
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------- the loop

    async def run(self) -> None:
        while True:
            now = self._clock()
            self._start(now)
            # The next start, among what could start: with a lane full, its queue waits
            # for a reconcile to end (which wakes the loop), not for a due time.
            upcoming = now + timedelta(seconds=_IDLE)
            for urgent, queue in ((True, self._urgent), (False, self._due)):
                if self._free(urgent):
                    waiting = (due for key, due in queue.items() if key not in self._running)
                    upcoming = min(upcoming, min(waiting, default=upcoming))
            timeout = max(0.0, min((upcoming - now).total_seconds(), _IDLE))
            self._wake.clear()
            await self._wait(self._wake, timeout)

    def _free(self, urgent: bool) -> int:
        if not self._leading:
            return 0  # a standby watches, never acts
        busy = sum(1 for lane in self._running.values() if lane is urgent)
        if not urgent and len(self._running) > busy:
            # While kill-switch reconciles run, the normal lane starts nothing new: on a
            # busy operator every reconcile competes for the same CPU (and GIL), and a
            # kill is worth more than any evaluation.
            return 0
        return self._limits[urgent] - busy

    def _start(self, now: datetime) -> None:
        """Start what is due: the urgent lane first, then the normal one in due order."""
        for urgent, queue in ((True, self._urgent), (False, self._due)):
            ready = sorted(
                (due, key) for key, due in queue.items() if due <= now and key not in self._running
            )
            if not urgent:
                ready = self._fair(ready)
            for due, key in ready[: max(0, self._free(urgent))]:
                del queue[key]
                self._evented.discard(key)
                telemetry.EVALUATION_LAG.labels("start").observe((now - due).total_seconds())
                if urgent:
                    self._due.pop(key, None)  # this run is the due one too
                if urgent:
                    log.info("Reconciling %s/%s in the kill-switch lane", *key)
                    self._yield_normal()
                self._running[key] = urgent
                task = asyncio.create_task(
                    self._one(key, urgent, due), name=f"reconcile {key[0]}/{key[1]}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _fair(self, ready: list[tuple[datetime, Key]]) -> list[tuple[datetime, Key]]:
        """Event-driven and clock-driven reconciles alternate, each kind in due order."""
        evented = [item for item in ready if item[1] in self._evented]
        if not evented:
            return ready
        timed = [item for item in ready if item[1] not in self._evented]
        merged: list[tuple[datetime, Key]] = []
        for pair in zip(evented, timed, strict=False):
            merged.extend(pair)
        shorter = min(len(evented), len(timed))
        return merged + evented[shorter:] + timed[shorter:]

    def _yield_normal(self) -> None:
        """Ask every normal reconcile in flight to stop at its next safe point: they are
        started again after the kills, and meanwhile do not compete with them."""
        for key, urgent in self._running.items():
            if not urgent:
                self._interrupt(*key)

    async def _one(self, key: Key, urgent: bool, due: datetime) -> None:
        next_time: datetime | None
        queue = self._due
        try:
            next_time = await self._reconcile(*key)
            self._failures.pop(key, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(self._max_backoff, 2.0 ** min(failures, 16))
            telemetry.RECONCILE_ERRORS.inc()
            log.exception(
                "Reconcile of %s/%s failed (%d in a row); retrying in %.0fs",
                *key,
                failures,
                delay,
            )
            next_time = self._clock() + timedelta(seconds=delay)
            if urgent:
                queue = self._urgent  # a kill that failed is retried as a kill
        finally:
            del self._running[key]
            lag = (self._clock() - due).total_seconds()
            telemetry.EVALUATION_LAG.labels("done").observe(lag)
        if next_time is not None:
            # min(): a kick while it ran (due now) stays due now.
            queue[key] = min(queue.get(key, next_time), next_time)
        self._wake.set()
