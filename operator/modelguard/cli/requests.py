"""What the CLI asks of a ModelDeployment: merge-patch bodies and manual rollback requests.

Pure functions, so the exact bytes sent to the API server are unit-tested.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelguard.core import api
from modelguard.core.metadata import requested_by as recorded_requester
from modelguard.core.metadata import requester_annotation


class RequestError(Exception):
    """The request cannot be made as asked; the message says why and what would work."""


def kill_patch(reason: str, mode: api.KillSwitchMode | None, requested_by: str) -> dict[str, Any]:
    if not reason.strip():
        raise RequestError("--reason must not be empty: say why the model is being stopped")
    kill: dict[str, Any] = {"enabled": True, "reason": reason}
    if mode is not None:
        kill["mode"] = mode.value
    return _kill_switch_patch(kill, requested_by)


def release_patch(requested_by: str) -> dict[str, Any]:
    # The reason describes an engaged switch; the operator's status.killSwitchHistory
    # keeps the record of the past one, so the spec goes back to its clean state.
    return _kill_switch_patch({"enabled": False, "reason": ""}, requested_by)


def _kill_switch_patch(kill: dict[str, Any], requested_by: str) -> dict[str, Any]:
    """The change and who asked for it, in one patch; the annotation names the fields
    set, so the operator credits the user only for exactly this change."""
    return {
        "metadata": {
            "annotations": {api.ANNOTATION_REQUESTED_BY: requester_annotation(requested_by, kill)}
        },
        "spec": {"killSwitch": kill},
    }


# --------------------------------------------------------------------------- per object

# A kill or release is decided per object from what it says now, and sent with that
# object's resourceVersion: the API server refuses the patch (409) if someone else changed
# the object in between, and the CLI decides again on the fresh copy. So a switch pulled
# for another incident a moment ago is never overwritten by a fleet-wide kill.


@dataclass(frozen=True)
class Switch:
    """What the spec says of the kill switch, and who last asked for it."""

    enabled: bool
    reason: str
    requested_by: str

    def describe(self) -> str:
        by = f", by {self.requested_by}" if self.requested_by else ""
        return f'reason "{self.reason}"{by}'


@dataclass(frozen=True)
class Step:
    """What to do with one object: a merge patch, or None to leave it alone; and what
    to tell the user about it."""

    patch: dict[str, Any] | None
    message: str


def switch_of(obj: Mapping[str, Any]) -> Switch:
    kill = (obj.get("spec") or {}).get("killSwitch") or {}
    return Switch(
        enabled=bool(kill.get("enabled")),
        reason=str(kill.get("reason") or ""),
        # The operator's rule: the annotation counts only while it describes this switch.
        requested_by=recorded_requester(obj),
    )


def _guarded(patch: dict[str, Any], obj: Mapping[str, Any]) -> dict[str, Any]:
    """The patch, applied only if the object is still the version it was decided on."""
    version = (obj.get("metadata") or {}).get("resourceVersion")
    if not version:
        return patch
    metadata = {**patch.get("metadata", {}), "resourceVersion": str(version)}
    return {**patch, "metadata": metadata}


def kill_step(
    obj: Mapping[str, Any], reason: str, mode: api.KillSwitchMode | None, requested_by: str
) -> Step:
    """Engage, unless already engaged: the first reason and requester stay on record."""
    switch = switch_of(obj)
    if switch.enabled:
        return Step(None, f"already engaged ({switch.describe()}); left as is")
    return Step(_guarded(kill_patch(reason, mode, requested_by), obj), "kill switch enabled")


def reason_matches(reason: str, text: str) -> bool:
    """TEXT appears in the reason as a whole word, case-insensitively: "INC-42" matches
    "INC-42: bad scores" and "see inc-42", never "INC-421"."""
    pattern = rf"(?<![A-Za-z0-9]){re.escape(text.strip())}(?![A-Za-z0-9])"
    return re.search(pattern, reason, flags=re.IGNORECASE) is not None


def release_step(obj: Mapping[str, Any], requested_by: str, reason_match: str | None) -> Step:
    """Release an engaged switch; with reason_match, only one pulled for that reason."""
    switch = switch_of(obj)
    if not switch.enabled:
        return Step(None, "not engaged; nothing to release")
    if reason_match is not None and not reason_matches(switch.reason, reason_match):
        return Step(
            None, f'left engaged: {switch.describe()} does not match "{reason_match.strip()}"'
        )
    return Step(_guarded(release_patch(requested_by), obj), "kill switch released")


def mixed_reasons(objs: Iterable[Mapping[str, Any]]) -> str | None:
    """Why a fleet-wide release without --reason-match or --force is refused, or None.

    Releasing every switch at once is safe when they were all pulled for one reason (one
    incident); when they were pulled for several, some belong to another incident whose
    owner has not said it is over.
    """
    reasons = Counter(s.reason for s in map(switch_of, objs) if s.enabled)
    if len(reasons) <= 1:
        return None
    listed = "; ".join(f'"{reason}" ({count})' for reason, count in sorted(reasons.items()))
    return (
        f"the engaged kill switches were pulled for {len(reasons)} different reasons: "
        f"{listed}. Release one incident's with --reason-match TEXT, or all with --force"
    )


# --------------------------------------------------------------------------- rollback


def rollback_request(
    to: str | None,
    reason: str,
    requested_by: str,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> api.RollbackRequest:
    return api.RollbackRequest(id=new_id(), to=to, reason=reason, requested_by=requested_by)


def rollback_patch(request: api.RollbackRequest) -> dict[str, Any]:
    payload = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    # The request carries its requester; the requested-by annotation describes a
    # kill-switch change and is left to it.
    return {
        "metadata": {
            "annotations": {
                api.ANNOTATION_ROLLBACK_REQUEST: json.dumps(payload, separators=(",", ":")),
            }
        }
    }


def known_versions(status: api.ModelDeploymentStatus) -> list[str]:
    """Versions a rollback may name: known good first, then the rest of the history."""
    names = [v.name for v in status.known_good_versions]
    names += [e.version for e in sorted(status.history, key=lambda e: e.since, reverse=True)]
    return list(dict.fromkeys(names))


def check_rollback(obj: Mapping[str, Any], to: str | None) -> list[str]:
    """Refuse a rollback the operator could not carry out; return warnings for the rest.

    Only checked when the operator has written a status: without one there is nothing
    to compare with, and the operator will say what it did with the request.
    """
    raw = obj.get("status")
    if not raw:
        return []
    try:
        status = api.ModelDeploymentStatus.model_validate(raw)
    except ValidationError:
        return ["the status is not readable by this CLI version: the target was not checked"]
    known = known_versions(status)
    if to is None:
        if status.stable_version is None and not status.known_good_versions:
            listed = ", ".join(known) or "none"
            raise RequestError(
                f"no known good version to roll back to yet (versions seen: {listed}); "
                "pass --to VERSION"
            )
    elif known and to not in known:
        raise RequestError(f'version "{to}" is unknown here; known versions: {", ".join(known)}')
    warnings = []
    for q in status.quarantined_versions:
        if to is not None and q.name == to:
            warnings.append(f'version "{to}" is quarantined ({q.reason or "no reason recorded"})')
    pending = _pending_request(obj, status)
    if pending is not None:
        warnings.append(f"replacing rollback request {pending} that the operator has not handled")
    return warnings


def _pending_request(obj: Mapping[str, Any], status: api.ModelDeploymentStatus) -> str | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(api.ANNOTATION_ROLLBACK_REQUEST)
    if not raw:
        return None
    try:
        previous = api.RollbackRequest.model_validate_json(raw)
    except ValidationError:
        return None
    return previous.id if previous.id != status.handled_rollback_request else None
