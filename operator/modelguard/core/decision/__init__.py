"""The reconcile decision: (spec, status, what was observed, now) -> (status, actions, events).

One pure function decides everything, in a fixed order of precedence:

1. the target must exist;
2. the kill switch wins over everything (killswitch.step);
3. a recorded but unfinished version change is finished (write-ahead, see PendingAction);
4. a manual rollback request is handled once (its id is recorded);
5. the desired version is applied unless it is quarantined;
6. an evaluation result, if one is due and was taken, promotes or rolls back.

The reconciler writes the returned status *before* running the actions, so every
decision is durable before it has an effect; re-running plan() on the same inputs after
the actions ran yields no new actions (idempotence, tested as a property).

Modules: model (Observation, Plan), draft (the status being decided), versions (version
identity and targets), timing (when to evaluate and reconcile), desired (following the
desired version), verdicts (judging an evaluation), rollback, summary (conditions and
phase_of), plan (the function above, invalid_spec, a missing target), teardown (what a
delete restores before the object goes, and the finalizer that holds it until then).
"""

from modelguard.core.decision.model import MAX_PASSES, Observation, Plan
from modelguard.core.decision.plan import KillSwitchOnly, invalid_spec, plan
from modelguard.core.decision.summary import Readiness, phase_of
from modelguard.core.decision.timing import (
    KILL_SWITCH_RECHECK,
    PENDING_RECHECK,
    analysis_due,
    next_due,
    slot_phase,
)
from modelguard.core.decision.versions import (
    DEFAULT_TAG_ENV,
    baseline_time,
    desired_quarantined,
    is_quarantined,
    matches,
    plain,
    resolve,
    rollback_target,
    samples_since,
    stable_version,
    tag_env,
    template_values,
)

__all__ = [
    "DEFAULT_TAG_ENV",
    "KILL_SWITCH_RECHECK",
    "MAX_PASSES",
    "PENDING_RECHECK",
    "KillSwitchOnly",
    "Observation",
    "Plan",
    "Readiness",
    "analysis_due",
    "baseline_time",
    "desired_quarantined",
    "invalid_spec",
    "is_quarantined",
    "matches",
    "next_due",
    "phase_of",
    "plain",
    "plan",
    "resolve",
    "rollback_target",
    "samples_since",
    "slot_phase",
    "stable_version",
    "tag_env",
    "template_values",
]
