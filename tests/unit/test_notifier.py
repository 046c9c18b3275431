"""runtime.notifier against a real local HTTP receiver (the stdlib's): delivery, retries
with jittered backoff (an injected sleep records the waits), a timeout per attempt, the
queue's bound, the outcome written into status by the next reconcile, a restart that
re-sends only what was not delivered, and a webhook URL that appears nowhere."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelguard.core.api import (
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Notice,
    OutgoingEvent,
    Receiver,
)
from modelguard.core.notification import of, record
from modelguard.runtime import telemetry
from modelguard.runtime.notifier import Notifier, Policy
from modelguard.runtime.reconciler import Reconciler
from tests.unit.fakes import Clock, FakeDeployment, FakePrometheus, FakeWorkloads

NS, NAME = "ml", "fraud"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET_PATH = "/services/T000/B000/s3cr3t-token"


class Receiving:
    """A webhook receiver: answers each POST with the next status of `answers` (the last
    one repeats), or holds it for `hang` seconds first."""

    def __init__(self) -> None:
        self.answers = [200]
        self.hang = 0.0
        self.bodies: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.lock = threading.Lock()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiving, str]]:
    state = Receiving()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.bodies.append(json.loads(body))
                state.content_types.append(self.headers["Content-Type"])
                code = state.answers.pop(0) if len(state.answers) > 1 else state.answers[0]
            if state.hang:
                threading.Event().wait(state.hang)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    server.shutdown()
    server.server_close()


def spec_raw(fmt: str = "cloudevents") -> dict[str, Any]:
    return {
        "targetRef": {"name": "fraud-scorer"},
        "killSwitch": {"enabled": True, "reason": "INC-7"},
        "notifications": {
            "receivers": [
                {"name": "oncall", "format": fmt, "urlSecretRef": {"name": "hooks", "key": "url"}}
            ]
        },
    }


def world(url: str) -> FakeWorkloads:
    kube = FakeWorkloads()
    kube.secrets[NS, "hooks"] = {"url": url}
    kube.deployments[NS, "fraud-scorer"] = FakeDeployment(
        image="reg/fraud:1.0", env={"MODEL_VERSION": "v1"}, replicas=3
    )
    kube.create_model(NS, NAME, spec_raw())
    return kube


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def notifier(kube: FakeWorkloads, sleep: Sleeps | None = None, **kw: Any) -> Notifier:
    return Notifier(kube, sleep=sleep or Sleeps(), draw=lambda: 1.0, clock=lambda: T0, **kw)


async def reconcile(kube: FakeWorkloads, n: Notifier) -> None:
    await Reconciler(kube, FakePrometheus(), Clock(T0), notifier=n).reconcile(NS, NAME)


async def decide_send_record(kube: FakeWorkloads, n: Notifier) -> None:
    """Reconcile (decide, queue), let the notifier send, reconcile (record the outcome)."""
    n.start(lambda key: None)
    try:
        await reconcile(kube, n)
        await n.drain()
        await reconcile(kube, n)
    finally:
        await n.stop()


async def test_a_kill_is_notified_after_it_acted_and_recorded_as_delivered(
    receiver: tuple[Receiving, str],
) -> None:
    state, url = receiver
    kube = world(url)
    kicks: list[tuple[str, str]] = []
    n = notifier(kube)
    n.start(kicks.append)
    try:
        await reconcile(kube, n)
        # Recorded with the decision, in the write that precedes the scale to zero.
        first = kube.status_writes[0]
        assert [x.decision.value for x in of(first).pending] == ["killSwitchEngaged"]
        assert kube.deployments[NS, "fraud-scorer"].replicas == 0
        await n.drain()
        [body] = state.bodies
        assert state.content_types == ["application/cloudevents+json"]
        assert body["type"] == "io.modelguard.killswitchengaged"
        assert body["id"] == of(first).pending[0].id
        assert body["data"]["reason"] == "INC-7"
        assert kicks == [(NS, NAME)]  # the outcome is written by the kicked reconcile
        await reconcile(kube, n)
        stored = of(kube.stored_status(NS, NAME))
        assert stored.pending == []
        assert [(s.id, s.outcome) for s in stored.sent] == [(body["id"], "Delivered")]
        # A restarted operator (a new notifier, the stored status) sends nothing again.
        again = notifier(kube)
        again.start(kicks.append)
        await reconcile(kube, again)
        await again.drain()
        await again.stop()
        assert len(state.bodies) == 1
    finally:
        await n.stop()


async def test_a_restart_before_delivery_sends_what_is_pending(
    receiver: tuple[Receiving, str],
) -> None:
    state, url = receiver
    kube = world(url)
    await reconcile(kube, notifier(kube))  # never started: "crashed" before sending
    assert of(kube.stored_status(NS, NAME)).pending
    assert state.bodies == []
    restarted = notifier(kube)
    restarted.start(lambda key: None)
    try:
        await reconcile(kube, restarted)
        await restarted.drain()
        assert [b["type"] for b in state.bodies] == ["io.modelguard.killswitchengaged"]
    finally:
        await restarted.stop()


async def test_5xx_is_retried_three_times_with_jittered_backoff_then_given_up(
    receiver: tuple[Receiving, str], caplog: pytest.LogCaptureFixture
) -> None:
    state, url = receiver
    state.answers = [500]
    kube = world(url)
    sleeps = Sleeps()
    n = notifier(kube, sleeps)
    failed = telemetry.NOTIFICATIONS_FAILED.labels("killSwitchEngaged")
    before = failed._value.get()
    caplog.set_level(logging.DEBUG)
    await decide_send_record(kube, n)
    assert len(state.bodies) == 4  # one attempt and three retries
    assert sleeps.waits == [1.0, 2.0, 4.0]  # draw=1.0: the top of each jittered window
    [outcome] = of(kube.stored_status(NS, NAME)).sent
    assert (outcome.outcome, outcome.attempts, outcome.detail) == ("Failed", 4, "HTTP 500")
    assert failed._value.get() == before + 1
    assert of(kube.stored_status(NS, NAME)).pending == []  # not retried forever
    assert "s3cr3t" not in caplog.text


async def test_a_transient_failure_is_retried_until_delivered(
    receiver: tuple[Receiving, str],
) -> None:
    state, url = receiver
    state.answers = [503, 429, 204]
    kube = world(url)
    n = notifier(kube)
    await decide_send_record(kube, n)
    [outcome] = of(kube.stored_status(NS, NAME)).sent
    assert (outcome.outcome, outcome.attempts) == ("Delivered", 3)


async def test_a_4xx_is_not_retried(receiver: tuple[Receiving, str]) -> None:
    state, url = receiver
    state.answers = [404]
    kube = world(url)
    sleeps = Sleeps()
    n = notifier(kube, sleeps)
    n.start(lambda key: None)
    try:
        await reconcile(kube, n)
        await n.drain()
    finally:
        await n.stop()
    assert len(state.bodies) == 1
    assert sleeps.waits == []


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = Policy()
    assert [policy.backoff(i, 1.0) for i in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert [policy.backoff(i, 0.0) for i in range(4)] == [0.5, 1.0, 2.0, 2.5]


async def test_a_hanging_receiver_times_out_and_the_reconcile_never_waits(
    receiver: tuple[Receiving, str], caplog: pytest.LogCaptureFixture
) -> None:
    state, url = receiver
    state.hang = 5.0
    kube = world(url)
    n = notifier(kube, policy=Policy(retries=1, timeout=0.2))
    n.start(lambda key: None)
    caplog.set_level(logging.DEBUG)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await reconcile(kube, n)
        reconciled = loop.time() - started
        assert kube.deployments[NS, "fraud-scorer"].replicas == 0
        await n.drain()
        await reconcile(kube, n)
    finally:
        await n.stop()
    # The reconcile only queued: it did not wait out even one 0.2 s attempt.
    assert reconciled < 0.2
    [outcome] = of(kube.stored_status(NS, NAME)).sent
    assert (outcome.outcome, outcome.attempts) == ("Failed", 2)
    assert outcome.detail == "no answer within 0.2s"
    assert "s3cr3t" not in caplog.text


async def test_the_webhook_url_is_never_logged_recorded_or_in_an_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unreachable (connection refused), and a Secret that holds no URL at all: the
    failures are described without the value."""
    caplog.set_level(logging.DEBUG)
    for url in (f"http://127.0.0.1:1{SECRET_PATH}", f"s3cr3t-not-a-url{SECRET_PATH}"):
        kube = world(url)
        n = notifier(kube)
        await decide_send_record(kube, n)
        stored = kube.stored_status(NS, NAME)
        [outcome] = of(stored).sent
        assert outcome.outcome == "Failed"
        assert "s3cr3t" not in json.dumps(stored.to_wire())
        assert all("s3cr3t" not in p.event.message for p in kube.posted)
    assert "s3cr3t" not in caplog.text
    assert "ClientConnectorError" in caplog.text or "ClientOSError" in caplog.text
    assert "is not an http(s) URL" in caplog.text


