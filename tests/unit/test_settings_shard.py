"""The sharding settings: off by default, a named shard gets a Lease of its own, and a
bad selector or shard name stops the operator at startup with a message that names it."""

from __future__ import annotations

import os
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


def test_not_sharded_by_default() -> None:
    config = Settings.from_env()
    assert (config.shard, config.shard_selector) == ("", "")
    assert config.selector.everything
    assert config.lease_name == "modelguard-leader"


def test_a_shard_selects_by_label_and_leads_on_its_own_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELGUARD_SHARD", "a")
    monkeypatch.setenv("MODELGUARD_SHARD_SELECTOR", " modelguard.io/shard=a ")
    config = Settings.from_env()
    assert config.shard_selector == "modelguard.io/shard=a"
    assert config.selector.matches({"modelguard.io/shard": "a"})
    assert not config.selector.matches({"modelguard.io/shard": "b"})
    assert not config.selector.matches({})
    # Two shards left on the default Lease would elect one leader between them.
    assert config.lease_name == "modelguard-leader-a"
    monkeypatch.setenv("MODELGUARD_LEASE_NAME", "shard-a-leader")
    assert Settings.from_env().lease_name == "shard-a-leader"


def test_a_bad_selector_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_SHARD", "a")
    monkeypatch.setenv("MODELGUARD_SHARD_SELECTOR", "modelguard.io/shard in (a")
    with pytest.raises(ValueError, match=r"^MODELGUARD_SHARD_SELECTOR: label selector .*'\('"):
        Settings.from_env()
    with pytest.raises(ValueError, match="MODELGUARD_SHARD_SELECTOR"):
        Settings(shard="a", shard_selector="a=b=c")


def test_a_selector_needs_a_shard_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_SHARD_SELECTOR", "modelguard.io/shard=a")
    with pytest.raises(ValueError, match=r"name the shard \(MODELGUARD_SHARD\)"):
        Settings.from_env()


@pytest.mark.parametrize("name", ["A", "shard_a", "-a", "a" * 41])
def test_a_shard_name_is_a_dns_label(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("MODELGUARD_SHARD", name)
    with pytest.raises(ValueError, match="MODELGUARD_SHARD must be a DNS label"):
        Settings.from_env()
