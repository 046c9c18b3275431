"""A seeded simulation of canaries judged look after look, shared by the fast-tier test
(tests/unit/test_statistics_simulation.py) and the benchmark (benchmarks/sequential.py).

Each run draws one path of cumulative outcomes per arm (`per_look` new labelled outcomes
per arm at each look) and judges every look of that same path with two gates:

- the confidence-sequence gate (E), as the operator runs it: Failed means rollback;
- a naive pooled z-test (A) re-checked at every look, one-sided at the same alpha;
- the margin test (B) as `test: fixed` runs it: from the look where both arms hold
  `expected_samples` outcomes together, re-tested at every later look;
- the one-sided mixture SPRT (D) with tau = `tau`, against the same margin.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

from modelguard.core.statistics import (
    Arm,
    Decision,
    confidence_sequence,
    margin_test,
    msprt,
    ztest,
)


@dataclass(frozen=True)
class Scenario:
    p_stable: float
    p_canary: float
    looks: int = 40
    per_look: int = 250  # new outcomes per arm and look
    margin: float = 0.02
    alpha: float = 0.05
    expected_samples: int = 10_000
    tau: float = 0.02


@dataclass(frozen=True)
class Run:
    """Per arm samples seen at the first look each gate rolled back (None: never)."""

    sequential_failed_at: int | None
    naive_failed_at: int | None
    sequential_passed_at: int | None
    fixed_failed_at: int | None = None
    msprt_failed_at: int | None = None


@dataclass(frozen=True)
class Rates:
    runs: int
    sequential_failed: float  # share of runs the CS gate failed at some look
    naive_failed: float  # ... and the re-checked z-test
    sequential_passed: float
    median_samples_to_fail: float | None  # per arm, over the runs the CS failed
    fixed_failed: float = 0.0
    msprt_failed: float = 0.0


def binomial(rng: random.Random, n: int, p: float) -> int:
    """An exact Binomial(n, p) draw that skips geometrically between the rarer outcomes
    (a few dozen draws for n = 250, p = 0.9, where n Bernoulli draws would be 250)."""
    rare = min(p, 1 - p)
    if rare <= 0:
        return 0 if p <= 0 else n
    log_q = math.log1p(-rare)
    count, position = 0, 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position > n:
            break
        count += 1
    return count if p == rare else n - count


def simulate_run(rng: random.Random, s: Scenario, *, all_gates: bool = False) -> Run:
    """One path; `all_gates` also judges it by the fixed test and the mSPRT."""
    x_c = x_s = n = 0
    seq_failed = naive_failed = seq_passed = fixed_failed = msprt_failed = None
    for _ in range(s.looks):
        x_c += binomial(rng, s.per_look, s.p_canary)
        x_s += binomial(rng, s.per_look, s.p_stable)
        n += s.per_look
        canary, stable = Arm(x_c, n), Arm(x_s, n)
        if seq_failed is None:
            verdict = confidence_sequence(canary, stable, s.margin, s.alpha, s.expected_samples)
            if verdict.decision is Decision.FAILED:
                seq_failed = n
            elif verdict.decision is Decision.PASSED and seq_passed is None:
                seq_passed = n
        if naive_failed is None and ztest(canary, stable).p_worse < s.alpha:
            naive_failed = n
        if all_gates:
            if (
                fixed_failed is None
                and 2 * n >= s.expected_samples
                and margin_test(canary, stable, s.margin, s.alpha).decision is Decision.FAILED
            ):
                fixed_failed = n
            if msprt_failed is None and msprt(canary, stable, s.tau, s.alpha, s.margin).reject:
                msprt_failed = n
        elif seq_failed is not None and naive_failed is not None:
            break
    return Run(seq_failed, naive_failed, seq_passed, fixed_failed, msprt_failed)


def simulate(s: Scenario, runs: int, seed: int, *, all_gates: bool = False) -> Rates:
    rng = random.Random(seed)
    results = [simulate_run(rng, s, all_gates=all_gates) for _ in range(runs)]
    failed_at = [r.sequential_failed_at for r in results if r.sequential_failed_at is not None]
    return Rates(
        runs=runs,
        sequential_failed=len(failed_at) / runs,
        naive_failed=sum(r.naive_failed_at is not None for r in results) / runs,
        sequential_passed=sum(r.sequential_passed_at is not None for r in results) / runs,
        median_samples_to_fail=statistics.median(failed_at) if failed_at else None,
        fixed_failed=sum(r.fixed_failed_at is not None for r in results) / runs,
        msprt_failed=sum(r.msprt_failed_at is not None for r in results) / runs,
    )
