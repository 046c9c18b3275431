"""A webhook receiver for the e2e tier: a real HTTP server (the stdlib's) on localhost,
where the operator process sends its notifications. It answers 200, 500, or holds the
request until told to stop ("hang"), and keeps every request that arrived and those it
accepted (answered 2xx): the ones a real receiver would have acted on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "fail", "hang"]
# Never logged by the operator, nor written anywhere: the tests grep for it.
SECRET_MARK = "s3cr3t-hook-token"


class Receiver:
    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.arrived: list[tuple[str, dict[str, Any]]] = []  # (path, body)
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.unhang = threading.Event()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}/{SECRET_MARK}"

    def bodies(self, path: str, accepted: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            return [b for p, b in (self.accepted if accepted else self.arrived) if p == path]

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "hang":
            self.unhang.clear()
        else:
            self.unhang.set()  # a held request gets its (non-2xx) answer now


@contextmanager
def serve() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            path = self.path.strip("/").split("/", 1)[0]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            mode = receiver.mode
            with receiver.lock:
                receiver.arrived.append((path, body))
            if mode == "hang":
                receiver.unhang.wait(120)
            code = 200 if mode == "ok" else 500 if mode == "fail" else 503
            try:
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                return  # the operator gave up on it (timeout, or it was killed)
            if code == 200:
                with receiver.lock:
                    receiver.accepted.append((path, body))

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.unhang.set()
        server.shutdown()
        server.server_close()
