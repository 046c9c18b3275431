"""The Kubernetes Event the adapter posts for one of the core's Events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from modelguard.core import api
from modelguard.core.workload import Event

EVENT_SOURCE = "modelguard"
_MESSAGE_LIMIT = 1024  # the API server rejects longer Event messages


def core_event(
    body: dict[str, Any], event: Event, name: str | None, instance: str
) -> client.CoreV1Event:
    """The Event about the ModelDeployment `body`; with a name (posting it again after a
    crash is then a conflict, not a second Event), else a generated one."""
    meta = body.get("metadata", {})
    now = datetime.now(UTC)
    message = event.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    return client.CoreV1Event(
        metadata=client.V1ObjectMeta(
            name=name,
            generate_name=None if name else f"{meta.get('name', 'modeldeployment')}.",
            namespace=meta.get("namespace"),
        ),
        involved_object=client.V1ObjectReference(
            api_version=body.get("apiVersion", f"{api.GROUP}/{api.VERSION}"),
            kind=body.get("kind", api.KIND),
            name=meta.get("name"),
            namespace=meta.get("namespace"),
            uid=meta.get("uid"),
            resource_version=meta.get("resourceVersion"),
        ),
        reason=event.reason,
        message=message,
        type=event.type,
        source=client.V1EventSource(component=EVENT_SOURCE),
        reporting_component=EVENT_SOURCE,
        reporting_instance=instance,
        first_timestamp=now,
        last_timestamp=now,
        count=1,
    )
