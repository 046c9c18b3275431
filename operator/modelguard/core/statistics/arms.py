"""The two arms of a comparison and the words for its outcome."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    """Which way is bad for the canary."""

    DECREASE = "decrease"  # bad = canary lower (accuracy, success rate)
    INCREASE = "increase"  # bad = canary higher (error rate)


class Decision(StrEnum):
    FAILED = "Failed"  # worse than the margin, with confidence
    PASSED = "Passed"  # within the margin, with confidence
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class Arm:
    """`successes` out of `total` outcomes. Counts from PromQL's increase() are
    extrapolated, hence floats; the formulas only need them to be non-negative."""

    successes: float
    total: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.successes) and math.isfinite(self.total)):
            raise ValueError("counts must be finite")
        if self.total <= 0 or self.successes < 0 or self.successes > self.total:
            raise ValueError(f"need 0 <= successes <= total, total > 0; got {self}")

    @property
    def rate(self) -> float:
        return self.successes / self.total

    @property
    def degenerate(self) -> bool:
        """All successes or none: the plug-in variance p(1-p)/n is 0, which would make
        any difference look certain."""
        return self.successes in (0, self.total)

    def agresti_caffo(self) -> Arm:
        """One success and one failure added (Agresti and Caffo, 2000)."""
        return Arm(self.successes + 1, self.total + 2)

    @property
    def variance(self) -> float:
        """p(1-p)/n: the variance of the rate."""
        p = self.rate
        return p * (1 - p) / self.total


def adjusted(canary: Arm, stable: Arm) -> tuple[Arm, Arm]:
    """Both arms Agresti-Caffo adjusted when either is degenerate (rate 0 or 1), as
    statsmodels' method='agresti-caffo' does; unchanged otherwise (B)."""
    if canary.degenerate or stable.degenerate:
        return canary.agresti_caffo(), stable.agresti_caffo()
    return canary, stable


def oriented(difference: float, direction: Direction) -> float:
    """The difference canary - stable turned so that negative is bad."""
    return difference if direction is Direction.DECREASE else -difference
