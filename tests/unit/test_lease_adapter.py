"""The Lease adapter against a recording stand-in for CoordinationV1Api: conditional
writes (a replace names the resourceVersion it was decided from), 409 as ConflictError,
MicroTime stamps the API server parses, and a timeout on every call."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modelguard.adapters.lease import KubeLeases
from modelguard.core.leader import LeaseRecord
from modelguard.core.ports import ConflictError

WALL = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # microsecond 0: isoformat() would drop it


class Coordination:
    def __init__(self, status: int | None = None, stored: client.V1Lease | None = None) -> None:
        self.status = status  # answer every call with this error
        self.stored = stored
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, name: str, kwargs: dict[str, Any]) -> client.V1Lease:
        self.calls.append((name, kwargs))
        if self.status is not None:
            raise ApiException(status=self.status, reason="refused")
        assert self.stored is not None
        return self.stored

    def read_namespaced_lease(self, name: str, namespace: str, **kw: Any) -> client.V1Lease:
        return self._answer("read", kw)

    def create_namespaced_lease(
        self, namespace: str, body: client.V1Lease, **kw: Any
    ) -> client.V1Lease:
        return self._answer("create", {**kw, "body": body})

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: client.V1Lease, **kw: Any
    ) -> client.V1Lease:
        return self._answer("replace", {**kw, "body": body})


def stored(holder: str = "pod-a", version: str = "42") -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name="modelguard-leader", resource_version=version),
        spec=client.V1LeaseSpec(
            holder_identity=holder,
            lease_duration_seconds=15,
            acquire_time=WALL,
            renew_time=WALL,
            lease_transitions=2,
        ),
    )


def leases(api: Coordination) -> KubeLeases:
    adapter = KubeLeases(
        client.ApiClient(), "modelguard-system", "modelguard-leader", ThreadPoolExecutor(1)
    )
    adapter._api = api  # type: ignore[assignment]
    return adapter


RECORD = LeaseRecord("pod-a", 15.0, WALL, WALL, transitions=2, version="41")


def test_a_lease_is_read_into_a_record() -> None:
    api = Coordination(stored=stored())
    record = asyncio.run(leases(api).get())
    assert record == LeaseRecord("pod-a", 15.0, WALL, WALL, transitions=2, version="42")
    assert api.calls[0][1] == {"_request_timeout": 2.0}


def test_no_lease_is_none_and_a_released_one_has_no_holder() -> None:
    assert asyncio.run(leases(Coordination(status=404)).get()) is None
    released = stored(holder="")
    assert released.spec is not None
    released.spec.holder_identity = None
    record = asyncio.run(leases(Coordination(stored=released)).get())
    assert record is not None and record.holder == ""


def test_a_replace_is_conditional_on_the_version_decided_from() -> None:
    api = Coordination(stored=stored())
    asyncio.run(leases(api).update(RECORD))
    [(name, kwargs)] = api.calls
    body = kwargs["body"]
    assert name == "replace"
    assert body.metadata.resource_version == "41"
    assert body.spec.holder_identity == "pod-a"
    # Six fractional digits, as the API server's MicroTime needs (isoformat() leaves
    # them out at microsecond 0).
    sent = client.ApiClient().sanitize_for_serialization(body)  # type: ignore[no-untyped-call]
    assert sent["spec"]["renewTime"] == "2026-12-01T12:00:00.000001+00:00"
    assert sent["spec"]["acquireTime"] == "2026-12-01T12:00:00.000001+00:00"
    assert sent["spec"]["leaseDurationSeconds"] == 15


@pytest.mark.parametrize("write", ["create", "update"])
def test_409_is_a_conflict(write: str) -> None:
    adapter = leases(Coordination(status=409))
    with pytest.raises(ConflictError):
        asyncio.run(getattr(adapter, write)(RECORD))


def test_other_errors_are_raised_as_they_are() -> None:
    with pytest.raises(ApiException):
        asyncio.run(leases(Coordination(status=403)).update(RECORD))
