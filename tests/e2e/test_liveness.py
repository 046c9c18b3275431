"""End-to-end: the operator's liveness follows its scheduler. A real operator process whose
scheduler task is killed (through the MODELGUARD_TEST_HOOKS signal hook) answers /healthz
with a failure within one probe period, stays failing, and still shuts down cleanly."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request

import pytest

from modelguard_testenv.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

HOOKS = {"MODELGUARD_TEST_HOOKS": "1"}
# kopf keeps a passing probe result for 10 s (kopf/_core/engines/probing.py): the longest
# a dead scheduler can still look healthy. 3 s more for a loaded machine.
PROBE_PERIOD = 10.0
FAIL_WITHIN = PROBE_PERIOD + 3.0


def healthz(operator: OperatorProcess) -> str:
    return f"http://127.0.0.1:{operator.health_port}/healthz"


def http_status(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.parametrize("operator", [HOOKS], indirect=True)
def test_a_dead_scheduler_fails_liveness_within_one_probe_period(
    operator: OperatorProcess,
) -> None:
    url = healthz(operator)
    # A fresh passing result right before the kill: the worst case for kopf's cache.
    with urllib.request.urlopen(url, timeout=5.0) as response:
        assert response.status == 200
        assert json.load(response) == {"scheduled": 0}

    operator.send_signal(signal.SIGUSR1)
    killed = time.monotonic()
    status = 200
    while status == 200 and time.monotonic() - killed < FAIL_WITHIN + 5.0:
        time.sleep(0.2)
        status = http_status(url, timeout=5.0)
    took = time.monotonic() - killed
    print(f"/healthz answered {status} {took:.1f}s after the scheduler was cancelled")
    assert status == 500
    assert took <= FAIL_WITHIN

    # A failure is not cached: it stays failing until the kubelet restarts the pod.
    for _ in range(3):
        time.sleep(0.5)
        assert http_status(url, timeout=5.0) == 500
    assert operator.running  # only the scheduler died, and liveness says so
    log = operator.log_tail(400)
    assert log.count("The scheduler was cancelled") == 1  # logged once, not per probe

    # Cleanup after the crash neither hangs (a raising cleanup is retried after 60 s) nor
    # needs the SIGKILL that follows the grace period.
    started = time.monotonic()
    operator.stop(grace=15.0)
    assert time.monotonic() - started < 15.0
    assert operator.returncode is not None and operator.returncode >= 0
    assert "Cleanup activity is only partially executed" not in operator.log_tail(400)


def test_without_test_hooks_sigusr1_keeps_its_default_action(operator: OperatorProcess) -> None:
    """Production safety of the hook: without the variable, SIGUSR1 cannot leave a running
    operator with a dead scheduler; it terminates the process, as for any program."""
    assert http_status(healthz(operator), timeout=5.0) == 200
    operator.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10.0
    while operator.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not operator.running
    assert operator.returncode == -signal.SIGUSR1
    assert "Test hooks are on" not in operator.log_tail(400)
