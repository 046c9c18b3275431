"""The Prometheus settings: connections per endpoint (the old thread setting's name still
counts) and the tick of shared queries."""

from __future__ import annotations

import os

import pytest

from modelguard.runtime.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MODELGUARD_PROMETHEUS"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    config = Settings.from_env()
    assert (config.prometheus_connections, config.prometheus_tick_seconds) == (16, 1.0)


def test_the_old_threads_name_still_bounds_the_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELGUARD_PROMETHEUS_THREADS", "4")
    assert Settings.from_env().prometheus_connections == 4
    monkeypatch.setenv("MODELGUARD_PROMETHEUS_CONNECTIONS", "8")  # the new name wins
    monkeypatch.setenv("MODELGUARD_PROMETHEUS_TICK_SECONDS", "0")
    config = Settings.from_env()
    assert (config.prometheus_connections, config.prometheus_tick_seconds) == (8, 0.0)