async def test_a_missing_secret_is_retried_then_reported_by_name_only() -> None:
    kube = world("unused")
    del kube.secrets[NS, "hooks"]
    n = notifier(kube)
    await decide_send_record(kube, n)
    [outcome] = of(kube.stored_status(NS, NAME)).sent
    assert (outcome.attempts, outcome.detail) == (
        4,
        "cannot read key 'url' of Secret 'hooks' (LookupError)",
    )


async def test_a_full_queue_drops_from_memory_only_and_the_next_reconcile_offers_it_again(
    receiver: tuple[Receiving, str],
) -> None:
    state, url = receiver
    kube = world(url)
    spec = ModelDeploymentSpec.model_validate(spec_raw())
    events = [
        OutgoingEvent(name=f"fraud.{i}", type="Warning", reason="KillSwitchEngaged")
        for i in range(3)
    ]
    status = record(
        spec.notifications, ModelDeploymentStatus(), ModelDeploymentStatus(), events, T0
    )
    body = kube.models[NS, NAME]
    dropped = telemetry.NOTIFICATIONS_DROPPED._value.get()
    n = notifier(kube, queue_size=1)
    n.dispatch(body, status)  # not started: the queue fills at one
    assert telemetry.NOTIFICATIONS_DROPPED._value.get() == dropped + 2
    n.start(lambda key: None)
    try:
        await n.drain()
        n.dispatch(body, status)  # a later reconcile: the two that were dropped
        await n.drain()
        n.dispatch(body, status)  # each one offered at most once meanwhile
        await n.drain()
    finally:
        await n.stop()
    assert sorted(b["id"] for b in state.bodies) == ["fraud.0", "fraud.1", "fraud.2"]


