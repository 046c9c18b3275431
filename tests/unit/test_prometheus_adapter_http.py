"""The Prometheus adapter against small real HTTP servers on loopback: one that never
answers, one that answers HTML (a proxy's error or login page), one that answers like
Prometheus does to bad PromQL, and a closed port. Each failure must say which it was.

(Real Prometheus rejecting bad PromQL: tests/e2e/test_prometheus_adapter.py.)
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelguard.adapters.prometheus import PrometheusMetrics

HTML = (
    b"<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head>"
    b"<body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>"
)
PROMETHEUS_BAD_DATA = (
    b'{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\": '
    b'1:14: parse error: unexpected end of input"}'
)
RESULT = (
    b'{"status":"success","data":{"resultType":"vector",'
    b'"result":[{"metric":{},"value":[1,"0.5"]}]}}'
)


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 answering every GET with a fixed response, or
    never (hang=True) until the test ends."""

    def __init__(
        self, status: int = 200, body: bytes = b"", content_type: str = "", hang: bool = False
    ) -> None:
        release = threading.Event()
        self.release = release

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if hang:
                    release.wait(30)
                    return
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest's output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def _error(url: str, timeout_seconds: float = 5.0) -> str:
    metrics = PrometheusMetrics(url, timeout_seconds)
    try:
        result = await metrics.query("model_accuracy")
    finally:
        metrics.close()
    assert result.error is not None, result
    return result.error


async def test_a_hanging_server_is_a_timeout_not_unreachable() -> None:
    with Server(hang=True) as server:
        error = await _error(server.url, timeout_seconds=1)
    assert error == f"Prometheus at {server.url} timed out after 1s"


async def test_an_html_page_is_reported_as_non_json_with_its_words() -> None:
    with Server(200, HTML, "text/html; charset=utf-8") as server:
        error = await _error(server.url)
    assert error == (
        f"Prometheus at {server.url} answered with non-JSON (HTML?): HTTP 200, text/html: "
        "502 Bad Gateway 502 Bad Gateway nginx"
    )


async def test_a_proxy_error_page_is_non_json_too_not_a_python_bytes_repr() -> None:
    with Server(502, HTML, "text/html") as server:
        error = await _error(server.url)
    assert error.startswith(
        f"Prometheus at {server.url} answered with non-JSON (HTML?): HTTP 502, text/html: "
    )
    assert "b'" not in error


async def test_only_bad_promql_is_marked_as_an_invalid_query() -> None:
    """bad_data is the query's fault (the spec), other errors the server's: the core
    reports the first as InvalidSpec, the rest as missing data."""
    for status, body, invalid in (
        (400, PROMETHEUS_BAD_DATA, True),
        (422, b'{"status":"error","errorType":"execution","error":"x"}', False),
        (503, b'{"status":"error","errorType":"unavailable","error":"x"}', False),
    ):
        with Server(status, body, "application/json") as server:
            metrics = PrometheusMetrics(server.url, 5.0)
            try:
                result = await metrics.query("model_accuracy")
            finally:
                metrics.close()
        assert result.error is not None
        assert result.invalid_query is invalid, (status, result)


async def test_prometheus_error_json_gives_its_own_text() -> None:
    with Server(400, PROMETHEUS_BAD_DATA, "application/json") as server:
        error = await _error(server.url)
    assert error == (
        'bad PromQL: invalid parameter "query": 1:14: parse error: unexpected end of input'
    )
    body = b'{"status":"error","errorType":"execution","error":"many-to-many matching"}'
    with Server(422, body, "application/json") as server:
        error = await _error(server.url)
    assert error == (
        f"Prometheus at {server.url} failed the query (HTTP 422, execution): many-to-many matching"
    )


async def test_a_closed_port_is_unreachable_connection_refused(closed_url: str) -> None:
    assert await _error(closed_url) == f"Prometheus at {closed_url} unreachable: connection refused"


async def test_a_good_answer_still_parses() -> None:
    with Server(200, RESULT, "application/json") as server:
        metrics = PrometheusMetrics(server.url, 5)
        result = await metrics.query("model_accuracy")
        metrics.close()
    assert (result.value, result.series, result.error) == (0.5, 1, None)
