"""A server that accepts TCP connections and never answers: the worst Prometheus.

Refused connections and fast errors are easy on an operator; a Prometheus stuck behind
a load balancer, or a process frozen in a GC pause, accepts the connection and then
says nothing, so every query runs out its full timeout. Point a ModelDeployment's
``analysis.prometheus.url`` at ``url`` to get exactly that.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Self

from modelguard_testenv._process import StartStop


class SilentServer(StartStop):
    """Listens on 127.0.0.1 (a free port), accepts every connection, reads and drops
    what arrives, and never writes a byte. ``accepted`` counts connections so far."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.accepted = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent server", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        # close() alone does not wake an accept() blocked in another thread on Linux:
        # the socket would keep listening until the next connection. shutdown() does.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            for conn in self._open:
                conn.close()
            self._open.clear()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            # Kept open (never answered) until the client gives up or stop() is called;
            # what the client sends stays unread in the socket buffer.
            with self._lock:
                self._open = [c for c in self._open if c.fileno() != -1]
                self._open.append(conn)
                self.accepted += 1