async def test_a_receiver_removed_from_the_spec_fails_its_pending_notices() -> None:
    kube = world("unused")
    spec = ModelDeploymentSpec.model_validate(spec_raw())
    event = OutgoingEvent(name="fraud.0", type="Warning", reason="KillSwitchEngaged")
    status = record(
        spec.notifications, ModelDeploymentStatus(), ModelDeploymentStatus(), [event], T0
    )
    kube.edit_spec(NS, NAME, {"targetRef": {"name": "fraud-scorer"}})  # no receivers now
    body = kube.models[NS, NAME]
    n = notifier(kube)
    n.dispatch(body, status)
    settled = n.prepare(body, status, status, [], T0)
    [outcome] = of(settled).sent
    assert (outcome.outcome, outcome.detail) == ("Failed", "the receiver is no longer in the spec")
    assert of(settled).pending == []


def test_receivers_default_to_every_decision() -> None:
    r = Receiver.model_validate({"name": "a", "urlSecretRef": {"name": "s", "key": "k"}})
    assert len(r.decisions) == 7  # canaryStepAdvanced and canaryAborted included
    assert Notice.model_fields["receivers"].default == []


async def test_a_kill_on_an_otherwise_invalid_spec_is_still_notified(
    receiver: tuple[Receiving, str],
) -> None:
    state, url = receiver
    kube = world(url)
    raw = spec_raw()
    raw["version"] = {}  # invalid: the kill switch is still obeyed (and told)
    kube.edit_spec(NS, NAME, raw)
    await decide_send_record(kube, notifier(kube))
    assert kube.deployments[NS, "fraud-scorer"].replicas == 0
    assert [b["type"] for b in state.bodies] == ["io.modelguard.killswitchengaged"]
    [outcome] = of(kube.stored_status(NS, NAME)).sent
    assert outcome.outcome == "Delivered"


async def test_an_unparsable_notifications_block_holds_pending_notices(
    receiver: tuple[Receiving, str],
) -> None:
    state, url = receiver
    kube = world(url)
    await reconcile(kube, notifier(kube))  # decided and recorded; not sent (not started)
    raw = spec_raw()
    raw["notifications"]["receivers"][0]["format"] = "teams"  # an older CRD let it in
    kube.edit_spec(NS, NAME, raw)
    await decide_send_record(kube, notifier(kube))
    assert state.bodies == []
    held = of(kube.stored_status(NS, NAME))
    assert [n.decision.value for n in held.pending] == ["killSwitchEngaged"]
    assert held.sent == []  # held, not failed
    kube.edit_spec(NS, NAME, spec_raw())  # fixed: sent now
    await decide_send_record(kube, notifier(kube))
    assert [b["type"] for b in state.bodies] == ["io.modelguard.killswitchengaged"]
