"""A shard's view of the Kubernetes API: only the ModelDeployments its selector selects.

The watch is filtered by the API server (handlers.py hands it the selector), so a shard
is never told about another shard's objects. This closes the one gap the watch leaves: a
reconcile that was running, or due, when its object was relabelled to another shard.
Such an object is no longer this shard's, yet still readable; read here, it reads as
gone, so the reconciler drops it exactly as it drops a deleted object (its per-object
series are removed, nothing is written, no finalizer is touched, no teardown runs: the
object was not deleted, it moved). The shard it moved to picks it up from its status.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any

from kubernetes import client

from modelguard.adapters.kube import KubeAdapter
from modelguard.adapters.kube_events import EVENT_SOURCE
from modelguard.core.labelselector import LabelSelector

log = logging.getLogger(__name__)


class ShardKube(KubeAdapter):
    def __init__(
        self,
        api_client: client.ApiClient,
        executor: Executor | None = None,
        *,
        instance: str = EVENT_SOURCE,
        shard: str,
        selector: LabelSelector,
    ) -> None:
        super().__init__(api_client, executor, instance=instance)
        self._shard = shard
        self._selector = selector

    async def get_model_deployment(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        body = await super().get_model_deployment(namespace, name, fresh=fresh)
        if body is None:
            return None
        labels = (body.get("metadata") or {}).get("labels") or {}
        if self._selector.matches(labels):
            return body
        log.info(
            "%s/%s is no longer shard %s's (%s does not select its labels %s): left to "
            "the shard that does",
            namespace,
            name,
            self._shard,
            self._selector.text,
            labels,
        )
        return None

    async def list_model_deployments(self, namespace: str) -> list[dict[str, Any]]:
        # The kill-switch sweep's LIST: another shard's pending kill is that shard's to
        # enforce, so it is never kicked here (where its reconcile would only drop it).
        listed = await super().list_model_deployments(namespace)
        return [
            body
            for body in listed
            if self._selector.matches((body.get("metadata") or {}).get("labels") or {})
        ]
