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
from modelguard.core.api import RollbackRequest

log = logging.getLogger(__name__)


def requested_by(body: Mapping[str, Any]) -> str:
    """Who flipped the kill switch: the CLI's annotation, else the field manager that last
    wrote spec.killSwitch (e.g. kubectl-patch, argocd-controller)."""
    meta = body.get("metadata", {})
    annotated = (meta.get("annotations") or {}).get(api.ANNOTATION_REQUESTED_BY)
    if annotated:
        return str(annotated)
    newest: tuple[str, str] | None = None
    for entry in meta.get("managedFields") or []:
        spec_fields = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        if "f:killSwitch" in spec_fields:
            stamp = entry.get("time") or ""
            if newest is None or stamp >= newest[0]:
                newest = (stamp, str(entry.get("manager", "")))
    return newest[1] if newest else ""


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
