"""runtime.sharding: a shard reads an object relabelled to another shard as gone, so the
reconcile in flight or due for it drops it (no write, no teardown) as for a deleted one."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.core.labelselector import parse
from modelguard.runtime.sharding import ShardKube


class Objects:
    """Stands in for CustomObjectsApi: the ModelDeployments by name, as stored."""

    def __init__(self, stored: dict[str, dict[str, Any]]) -> None:
        self.stored = stored

    def get_namespaced_custom_object(self, *args: Any, **_: Any) -> dict[str, Any]:
        name = args[-1]
        if name not in self.stored:
            raise ApiException(status=404, reason="Not Found")
        return self.stored[name]

    def list_namespaced_custom_object(self, *args: Any, **_: Any) -> dict[str, Any]:
        return {"items": list(self.stored.values())}


def body(name: str, labels: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ml"}
    if labels is not None:
        meta["labels"] = labels
    return {"metadata": meta, "spec": {}, "status": {"phase": "Killed"}}


def test_only_the_shards_objects_are_read() -> None:
    stored = {
        "mine": body("mine", {"modelguard.io/shard": "a"}),
        "moved": body("moved", {"modelguard.io/shard": "b"}),
        "unlabelled": body("unlabelled", None),
    }
    kube = ShardKube(client.ApiClient(), shard="a", selector=parse("modelguard.io/shard=a"))
    kube._custom = Objects(stored)  # type: ignore[assignment]

    async def read(name: str) -> dict[str, Any] | None:
        return await kube.get_model_deployment("ml", name)

    assert asyncio.run(read("mine")) == stored["mine"]
    assert asyncio.run(read("moved")) is None
    assert asyncio.run(read("unlabelled")) is None
    assert asyncio.run(read("absent")) is None

    catch_all = ShardKube(
        client.ApiClient(), shard="b", selector=parse("modelguard.io/shard notin (a)")
    )
    catch_all._custom = Objects(stored)  # type: ignore[assignment]
    assert asyncio.run(catch_all.get_model_deployment("ml", "unlabelled")) == stored["unlabelled"]
    assert asyncio.run(catch_all.get_model_deployment("ml", "mine")) is None


def test_the_kill_switch_sweep_lists_only_the_shards_objects() -> None:
    """The sweep after an outage kicks pending kill switches from a LIST: another shard's
    are that shard's to enforce."""
    stored = {
        "mine": body("mine", {"modelguard.io/shard": "a"}),
        "theirs": body("theirs", {"modelguard.io/shard": "b"}),
        "unlabelled": body("unlabelled", None),
    }
    kube = ShardKube(client.ApiClient(), shard="a", selector=parse("modelguard.io/shard=a"))
    kube._custom = Objects(stored)  # type: ignore[assignment]
    listed = asyncio.run(kube.list_model_deployments("ml"))
    assert [b["metadata"]["name"] for b in listed] == ["mine"]
