"""The election's Lease (coordination.k8s.io/v1) on the Kubernetes API: core.ports.Leases.

Its own threads and its own request timeout: a renewal must never queue behind reconciles
for a worker thread (a fleet-wide kill keeps every Kubernetes thread busy), and a read that
hangs must give up within the margin that core.leader's timing argument leaves (3 s).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.core.leader import LeaseRecord
from modelguard.core.ports import ConflictError

_T = TypeVar("_T")


class KubeLeases:
    """Implements modelguard.core.ports.Leases for one named Lease in one namespace."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        executor: Executor,
        *,
        timeout: float = 2.0,
    ) -> None:
        self._api = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self._executor = executor
        self._timeout = timeout

    async def _thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, _request_timeout=self._timeout)
        return await loop.run_in_executor(self._executor, call)

    async def get(self) -> LeaseRecord | None:
        try:
            lease = await self._thread(self._api.read_namespaced_lease, self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return _record(lease)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=_spec(record),
        )
        try:
            lease = await self._thread(self._api.create_namespaced_lease, self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # AlreadyExists: another replica created it first
                raise ConflictError(f"Lease {self.namespace}/{self.name} exists") from exc
            raise
        return _record(lease)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        # A replace with the resourceVersion the decision was made from: the API server
        # stores it only if nobody wrote the Lease since (409 otherwise).
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(
                name=self.name, namespace=self.namespace, resource_version=record.version
            ),
            spec=_spec(record),
        )
        try:
            lease = await self._thread(
                self._api.replace_namespaced_lease, self.name, self.namespace, body
            )
        except ApiException as exc:
            if exc.status == 409:
                raise ConflictError(f"Lease {self.namespace}/{self.name} changed") from exc
            raise
        return _record(lease)


def _spec(record: LeaseRecord) -> client.V1LeaseSpec:
    return client.V1LeaseSpec(
        # An empty holder is how a released Lease reads (client-go writes "" too).
        holder_identity=record.holder,
        lease_duration_seconds=max(1, round(record.duration)),
        acquire_time=_micro(record.acquired),
        renew_time=_micro(record.renewed),
        lease_transitions=record.transitions,
    )


def _record(lease: client.V1Lease) -> LeaseRecord:
    spec = lease.spec or client.V1LeaseSpec()
    return LeaseRecord(
        holder=spec.holder_identity or "",
        duration=float(spec.lease_duration_seconds or 0),
        acquired=_time(spec.acquire_time),
        renewed=_time(spec.renew_time),
        transitions=int(spec.lease_transitions or 0),
        version=lease.metadata.resource_version if lease.metadata else None,
    )


def _micro(value: datetime | None) -> datetime | None:
    """A stamp the API server parses as a MicroTime. The client serialises a datetime with
    isoformat(), which drops the fraction when it is zero, and a MicroTime without six
    fractional digits is refused: such a stamp moves by one microsecond (it is only shown,
    never judged)."""
    if value is None or value.microsecond:
        return value
    return value.replace(microsecond=1)


def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None
