"""A broken environment fails fast with one clear ComponentStartError, never a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelguard_testenv import ComponentStartError, ControlPlane, PrometheusServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port with a listener on it, as when another process got there first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _assert_clear(exc: ComponentStartError, component: str, *phrases: str) -> None:
    assert exc.component == component
    assert exc.log_file is not None
    assert exc.log_file.is_file(), "the log file named in the error must exist"
    message = str(exc)
    assert component in message
    assert str(exc.log_file) in message
    for phrase in phrases:
        assert phrase in message


def _no_process_left(plane: ControlPlane) -> None:
    assert all(not proc.running for proc in plane.processes.values())


def test_missing_control_plane_binary(tmp_path: Path) -> None:
    plane = ControlPlane(bin_dir=tmp_path / "does-not-exist", workdir=tmp_path / "work")
    start = time.monotonic()
    with pytest.raises(ComponentStartError) as info:
        plane.start()
    assert time.monotonic() - start < 5
    # etcd is looked up first; the message says how to get the binaries.
    _assert_clear(info.value, "etcd", "does-not-exist", "hack/build-control-plane.sh")
    assert plane.processes == {}


def test_missing_prometheus_binary(tmp_path: Path) -> None:
    server = PrometheusServer(binary=tmp_path / "no-prometheus", workdir=tmp_path / "work")
    with pytest.raises(ComponentStartError) as info:
        server.start()
    _assert_clear(info.value, "prometheus", "no-prometheus", "MODELGUARD_PROMETHEUS_BIN")


def test_port_clash_prometheus(tmp_path: Path, occupied_port: int) -> None:
    server = PrometheusServer(port=occupied_port, workdir=tmp_path / "work")
    start = time.monotonic()
    with pytest.raises(ComponentStartError) as info:
        server.start()
    assert time.monotonic() - start < 10
    _assert_clear(info.value, "prometheus", f"127.0.0.1:{occupied_port}", "already in use")
    assert not server.running


def test_port_clash_etcd(tmp_path: Path, occupied_port: int) -> None:
    plane = ControlPlane(ports={"etcd": occupied_port}, workdir=tmp_path / "work")
    start = time.monotonic()
    with pytest.raises(ComponentStartError) as info:
        plane.start()
    assert time.monotonic() - start < 10
    _assert_clear(info.value, "etcd", f"127.0.0.1:{occupied_port}", "already in use")
    _no_process_left(plane)


def test_component_that_exits_at_start(tmp_path: Path) -> None:
    plane = ControlPlane(
        extra_args={"kube-apiserver": ["--no-such-flag=1"]}, workdir=tmp_path / "work"
    )
    start = time.monotonic()
    with pytest.raises(ComponentStartError) as info:
        plane.start()
    assert time.monotonic() - start < 30
    # The exit code and the apiserver's own complaint are in the message.
    _assert_clear(info.value, "kube-apiserver", "exited with code", "unknown flag")
    # etcd was already running: it must have been reaped too, and the logs kept.
    assert plane.processes["etcd"].pid is not None
    _no_process_left(plane)
    assert plane.kept_logs_dir is not None
    assert (plane.kept_logs_dir / "kube-apiserver.log").is_file()


def test_component_that_never_becomes_ready(tmp_path: Path) -> None:
    # A "prometheus" that runs but never serves: the wait must give up, not hang.
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\necho 'pretending to start'\nexec sleep 300\n")
    fake.chmod(0o755)
    server = PrometheusServer(binary=fake, workdir=tmp_path / "work", startup_timeout=2)
    start = time.monotonic()
    with pytest.raises(ComponentStartError) as info:
        server.start()
    assert time.monotonic() - start < 15
    _assert_clear(info.value, "prometheus", "not ready after 2s", "pretending to start")
    assert not server.running
