"""What a ModelDeployment's metadata says beyond its spec: who asked, and for what.

Pure functions of the object as the API server stores it (a camelCase dict), so the
reconciler can take them from any port and tests can state them as tables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from modelguard.core import api
from modelguard.core.api import KillSwitchSpec, RollbackRequest

log = logging.getLogger(__name__)


def requester_annotation(user: str, kill_switch: Mapping[str, Any]) -> str:
    """The requested-by annotation the CLI writes with a kill-switch change: the user,
    and the spec.killSwitch fields that change sets. requested_by() honours it only
    while spec.killSwitch still holds those values, so it cannot name this user for a
    later change by someone else (an annotation outlives the change it described)."""
    return json.dumps({"user": user, "killSwitch": dict(kill_switch)}, separators=(",", ":"))


def _annotated(meta: Mapping[str, Any], kill_switch: Mapping[str, Any]) -> str | None:
    """The annotated user, if the annotation describes the current spec.killSwitch."""
    raw = (meta.get("annotations") or {}).get(api.ANNOTATION_REQUESTED_BY)
    if not raw:
        return None
    try:
        claim = json.loads(raw)
        spec = KillSwitchSpec.model_validate(kill_switch or {})
    except (ValueError, TypeError):
        # Hand-written or an older CLI's plain name: tied to no change, so not trusted.
        return None
    if not isinstance(claim, dict) or not isinstance(claim.get("killSwitch"), dict):
        return None
    user, fields = claim.get("user"), claim["killSwitch"]
    current = spec.model_dump(mode="json", by_alias=True)
    if not isinstance(user, str) or not user or not fields:
        return None
    if any(current.get(key) != value for key, value in fields.items()):
        return None  # stale: spec.killSwitch was changed since, by someone else
    return user


def requested_by(body: Mapping[str, Any]) -> str:
    """Who made the current spec.killSwitch: the CLI's annotation when it describes
    exactly this kill switch, else "unknown (field manager X)" with the field manager
    that last wrote spec.killSwitch (kubectl-patch, argocd-controller, or a client
    library's default such as OpenAPI-Generator): a tool, not a person, so no name is
    made up from it. Empty when nothing tells."""
    meta = body.get("metadata", {})
    user = _annotated(meta, (body.get("spec") or {}).get("killSwitch") or {})
    if user is not None:
        return user
    newest: tuple[str, str] | None = None
    for entry in meta.get("managedFields") or []:
        spec_fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:killSwitch" in spec_fields:
            stamp = entry.get("time") or ""
            if newest is None or stamp >= newest[0]:
                newest = (stamp, str(entry.get("manager", "")))
    if newest is None or not newest[1]:
        return ""
    return f"unknown (field manager {newest[1]})"


def rollback_request(body: Mapping[str, Any]) -> RollbackRequest | None:
    """The CLI's manual rollback request, if the annotation holds a valid one."""
    raw = ((body.get("metadata", {}).get("annotations")) or {}).get(api.ANNOTATION_ROLLBACK_REQUEST)
    if not raw:
        return None
    try:
        return RollbackRequest.model_validate(json.loads(raw))
    except (ValueError, TypeError):
        # Someone else's hand-written annotation must not stop the reconcile.
        log.warning("Ignoring malformed %s annotation", api.ANNOTATION_ROLLBACK_REQUEST)
        return None
