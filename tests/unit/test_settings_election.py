"""The leader-election settings: client-go's defaults, on unless turned off, the pod's
namespace and a per-process identity when nothing is set, and typos refused."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from modelguard.runtime import settings
from modelguard.runtime.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MODELGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(settings, "_POD_NAMESPACE_FILE", tmp_path / "absent")


def test_defaults() -> None:
    config = Settings.from_env()
    assert config.leader_election is True
    assert (config.lease_name, config.lease_namespace) == ("modelguard-leader", "default")
    assert config.identity == f"{socket.gethostname()}_{os.getpid()}"
    timings = (
        config.lease_duration_seconds,
        config.renew_deadline_seconds,
        config.retry_period_seconds,
    )
    assert timings == (15.0, 10.0, 2.0)


def test_in_a_pod_the_lease_lives_in_the_pods_namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mounted = tmp_path / "namespace"
    mounted.write_text("modelguard-system\n")
    monkeypatch.setattr(settings, "_POD_NAMESPACE_FILE", mounted)
    assert Settings.from_env().lease_namespace == "modelguard-system"


def test_everything_can_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MODELGUARD_LEADER_ELECTION": "false",
        "MODELGUARD_LEASE_NAME": "mg",
        "MODELGUARD_LEASE_NAMESPACE": "ops",
        "MODELGUARD_IDENTITY": "modelguard-7d9f-abcde",
        "MODELGUARD_LEASE_DURATION_SECONDS": "6",
        "MODELGUARD_RENEW_DEADLINE_SECONDS": "4",
        "MODELGUARD_RETRY_PERIOD_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    config = Settings.from_env()
    assert not config.leader_election
    assert (config.lease_name, config.lease_namespace, config.identity) == (
        "mg",
        "ops",
        "modelguard-7d9f-abcde",
    )
    assert (config.lease_duration_seconds, config.renew_deadline_seconds) == (6.0, 4.0)
    assert config.retry_period_seconds == 1.0


def test_a_typo_does_not_silently_turn_election_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LEADER_ELECTION", "ture")
    with pytest.raises(ValueError, match="MODELGUARD_LEADER_ELECTION must be true or false"):
        Settings.from_env()
