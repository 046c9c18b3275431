"""The kill switch during a canary: the canary stops with the model, and resumes from
the start of its step on release (core.canary.machine's Tick, and its removal)."""

from __future__ import annotations

from datetime import datetime

from modelguard.core.api import CanaryPhase, CanaryStatus
from modelguard.core.canary.machine import Condition, Tick, removal, with_changes
from modelguard.core.reasons import ConditionReason
from modelguard.core.workload import Action, CanaryWorkload, ScaleCanary


def killed(canary: CanaryStatus, seen: CanaryWorkload | None, *, scaled: bool) -> Tick:
    """The kill switch is engaged. `scaled`: it stopped the model (scaleToZero, or no
    fallback to serve): the canary is stopped too, its replicas saved for the release.
    Otherwise the Service sends traffic to the fallback, which never selects the
    canary (it carries the target's labels, not the fallback's): it only waits."""
    if canary.phase is CanaryPhase.ABORTING:
        return Tick(status=canary, actions=removal(canary, seen))
    if not scaled:
        return Tick(
            status=canary,
            condition=Condition(
                "True", ConditionReason.CANARY_PAUSED, "kill switch engaged: traffic on fallback"
            ),
        )
    saved = canary.saved_replicas
    if saved is None:
        saved = seen.replicas if seen is not None else 0
    actions = (ScaleCanary(0),) if seen is not None and seen.replicas != 0 else ()
    return Tick(
        status=with_changes(canary, saved_replicas=saved),
        actions=actions,
        condition=Condition(
            "True",
            ConditionReason.CANARY_PAUSED,
            f"kill switch engaged: canary scaled to 0 (saved replicas {saved})",
        ),
    )


def released(canary: CanaryStatus, now: datetime) -> Tick:
    """The kill switch was released: the saved replicas come back, and a step in
    progress starts over with a fresh warmup (the metrics of the stop say nothing)."""
    actions: tuple[Action, ...] = ()
    if canary.saved_replicas is not None:
        actions = (ScaleCanary(canary.saved_replicas),)
    if canary.phase is not CanaryPhase.PROGRESSING:
        return Tick(status=with_changes(canary, saved_replicas=None), actions=actions)
    restarted = with_changes(
        canary,
        saved_replicas=None,
        step_started_at=now,
        ready_at=None,
        passing_since=None,
        consecutive_failures=0,
    )
    return Tick(status=restarted, actions=actions)
