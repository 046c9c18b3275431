"""Which objects a ModelDeployment guards: the objects a reconcile reads.

One rule for both sides: the kube adapter reads exactly these objects into a Workload,
and the runtime watches exactly these, so an edit to any of them wakes the reconcile
that depends on it, and an edit to anything else wakes nothing. (The fallback's pods
are read by label selector, not by name, and are re-checked on a timer instead.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelguard.core.api import KillSwitchMode, KillSwitchSpec, KillSwitchStatus

# The kinds, as the runtime's watch handlers name them.
DEPLOYMENT = "deployment"
SERVICE = "service"


def guarded_objects(
    target: str, kill_switch: KillSwitchSpec, engaged: KillSwitchStatus
) -> list[tuple[str, str]]:
    """The Deployment, then at most one Service: the one the kill switch switches.

    While engaged, that is the Service that was switched (saved with its selector),
    whatever the spec names now: a release by removing the killSwitch block must
    restore it. Otherwise it is the fallback's Service, when the fallback mode is in use.
    """
    objects: list[tuple[str, str]] = [(DEPLOYMENT, target)]
    saved = engaged.saved
    fallback = kill_switch.fallback
    uses_fallback = KillSwitchMode.FALLBACK in (kill_switch.mode, engaged.mode)
    if engaged.engaged and saved is not None and saved.service:
        objects.append((SERVICE, saved.service))
    elif fallback is not None and uses_fallback:
        objects.append((SERVICE, fallback.service_name))
    return objects


def guarded_by(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[tuple[str, str]]:
    """guarded_objects() of a stored object's raw spec and status, which may be invalid.

    An invalid object still guards its target (its kill switch is obeyed even then). A
    killSwitch block that cannot be read is one the reconciler cannot act on, so it adds
    nothing to watch; the Service a recorded engagement switched still counts.
    """
    target = str((spec.get("targetRef") or {}).get("name", ""))
    try:
        kill_switch = KillSwitchSpec.model_validate(spec.get("killSwitch") or {})
    except ValidationError:
        kill_switch = KillSwitchSpec()
    try:
        engaged = KillSwitchStatus.model_validate(status.get("killSwitch") or {})
    except ValidationError:
        engaged = KillSwitchStatus()
    return guarded_objects(target, kill_switch, engaged)


@dataclass(frozen=True)
class KillSwitchState:
    """Where a stored object's kill switch stands, from its raw spec and status."""

    enabled: bool  # spec.killSwitch.enabled
    engaged: bool  # status.killSwitch.engaged

    @property
    def pending(self) -> bool:
        """An engage or a release the operator has not carried out yet."""
        return self.enabled != self.engaged

    @property
    def in_play(self) -> bool:
        """Enabled or engaged: a change to a guarded object concerns the switch."""
        return self.enabled or self.engaged


def kill_switch_state(spec: Mapping[str, Any], status: Mapping[str, Any]) -> KillSwitchState:
    """Read leniently: the runtime routes watch events by it, even for an invalid object
    (whose switch is still obeyed). Only a literal true counts, as in the schema."""
    switch = spec.get("killSwitch")
    recorded = status.get("killSwitch")
    enabled = isinstance(switch, Mapping) and switch.get("enabled") is True
    engaged = isinstance(recorded, Mapping) and recorded.get("engaged") is True
    return KillSwitchState(enabled=enabled, engaged=engaged)


def at_rest(status: Mapping[str, Any], *, kill_switch_in_play: bool) -> bool:
    """Whether a stored object has nothing under way: no kill switch in play, no version
    change or Event recorded and not yet done, no canary. Only such an object may wait a
    moment for its first reconcile after a restart (the runtime spreads those over a
    window); anything under way is finished at once."""
    return not (
        kill_switch_in_play
        or status.get("pendingAction")
        or status.get("pendingEvents")
        or status.get("canary")
        or (status.get("notifications") or {}).get("pending")
    )
