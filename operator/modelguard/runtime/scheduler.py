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

Time comes from an injectable `clock` and the loop sleeps through an injectable `wait`,
so tests can run hours of due times and backoffs in milliseconds; the defaults are the
wall clock and a real timed wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from modelguard.runtime import telemetry

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name) of a ModelDeployment
ReconcileFn = Callable[[str, str], Awaitable[datetime | None]]
Clock = Callable[[], datetime]  # an aware UTC datetime, like the reconciler's due times
#: Waits until the event is set or the given seconds have passed, whichever comes first.
Wait = Callable[[asyncio.Event, float], Awaitable[None]]

#: The longest the loop sleeps without looking at the due times again.
_IDLE = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)


class Scheduler:
    def __init__(
        self,
        reconcile: ReconcileFn,
        concurrency: int = 16,
        max_backoff: float = 300.0,
        *,
        clock: Clock = _utcnow,
        wait: Wait = _wait,
    ) -> None:
        self._reconcile = reconcile
        self._clock = clock
        self._wait = wait
        self._limit = asyncio.Semaphore(concurrency)
        self._max_backoff = max_backoff
        self._due: dict[Key, datetime] = {}
        self._running: set[Key] = set()
        self._again: set[Key] = set()  # kicked while running: run once more right after
        self._failures: dict[Key, int] = {}
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

    # ------------------------------------------------------------- inputs

    def kick(self, key: Key) -> None:
        if key in self._running:
            self._again.add(key)
        else:
            self._due[key] = self._clock()
            self._wake.set()

    def forget(self, key: Key) -> None:
        self._due.pop(key, None)
        self._failures.pop(key, None)
        self._seen.pop(("modeldeployment", *key), None)
        self.watch(key, [])

    def watch(self, key: Key, targets: list[tuple[str, str]]) -> None:
        """Record the (kind, name) objects that `key` guards, replacing earlier ones."""
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
            self.kick(key)

    @property
    def size(self) -> int:
        return len(self._due) + len(self._running)

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
            for key in [k for k, due in self._due.items() if due <= now]:
                del self._due[key]
                self._running.add(key)
                task = asyncio.create_task(self._one(key), name=f"reconcile {key[0]}/{key[1]}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            upcoming = min(self._due.values(), default=now + timedelta(seconds=_IDLE))
            timeout = max(0.0, min((upcoming - now).total_seconds(), _IDLE))
            self._wake.clear()
            await self._wait(self._wake, timeout)

    async def _one(self, key: Key) -> None:
        next_time: datetime | None
        try:
            async with self._limit:
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
        finally:
            self._running.discard(key)
        if key in self._again:
            self._again.discard(key)
            next_time = self._clock()
        if next_time is not None:
            current = self._due.get(key)
            self._due[key] = next_time if current is None else min(current, next_time)
        self._wake.set()
