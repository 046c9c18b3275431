"""Statistics for comparing a candidate version with the stable one on a proportion
(accuracy, error rate): pure Python, `math` and `statistics.NormalDist` only.

The formulas are those of the reference (shared/reference/canary-and-statistics.md,
section 2.4), each function's docstring names its letter:

- A `ztest`: pooled two-proportion z-test (H0: equal rates);
- B `margin_test`: fixed-sample margin (non-inferiority) test, unpooled SE;
- C `sample_size`: samples per arm for a fixed-sample test;
- D `msprt`: the normal mixture SPRT (always-valid p-value);
- E `confidence_sequence`: the always-valid confidence-sequence gate (the default).
"""

from __future__ import annotations

from modelguard.core.statistics.arms import Arm, Decision, Direction
from modelguard.core.statistics.fixed import MarginTest, ZTest, margin_test, sample_size, ztest
from modelguard.core.statistics.msprt import Msprt, msprt
from modelguard.core.statistics.sequence import (
    SequentialTest,
    confidence_sequence,
    halfwidth,
    rho,
)

__all__ = [
    "Arm",
    "Decision",
    "Direction",
    "MarginTest",
    "Msprt",
    "SequentialTest",
    "ZTest",
    "confidence_sequence",
    "halfwidth",
    "margin_test",
    "msprt",
    "rho",
    "sample_size",
    "ztest",
]
