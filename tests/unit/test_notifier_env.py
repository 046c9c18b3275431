"""runtime.notifier and its surroundings: webhooks through the proxy the environment
names (as the kubernetes client's calls go), with the URL still nowhere in the logs, and
the outcomes of a deleted object let go (Notifier.forget)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelguard.core.api import ModelDeploymentStatus
from modelguard.core.notification import of
from modelguard.runtime import telemetry
from tests.unit.test_notifier import (
    NAME,
    NS,
    SECRET_PATH,
    T0,
    decide_send_record,
    notifier,
    reconcile,
    world,
)

HOOK = f"hooks.example.invalid{SECRET_PATH}"  # resolvable by no one: only a proxy gets there


class Server:
    """A stand-in for an HTTP proxy or a webhook receiver: records each request line
    (a proxied POST names the whole URL, CONNECT names host:port), answers a POST with
    200 (after `hang` seconds) and refuses a CONNECT with 403."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.hang = 0.0
        self.arrived = threading.Event()  # a POST came
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.seen.append(("POST", self.path))
                outer.arrived.set()
                threading.Event().wait(outer.hang)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_CONNECT(self) -> None:
                outer.seen.append(("CONNECT", self.path))
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def serving() -> Iterator[Server]:
    server = Server()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


proxy = pytest.fixture(serving, name="proxy")
direct = pytest.fixture(serving, name="direct")  # a receiver reached without the proxy


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the proxy variables it means; none come from the machine."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


async def deliver(url: str) -> ModelDeploymentStatus:
    """Decide a kill, send its notice, and reconcile again to record the outcome."""
    kube = world(url)
    await decide_send_record(kube, notifier(kube))
    return kube.stored_status(NS, NAME)


async def test_an_http_webhook_goes_through_http_proxy(
    proxy: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    caplog.set_level(logging.DEBUG)
    stored = await deliver(f"http://{HOOK}")
    assert proxy.seen == [("POST", f"http://{HOOK}")]
    [outcome] = of(stored).sent
    assert outcome.outcome == "Delivered"
    assert "s3cr3t" not in caplog.text


async def test_an_https_webhook_tunnels_through_https_proxy_and_its_failure_hides_the_url(
    proxy: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    caplog.set_level(logging.DEBUG)
    stored = await deliver(f"https://{HOOK}")
    # The proxy was asked for a tunnel to the webhook's host on every attempt, and refused.
    assert proxy.seen == [("CONNECT", "hooks.example.invalid:443")] * 4
    [outcome] = of(stored).sent
    assert (outcome.outcome, outcome.detail) == ("Failed", "ClientHttpProxyError")
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in stored.model_dump_json()


async def test_no_proxy_names_the_hosts_that_bypass_it(
    proxy: Server, direct: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    [outcome] = of(await deliver(f"{direct.url}{SECRET_PATH}")).sent
    assert outcome.outcome == "Delivered"
    assert (proxy.seen, direct.seen) == ([], [("POST", SECRET_PATH)])


async def test_a_deleted_objects_outcomes_are_let_go(direct: Server) -> None:
    kube = world(f"{direct.url}{SECRET_PATH}")
    n = notifier(kube)
    n.start(lambda key: None)
    try:
        await reconcile(kube, n)
        await n.drain()
    finally:
        await n.stop()
    assert n.held() == 1  # delivered; waits for a reconcile that a deleted object never gets
    n.forget((NS, NAME))
    assert n.held() == 0
    fresh = ModelDeploymentStatus()
    assert of(n.prepare(kube.models[NS, NAME], fresh, fresh, [], T0)).sent == []


async def test_a_send_under_way_when_its_object_is_deleted_is_counted_not_kept(
    direct: Server,
) -> None:
    direct.hang = 0.3
    kube = world(f"{direct.url}{SECRET_PATH}")
    kicks: list[tuple[str, str]] = []
    n = notifier(kube)
    delivered = telemetry.NOTIFICATIONS_SENT.labels("killSwitchEngaged")
    before = delivered._value.get()
    n.start(kicks.append)
    try:
        await reconcile(kube, n)
        assert await asyncio.to_thread(direct.arrived.wait, 5)  # the POST is under way
        n.forget((NS, NAME))
        await n.drain()
    finally:
        await n.stop()
    assert delivered._value.get() == before + 1
    assert kicks == []  # no reconcile asked for: nothing to write
    assert n.held() == 0
