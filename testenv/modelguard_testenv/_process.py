"""Child-process plumbing shared by the control plane and Prometheus, and the start/stop
shape every harness part has (StartStop).

Every wait here has a deadline and every failure becomes one ``ComponentStartError`` that
names the component and its log file, so a broken environment fails a test run quickly and
says why instead of hanging it.
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

TAIL_LINES = 20


class ComponentStartError(RuntimeError):
    """A test-environment component could not be started or did not become ready.

    ``component`` is the component's name (``etcd``, ``kube-apiserver``, ``prometheus``, ...)
    and ``log_file`` is where its output went; the message repeats both and quotes the
    log's last lines so that a CI log alone is enough to diagnose the failure.
    """

    def __init__(self, component: str, reason: str, log_file: Path | None = None) -> None:
        self.component = component
        self.reason = reason
        self.log_file = log_file
        message = f"{component} failed to start: {reason}"
        if log_file is not None:
            message += f"\n  log file: {log_file}"
            tail = tail_lines(log_file, TAIL_LINES)
            if tail:
                body = "\n".join(f"    | {line}" for line in tail)
                message += f"\n  last {len(tail)} log lines:\n{body}"
        super().__init__(message)


class MissingBinaryError(ComponentStartError):
    """A binary the component needs is not installed or not built yet."""


class StartStop(abc.ABC):
    """A harness part used as ``with Part(...) as part:``: entering starts it, leaving
    stops it. The one copy of that boilerplate; a part that keeps its logs when the block
    failed (the control plane, Prometheus) overrides ``_leave``."""

    @abc.abstractmethod
    def start(self) -> Self: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave(failed=exc is not None)

    def _leave(self, *, failed: bool) -> None:
        self.stop()


def tail_lines(path: Path, count: int) -> list[str]:
    """Return the last ``count`` lines of a log file (empty if it cannot be read)."""
    try:
        with path.open("rb") as handle:
            # Logs can be large (the apiserver is chatty); read only the end.
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]


# Ports handed out by free_port() in this process. Each candidate socket is closed before the
# component binds it, so without this set two components started back to back could be given
# the same just-released port.
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """Pick an unused TCP port on 127.0.0.1."""
    with _handed_out_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free loopback port found after 100 attempts")


def port_in_use(port: int) -> bool:
    """True if something already listens on 127.0.0.1:``port``.

    SO_REUSEADDR mirrors what Go and Prometheus do when they listen, so a port whose old
    connections linger in TIME_WAIT (e.g. after a Prometheus restart) counts as free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def http_status(url: str, *, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> int:
    """GET ``url`` and return the HTTP status, or 0 if nothing answered.

    Used only as a readiness probe: any transport error means "not yet".
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        # URLError, connection refused/reset, TLS errors, timeouts: not serving yet.
        return 0


def _load_prctl() -> Callable[[int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[[int, int], int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved once in the parent: the child, between fork and exec, should only make a bare
# C call, never load libraries.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the test runner is SIGKILLed (a CI timeout), atexit never runs; the kernel then
    # kills our components instead of leaving an apiserver and etcd running forever.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


# Every process still running, so that interpreter exit reaps them even when a test
# forgot to stop its environment or the session was interrupted. Strong references on
# purpose: a forgotten, garbage-collected handle must not orphan its process.
_live: set[ManagedProcess] = set()


@atexit.register
def _reap_all() -> None:
    for process in list(_live):
        process.stop(grace=3.0)


class ManagedProcess:
    """One child process with its output in a log file.

    It runs in its own session (so Ctrl-C in a terminal reaches pytest, which then stops it
    in order) and is stopped by signalling its whole process group: SIGTERM, then SIGKILL
    after a grace period.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_file: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_file = log_file
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def fail(self, reason: str) -> ComponentStartError:
        """Build the error for this component (the caller raises it)."""
        return ComponentStartError(self.name, reason, self.log_file)

    def start(self) -> None:
        if self.running:
            return
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        binary = Path(self.argv[0])
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            reason = f"binary {binary} does not exist or is not executable"
            self._note(reason)
            raise MissingBinaryError(self.name, reason, self.log_file)
        self._log = self.log_file.open("ab")
        self._log.write(f"### {time.strftime('%H:%M:%S')} exec: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        in_main_thread = threading.current_thread() is threading.main_thread()
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
                # PDEATHSIG fires when the *thread* that forked exits, so only arm it from
                # the main thread; a worker thread may end long before the test session.
                preexec_fn=_die_with_parent if in_main_thread else None,  # noqa: PLW1509
            )
        except OSError as exc:
            self._close_log()
            raise self.fail(f"could not execute {binary}: {exc}") from exc
        _live.add(self)

    def check_alive(self) -> None:
        """Raise ComponentStartError if the process has exited."""
        if self._popen is None:
            raise self.fail("was never started")
        code = self._popen.poll()
        if code is not None:
            raise self.fail(f"exited with code {code} while starting")

    def wait_until(self, probe: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Poll ``probe`` until it returns True; return the seconds waited.

        Checks first that the process is still alive on every round, so a crash is reported
        as a crash (with its log) right away instead of as a timeout later.
        """
        start = time.monotonic()
        deadline = start + timeout
        delay = 0.05
        while True:
            self.check_alive()
            if probe():
                return time.monotonic() - start
            if time.monotonic() >= deadline:
                self.check_alive()
                raise self.fail(f"not ready after {timeout:.0f}s (waiting for {what})")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self, grace: float = 10.0) -> None:
        """Terminate, then kill after ``grace`` seconds; safe to call more than once."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            self._signal_group(popen, signal.SIGTERM)
            try:
                popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(popen, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(timeout=5.0)
        elif popen is not None:
            # Already exited: make sure nothing it spawned lingers in its group.
            self._signal_group(popen, signal.SIGKILL)
        _live.discard(self)
        self._close_log()

    @staticmethod
    def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The process leads its own session, so its group id is its pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, sig)

    def _note(self, line: str) -> None:
        # Failures found before exec (missing binary, busy port) go into the log too, so that
        # every ComponentStartError points at a log file that explains it.
        with self.log_file.open("a", encoding="utf-8") as handle:
            handle.write(f"### {time.strftime('%H:%M:%S')} {line}\n")

    def ensure_port_free(self, port: int, purpose: str) -> None:
        """Raise ComponentStartError if ``port`` is taken before this component binds it.

        Checking first gives a clear message, and it prevents a readiness probe from being
        answered by whatever squats on the port.
        """
        if port_in_use(port):
            reason = f"port 127.0.0.1:{port} ({purpose}) is already in use"
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._note(reason)
            raise self.fail(reason)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def keep_logs_from_env() -> bool:
    """``MODELGUARD_KEEP_LOGS=1`` keeps log directories even after a clean run."""
    return os.environ.get("MODELGUARD_KEEP_LOGS", "").strip().lower() in {"1", "true", "yes"}
