"""modelguard_testenv's StartStop: every harness part is a context manager the same way
(enter starts, leave stops; a failed block tells the part, which may keep its logs)."""

from __future__ import annotations

import socket
from typing import Self

import pytest

from modelguard_testenv import (
    ControlPlane,
    PrometheusServer,
    SilentServer,
    SyntheticModelExporter,
)
from modelguard_testenv._process import StartStop
from modelguard_testenv.operator_process import OperatorProcess
from modelguard_testenv.recording import VersionRecorder, Watcher


class Part(StartStop):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> Self:
        self.calls.append("start")
        return self

    def stop(self) -> None:
        self.calls.append("stop")


class KeepsLogs(Part):
    def _leave(self, *, failed: bool) -> None:
        self.calls.append(f"leave failed={failed}")


def test_entering_starts_and_leaving_stops() -> None:
    with Part() as part:
        assert part.calls == ["start"]
    assert part.calls == ["start", "stop"]


def test_a_failed_block_still_stops_and_is_told_it_failed() -> None:
    part, keeper = Part(), KeepsLogs()
    with pytest.raises(RuntimeError, match="boom"), part, keeper:
        raise RuntimeError("boom")
    assert part.calls == ["start", "stop"]
    assert keeper.calls == ["start", "leave failed=True"]
    with KeepsLogs() as fine:
        pass
    assert fine.calls == ["start", "leave failed=False"]


def test_every_harness_part_is_one() -> None:
    parts = [
        ControlPlane,
        PrometheusServer,
        SilentServer,
        SyntheticModelExporter,
        OperatorProcess,
        Watcher,
        VersionRecorder,
    ]
    assert all(issubclass(p, StartStop) for p in parts)


def test_a_silent_server_listens_inside_the_block_only() -> None:
    with SilentServer() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        port = server.port
    refused = pytest.raises(ConnectionRefusedError)
    with refused, socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
