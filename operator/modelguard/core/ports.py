"""Ports: what the core needs from the outside world, as plain data and protocols.

Adapters implement these; tests can implement them with real servers or small fakes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from modelguard.core.api import ModelDeploymentSpec, ModelDeploymentStatus
from modelguard.core.canary import Owner
from modelguard.core.leader import LeaseRecord
from modelguard.core.reasons import CheckReason
from modelguard.core.workload import Action, CanaryAction, Event, Workload


@dataclass(frozen=True)
class QueryResult:
    """The outcome of one instant query, reduced to what a check needs."""

    value: float | None = None
    series: int = 0
    error: str | None = None
    # The error is Prometheus refusing the query as bad PromQL, not an outage.
    invalid_query: bool = False

    @property
    def usable(self) -> bool:
        return (
            self.error is None
            and self.series == 1
            and self.value is not None
            and math.isfinite(self.value)
        )

    def problem(self) -> tuple[CheckReason, str]:
        """(reason, message) for an unusable result."""
        if self.error is not None and self.invalid_query:
            return CheckReason.INVALID_QUERY, self.error
        if self.error is not None:
            return CheckReason.QUERY_ERROR, self.error
        if self.series == 0 or self.value is None:
            return CheckReason.NO_DATA, "query returned no series"
        if self.series > 1:
            return (
                CheckReason.AMBIGUOUS_RESULT,
                f"query returned {self.series} series; aggregate to one",
            )
        return CheckReason.NO_DATA, f"query returned {self.value}"


class MetricsSource(Protocol):
    """One Prometheus endpoint, opened per evaluation with that spec's URL and token."""

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        """An instant query evaluated at `at` (default: now). Never raises for an outage
        or a bad query: the result carries the error."""
        ...

    def close(self) -> None:
        """Release connections; the source is not used again."""
        ...


class ConflictError(Exception):
    """A conditional write found the object changed since it was read (HTTP 409): the
    decision it carried was made on an old state and must not be acted on."""


# A ModelDeployment as the API server stores it: camelCase, metadata included. Kept raw
# on purpose: the reconciler parses the spec itself, because an invalid spec is reported
# (and its kill switch still obeyed), not refused at the port.
ModelDeploymentBody = dict[str, Any]


class Workloads(Protocol):
    """What the reconciler needs from Kubernetes, in the core's terms.

    Expected situations are answers, not exceptions: an absent ModelDeployment is None,
    an absent Deployment is Workload(exists=False). Anything else that fails raises, and
    the reconcile is retried with backoff.
    """

    async def get_model_deployment(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> ModelDeploymentBody | None:
        """The object, or None once it is deleted. An implementation may answer from a
        watch cache (runtime.cache); `fresh`: from the API server, whatever it holds."""
        ...

    async def write_status(
        self,
        namespace: str,
        name: str,
        status: ModelDeploymentStatus,
        resource_version: str | None = None,
    ) -> str | None:
        """Replace the recorded status: a field the core cleared is removed. With a
        resource_version, only if the object still has it (else ConflictError): the fencing
        of a decision made on what was read. Returns the object's new resourceVersion."""
        ...

    async def read_workload(
        self,
        namespace: str,
        spec: ModelDeploymentSpec,
        status: ModelDeploymentStatus,
        *,
        fresh: bool = False,
    ) -> Workload:
        """The guarded objects (core.guarded), the fallback's Ready pods, and the canary
        Deployment when spec.canary or status.canary says there may be one. `fresh` as
        for get_model_deployment."""
        ...

    async def apply(self, namespace: str, spec: ModelDeploymentSpec, action: Action) -> None:
        """Make one level-based change to the guarded objects; repeating it is harmless."""
        ...

    async def apply_canary(
        self, namespace: str, spec: ModelDeploymentSpec, owner: Owner, action: CanaryAction
    ) -> None:
        """Create, re-derive, scale or delete the `<target>-canary` Deployment (owned by
        `owner`, core.canary.manifest); the target is only read. Repeating it is harmless."""
        ...

    async def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret, decoded; raises when the Secret or the key is missing."""
        ...

    async def read_check_template(
        self, namespace: str, kind: str, name: str
    ) -> dict[str, Any] | None:
        """A ModelCheckTemplate of `namespace` or a ClusterModelCheckTemplate (by `kind`),
        as stored; None when there is no such object."""
        ...

    async def set_finalizer(
        self,
        namespace: str,
        name: str,
        finalizer: str,
        present: bool,
        resource_version: str | None = None,
        known: Sequence[str] | None = None,
    ) -> str | None:
        """Add or remove one finalizer of the ModelDeployment, leaving others' alone; a
        no-op when it is already so, when the object is gone, and (the API server refuses
        it) when adding to an object being deleted. Removing the last finalizer of an
        object being deleted lets the API server delete it. With a resource_version, only
        if the object still has it (else ConflictError); without, a conflict is retried on a
        fresh read. `known`: the object's finalizers at resource_version, when the caller
        has them, so the object need not be read first. Returns the new resourceVersion
        when it changed the object."""
        ...

    async def emit(self, body: ModelDeploymentBody, event: Event, name: str | None = None) -> None:
        """Post an Event on the object (a ModelDeployment unless body names its apiVersion
        and kind); with a name, posting it again is a no-op. Never raises for a refused
        Event: an Event is a record, not state."""
        ...


class Leases(Protocol):
    """One Lease (the operator's election record), read and written whole.

    Writes are conditional: `update` stores the record only if the Lease still has the
    record's version, and `create` only if there is no Lease yet; otherwise ConflictError
    (another replica got there first). Anything else that fails raises as it is.
    """

    async def get(self) -> LeaseRecord | None:
        """The Lease, or None if it does not exist."""
        ...

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create it; returns what was stored (with its version)."""
        ...

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        """Replace it if it still has record.version; returns what was stored."""
        ...
