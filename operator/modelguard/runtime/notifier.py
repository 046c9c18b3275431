"""The notification sender: after the reconciler acted, each decision's notice goes to
its receivers from a bounded queue, by a few worker tasks, so that a receiver that
hangs or answers 500 delays nothing but its own notification (never a reconcile, never
the kill-switch lane: the reconciler only puts on the queue, and never waits).

What to send and the "exactly once across restarts" bookkeeping are the pure core's
(core.notification.outbox): the reconciler records a notice with its decision; here it
is sent with 3 retries, jittered backoff and a timeout per attempt; the outcome is kept
in memory until the next reconcile of the object (kicked at once) writes it into
status.notifications.sent. A notice the queue has no room for is dropped from memory
only: it is still pending in status, and the next reconcile offers it again.

A webhook URL is a credential (a Slack URL is the whole secret). It is read from its
Secret for each attempt, handed to aiohttp and nothing else: it is never logged, never
in an Event, the status or a metric, and no exception text (which could quote it) is
kept; failures are described by the exception's type or the HTTP status only.

Webhooks go through the proxy the environment names, as the kubernetes client's calls do
(HTTPS_PROXY for an https URL, HTTP_PROXY for http, NO_PROXY for hosts that bypass it):
an operator whose cluster reaches Slack only through an egress proxy must still notify.
aiohttp's trust_env reads them (and, as it documents, a ~/.netrc: the image has none). A
proxy's failure is described like any other, by its type: its message quotes the URL.

Outcomes wait in memory for the object's next reconcile; a deleted object has none, so
forget() lets its outcomes go (and a send still under way records none).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from modelguard.core import notification
from modelguard.core.api import (
    ModelDeploymentStatus,
    Notice,
    NotificationFormat,
    NotificationsSpec,
    OutgoingEvent,
    Receiver,
)
from modelguard.core.clock import utcnow
from modelguard.core.metadata import rollback_request
from modelguard.core.notification.payload import CLOUDEVENTS_CONTENT_TYPE, SLACK_CONTENT_TYPE
from modelguard.runtime import telemetry

log = logging.getLogger(__name__)

Key = tuple[str, str]
Sleep = Callable[[float], Awaitable[None]]
Result = Literal["Delivered", "Failed"]


class SecretReader(Protocol):
    async def read_secret_key(self, namespace: str, name: str, key: str) -> str: ...


@dataclass(frozen=True)
class Policy:
    """How hard to try. The defaults are notifications-engine's webhook service's
    (retryMax 3, retryWaitMin 1 s, retryWaitMax 5 s), with a timeout per attempt."""

    retries: int = 3
    wait_min: float = 1.0
    wait_max: float = 5.0
    timeout: float = 5.0

    def backoff(self, retry: int, draw: float) -> float:
        """Wait before retry n (0-based): exponential from wait_min, capped at wait_max,
        jittered to 50-100% so that receivers failing together are not retried in step."""
        ceiling = min(self.wait_max, self.wait_min * 2.0**retry)
        return ceiling * (0.5 + draw / 2)


@dataclass(frozen=True)
class _Job:
    key: Key
    uid: str
    notice: Notice
    receiver: Receiver


class _AttemptError(Exception):
    """One attempt failed; `retry` says whether another attempt could succeed."""

    def __init__(self, detail: str, *, retry: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry = retry


class _Unparsable:
    """spec.notifications is there and does not parse (an older CRD let it in)."""


UNPARSABLE = _Unparsable()


def _receivers(body: dict[str, Any]) -> NotificationsSpec | _Unparsable | None:
    """spec.notifications, read on its own: a kill switch engaged while some other part
    of the spec is invalid is still obeyed, and still notified. None: absent."""
    raw = (body.get("spec") or {}).get("notifications")
    if raw is None:
        return None
    try:
        return NotificationsSpec.model_validate(raw)
    except ValidationError:
        return UNPARSABLE


class Notifier:
    def __init__(
        self,
        secrets: SecretReader,
        *,
        policy: Policy = Policy(),
        queue_size: int = 256,
        workers: int = 4,
        sleep: Sleep = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._secrets = secrets
        self._policy = policy
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._workers = workers
        self._sleep = sleep
        self._draw = draw
        self._clock = clock
        self._kick: Callable[[Key], None] = lambda key: None
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        # Queued or being sent: not offered again by a later reconcile meanwhile.
        self._inflight: set[tuple[Key, str, str]] = set()
        # Outcomes not yet seen in the object's status, per object.
        self._outcomes: dict[Key, dict[tuple[str, str], notification.Outcome]] = {}

    # ------------------------------------------------------------ the reconciler's side

    def prepare(
        self,
        body: dict[str, Any],
        before: ModelDeploymentStatus,
        status: ModelDeploymentStatus,
        fresh: list[OutgoingEvent],
        now: datetime,
    ) -> ModelDeploymentStatus:
        """The status to write with a decision: its new notices recorded, and the
        outcomes known since the last write settled."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        request = rollback_request(body)
        receivers = _receivers(body)
        status = notification.record(
            receivers if isinstance(receivers, NotificationsSpec) else None,
            before,
            status,
            fresh,
            now,
            request.requested_by if request else "",
        )
        known = self._outcomes.get(key, {})
        for outcome_key, outcome in list(known.items()):
            if notification.recorded(before, outcome):
                del known[outcome_key]  # written by an earlier commit: memory can let go
        if not known:
            self._outcomes.pop(key, None)
            return status
        return notification.settle(status, known.values())

    def dispatch(self, body: dict[str, Any], status: ModelDeploymentStatus) -> None:
        """Queue what the written status still owes. Never waits: this runs on the
        reconcile path, the kill-switch lane's included."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        parsed = _receivers(body)
        if isinstance(parsed, _Unparsable):
            return  # held, not failed: sent once the block parses again
        receivers = {r.name: r for r in (parsed.receivers if parsed else [])}
        for notice, name in notification.due(status):
            job_key = (key, notice.id, name)
            if job_key in self._inflight or (notice.id, name) in self._outcomes.get(key, {}):
                continue
            receiver = receivers.get(name)
            if receiver is None:
                self._done(key, notice, name, "Failed", 0, "the receiver is no longer in the spec")
                continue
            try:
                self._queue.put_nowait(_Job(key, meta.get("uid", ""), notice, receiver))
            except asyncio.QueueFull:
                telemetry.NOTIFICATIONS_DROPPED.inc()
                log.warning(
                    "Notification queue full: %s to %s waits for the next reconcile",
                    notice.id,
                    name,
                    extra={"modeldeployment": f"{key[0]}/{key[1]}"},
                )
                continue
            self._inflight.add(job_key)

    def forget(self, key: Key) -> None:
        """The object was deleted: no reconcile will write its outcomes, so they go now,
        and a send still under way is not recorded (it is still counted). What is queued
        is still sent: its notice was due before the deletion."""
        self._outcomes.pop(key, None)
        self._inflight = {job for job in self._inflight if job[0] != key}

    def held(self) -> int:
        """Outcomes waiting in memory for their object's next reconcile (what forget frees)."""
        return sum(len(known) for known in self._outcomes.values())

    # ------------------------------------------------------------------ the workers

    def start(self, kick: Callable[[Key], None]) -> None:
        """Start the workers; `kick` asks for a reconcile of an object (to record an
        outcome in its status)."""
        self._kick = kick
        self._tasks = [
            asyncio.create_task(self._work(), name=f"notifier-{i}") for i in range(self._workers)
        ]

    async def stop(self) -> None:
        """Stop sending. What was queued stays pending in status, sent after a restart."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drain(self) -> None:
        """Wait until everything queued has an outcome (tests)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._send(job)
            except Exception:  # never lets a bug end the worker; no text: it may hold the URL
                log.error("Notification %s: unexpected failure", job.notice.id)  # noqa: TRY400 (a traceback may quote the URL)
                self._finish(job, "Failed", 0, "unexpected failure")
            finally:
                self._queue.task_done()

    async def _send(self, job: _Job) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                await self._attempt(job)
            except _AttemptError as failure:
                if failure.retry and attempts <= self._policy.retries:
                    await self._sleep(self._policy.backoff(attempts - 1, self._draw()))
                    continue
                log.warning(
                    "Notification %s to receiver %s failed after %d attempt(s): %s",
                    job.notice.id,
                    job.receiver.name,
                    attempts,
                    failure.detail,
                    extra={"modeldeployment": f"{job.key[0]}/{job.key[1]}"},
                )
                self._finish(job, "Failed", attempts, failure.detail)
                return
            self._finish(job, "Delivered", attempts, "")
            return

    async def _attempt(self, job: _Job) -> None:
        ref = job.receiver.url_secret_ref
        try:
            url = await self._secrets.read_secret_key(job.key[0], ref.name, ref.key)
        except Exception as exc:  # 403 (no Role granted), no such Secret or key
            raise _AttemptError(
                f"cannot read key {ref.key!r} of Secret {ref.name!r} ({type(exc).__name__})",
                retry=True,
            ) from None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _AttemptError(
                f"Secret {ref.name!r} key {ref.key!r} is not an http(s) URL", retry=False
            )
        body, content_type = self._payload(job)
        if self._session is None:
            # trust_env: the proxy environment (see the module's docstring).
            self._session = aiohttp.ClientSession(trust_env=True)
        try:
            async with self._session.post(
                url,
                data=body,
                headers={"Content-Type": content_type},
                timeout=aiohttp.ClientTimeout(total=self._policy.timeout),
                allow_redirects=False,
            ) as response:
                code = response.status
        except TimeoutError:
            raise _AttemptError(f"no answer within {self._policy.timeout:g}s", retry=True) from None
        except aiohttp.ClientError as exc:
            # Only the type: aiohttp's messages quote the URL or its host.
            raise _AttemptError(type(exc).__name__, retry=True) from None
        if 200 <= code < 300:
            return
        # A 4xx other than these says the request itself is wrong: trying again won't help.
        raise _AttemptError(f"HTTP {code}", retry=code >= 500 or code in (408, 429))

    @staticmethod
    def _payload(job: _Job) -> tuple[bytes, str]:
        ns, name = job.key
        if job.receiver.format is NotificationFormat.SLACK:
            payload, content_type = (
                notification.slack(job.notice, ns, name, job.uid),
                SLACK_CONTENT_TYPE,
            )
        else:
            payload = notification.cloudevent(job.notice, ns, name, job.uid)
            content_type = CLOUDEVENTS_CONTENT_TYPE
        return json.dumps(payload).encode(), content_type

    def _finish(self, job: _Job, outcome: Result, attempts: int, detail: str) -> None:
        job_key = (job.key, job.notice.id, job.receiver.name)
        if job_key not in self._inflight:  # its object was deleted meanwhile (forget)
            _count(job.notice, outcome)
            return
        self._inflight.discard(job_key)
        self._done(job.key, job.notice, job.receiver.name, outcome, attempts, detail)

    def _done(
        self, key: Key, notice: Notice, receiver: str, outcome: Result, attempts: int, detail: str
    ) -> None:
        _count(notice, outcome)
        self._outcomes.setdefault(key, {})[(notice.id, receiver)] = notification.Outcome(
            id=notice.id,
            receiver=receiver,
            outcome=outcome,
            at=self._clock(),
            attempts=attempts,
            detail=detail,
        )
        self._kick(key)


def _count(notice: Notice, outcome: Result) -> None:
    sent = outcome == "Delivered"
    counter = telemetry.NOTIFICATIONS_SENT if sent else telemetry.NOTIFICATIONS_FAILED
    counter.labels(notice.decision.value).inc()
