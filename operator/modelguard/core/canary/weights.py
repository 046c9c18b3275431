"""Replicas mode: how many canary pods give a step's share of traffic.

A Service spreads connections over its Ready endpoints, so with `s` Ready stable pods
and `c` Ready canary pods the canary's share is about c / (s + c). For a step of w %:

    c = min(maxCanaryReplicas, ceil(s * w / (100 - w)))

the smallest c whose share reaches w; rounding up overshoots w by less than one pod's
share, 1 / (s + c). With few stable pods even one canary pod is a big share (s=3, w=10:
c=1 is 25 %), so beyond a tolerance the canary holds rather than jump (Argo Rollouts
#2281: with 2 pods every step is 50 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Weights:
    replicas: int  # canary replicas to run for the step
    share: float  # the share those replicas give once Ready, percent
    reachable: bool  # the share is within the tolerance of the step


def canary_replicas(stable_ready: int, weight: int, max_replicas: int) -> int:
    if stable_ready <= 0:
        return 0
    # Integer arithmetic: a float ceil of an exact quotient can round up one too many.
    needed = -(-stable_ready * weight // (100 - weight))
    return min(max_replicas, needed)


def most_replicas(stable_ready: int, weight: int, overshoot: int) -> int:
    """The most canary replicas whose share stays within weight + overshoot: what a
    holding canary is scaled down to when the stable shrinks under it (an HPA, pods
    lost), so that it never ends up serving most of the traffic."""
    bound = weight + overshoot
    if bound >= 100:
        return 1_000_000
    return stable_ready * bound // (100 - bound)


def share(stable_ready: int, canary_ready: int) -> float:
    """The canary's share of the Ready pods, percent (0 when there are none)."""
    total = stable_ready + canary_ready
    return 100.0 * canary_ready / total if total > 0 else 0.0


def weights(stable_ready: int, weight: int, max_replicas: int, overshoot: int) -> Weights:
    c = canary_replicas(stable_ready, weight, max_replicas)
    got = share(stable_ready, c)
    reachable = c > 0 and got - weight <= overshoot + 1e-9
    return Weights(replicas=c, share=got, reachable=reachable)


def rounded(percent: float) -> float:
    return math.floor(percent * 10 + 0.5) / 10
