"""deploy/shards/: two shards of the one operator, as a kustomize overlay of
deploy/operator/. Parsed here (tests/e2e/test_deploy.py builds it with kubectl's own
kustomize): each shard names itself, selects with a selector the operator accepts, leads
on a Lease of its own, and together the selectors give every ModelDeployment exactly
one shard, unlabelled ones and unknown shard names included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelguard.runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SHARDS = REPO / "deploy" / "shards"
LABEL = "modelguard.io/shard"


def kustomization(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((path / "kustomization.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def shard_env(name: str) -> dict[str, str]:
    """The env the shard's patch sets on the operator container."""
    patches = [yaml.safe_load(p["patch"]) for p in kustomization(SHARDS / name)["patches"]]
    [deployment] = [p for p in patches if p["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "operator"
    return {e["name"]: e["value"] for e in container["env"]}


def shard_settings() -> dict[str, Settings]:
    settings = {}
    for directory in kustomization(SHARDS)["resources"]:
        if directory.startswith("shard-"):
            env = shard_env(directory)
            settings[directory] = Settings(
                shard=env["MODELGUARD_SHARD"],
                shard_selector=env["MODELGUARD_SHARD_SELECTOR"],
                lease_name=env["MODELGUARD_LEASE_NAME"],
            )
    return settings


def test_the_overlay_is_the_shared_base_and_two_shards_of_the_operator() -> None:
    assert kustomization(SHARDS)["resources"] == [
        "../base",
        "shard-a",
        "shard-b",
        "metrics-service.yaml",
    ]
    assert (SHARDS / "README.md").is_file()
    for name in ("shard-a", "shard-b"):
        shard = kustomization(SHARDS / name)
        assert shard["resources"] == ["../../operator"]
        assert shard["nameSuffix"] == f"-{name}"
        [labels] = shard["labels"]
        # Selectors too: each shard's PodDisruptionBudget, anti-affinity and metrics
        # Service must take its own pods only, never the other shard's.
        assert labels == {
            "pairs": {LABEL: name.removeprefix("shard-")},
            "includeSelectors": True,
            "includeTemplates": True,
        }


def test_each_shard_names_itself_and_leads_on_a_lease_of_its_own() -> None:
    settings = shard_settings()
    assert {s.shard for s in settings.values()} == {"a", "b"}
    # The base manifest names the single operator's Lease explicitly: a shard that did
    # not override it would share it, and only one shard would ever lead.
    leases = [s.lease_name for s in settings.values()]
    assert len(set(leases)) == len(leases)
    assert Settings().lease_name not in leases


def test_every_model_deployment_has_exactly_one_shard() -> None:
    settings = shard_settings()
    names = {s.shard for s in settings.values()}
    # The catch-all is the shard of an unlabelled object; there must be exactly one.
    [catch_all] = [s.shard for s in settings.values() if s.selector.matches({})]
    for value in [*sorted(names), "", "zz-no-such-shard", "A"]:
        for labels in ({LABEL: value}, {LABEL: value, "team": "fraud"}):
            owners = [s.shard for s in settings.values() if s.selector.matches(labels)]
            # A label naming a shard is obeyed; the catch-all takes the rest.
            assert owners == [value if value in names else catch_all], (labels, owners)
    assert [s.shard for s in settings.values() if s.selector.matches({"team": "x"})] == [catch_all]


def test_one_metrics_service_scrapes_every_shard_as_the_single_operators_does() -> None:
    """deploy/monitoring's rules select job="modelguard-metrics", the Service's name."""
    operator = REPO / "deploy" / "operator" / "operator.yaml"
    [single] = [d for d in yaml.safe_load_all(operator.read_text()) if d["kind"] == "Service"]
    assert yaml.safe_load((SHARDS / "metrics-service.yaml").read_text()) == single
    for name in ("shard-a", "shard-b"):
        patches = [yaml.safe_load(p["patch"]) for p in kustomization(SHARDS / name)["patches"]]
        [service] = [p for p in patches if p["kind"] == "Service"]
        assert service["$patch"] == "delete"
        assert service["metadata"]["name"] == single["metadata"]["name"]
