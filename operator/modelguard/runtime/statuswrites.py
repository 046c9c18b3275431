"""Which status changes the reconciler writes, and the ones it holds back.

The rule is the core's (core.significance): a change that only refreshes volatile
fields (the evaluation time, figures within tolerance) waits until the stored evaluation
time is `refresh` old. A status that goes with actions is always written: the write
before an action is what makes a crash repeat the action instead of deciding another.

A held-back status is kept here, with the resourceVersion of the object it was computed
on, and stands in for the stored status as long as the object keeps that version: the
next reconcile plans from it (so the interval counts from the evaluation that ran, not
from the one last written), while significance is still judged against what the API
server has (so figures that drift a little each time are written once the drift is
beyond tolerance). Any other version (someone wrote; a fresh read after a restart) drops
it: what is lost is only what was never worth a write.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from modelguard.core.api import ModelDeploymentStatus
from modelguard.core.significance import DEFAULT_TOLERANCE, significant
from modelguard.runtime import telemetry

Key = tuple[str, str]


class StatusWrites:
    def __init__(
        self, refresh: timedelta = timedelta(0), tolerance: float = DEFAULT_TOLERANCE
    ) -> None:
        """refresh: how old the stored evaluation time may grow (0: write every change)."""
        self._refresh = refresh
        self._tolerance = tolerance
        # By object: (resourceVersion, the status stored, the newer one held back).
        self._held: dict[Key, tuple[str | None, ModelDeploymentStatus, ModelDeploymentStatus]] = {}

    def base(self, body: dict[str, Any]) -> ModelDeploymentStatus:
        """The status to plan from: the held-back one while the object is as it was."""
        key, version = _key(body)
        held = self._held.get(key)
        if held is not None and held[0] == version:
            return held[2]
        self._held.pop(key, None)
        return ModelDeploymentStatus.model_validate(body.get("status") or {})

    def needed(
        self,
        meta: dict[str, Any],
        before: ModelDeploymentStatus,
        status: ModelDeploymentStatus,
        *,
        acting: bool,
    ) -> bool:
        """Whether `status` (decided from `before`) must be written now; if not, it is
        held back (see the module docstring)."""
        if status == before:
            return False
        key, version = _key({"metadata": meta})
        held = self._held.get(key)
        stored = held[1] if held is not None and held[0] == version else before
        if acting or significant(stored, status, refresh=self._refresh, tolerance=self._tolerance):
            self._held.pop(key, None)
            return True
        self._held[key] = (version, stored, status)
        telemetry.STATUS_WRITES_SKIPPED.inc()
        return False

    def forget(self, namespace: str, name: str) -> None:
        self._held.pop((namespace, name), None)


def _key(body: dict[str, Any]) -> tuple[Key, str | None]:
    meta = body.get("metadata") or {}
    return (meta.get("namespace", ""), meta.get("name", "")), meta.get("resourceVersion")
