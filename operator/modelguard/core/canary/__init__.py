"""Canary rollouts: a new version beside the stable one, introduced step by step.

The canary is a sibling Deployment `<target>-canary` that modelguard owns (manifest);
the target Deployment is never written during a canary, so an abort is deleting the
sibling and a GitOps tool that owns the target sees no drift. Replicas mode splits
traffic by the ratio of Ready pods behind the one Service (weights); the step machine
(machine) decides when to grow, hold, promote or abort. Pure: plain data in and out.
"""

from modelguard.core.canary.kill import killed, released
from modelguard.core.canary.machine import (
    CANARY_RECHECK,
    Judged,
    Rules,
    Tick,
    abort,
    start,
    tick,
)
from modelguard.core.canary.manifest import (
    MODEL_DEPLOYMENT_LABEL,
    TRACK_CANARY,
    Owner,
    build_canary,
    build_for,
    canary_name,
    label_value,
)
from modelguard.core.canary.weights import Weights, weights

__all__ = [
    "CANARY_RECHECK",
    "MODEL_DEPLOYMENT_LABEL",
    "TRACK_CANARY",
    "Judged",
    "Owner",
    "Rules",
    "Tick",
    "Weights",
    "abort",
    "build_canary",
    "build_for",
    "canary_name",
    "killed",
    "label_value",
    "released",
    "start",
    "tick",
    "weights",
]
