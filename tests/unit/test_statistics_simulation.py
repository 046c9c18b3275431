"""A seeded simulation of canaries judged at every look (issue 9's "done when" 2).

A/A canaries (both arms at 0.90) observed at 40 looks of 250 outcomes per arm: the
confidence-sequence gate must roll back at most alpha of them, even with no margin
(where any exclusion of 0 is a false rollback), while a pooled z-test re-checked at
every look at the same alpha rolls back more than 20%. A 4-point drop must be caught.
"""

from __future__ import annotations

import random

from benchmarks.canary_sim import Scenario, binomial, simulate

ALPHA = 0.05


def test_aa_canaries_are_rarely_rolled_back_by_the_sequence_and_often_by_a_naive_test() -> None:
    no_margin = simulate(Scenario(0.90, 0.90, looks=40, margin=0.0, alpha=ALPHA), 600, seed=9)
    with_margin = simulate(Scenario(0.90, 0.90, looks=40, margin=0.02, alpha=ALPHA), 300, seed=10)
    print(
        f"\nA/A, 40 looks x 250/arm, alpha {ALPHA}: confidence sequence rolled back "
        f"{no_margin.sequential_failed:.1%} (margin 0) and {with_margin.sequential_failed:.1%} "
        f"(margin 0.02, passed {with_margin.sequential_passed:.1%}); naive z-test "
        f"{no_margin.naive_failed:.1%}"
    )
    assert no_margin.sequential_failed <= ALPHA
    assert with_margin.sequential_failed <= ALPHA
    assert no_margin.naive_failed > 0.20
    # Non-inferiority within the margin is shown for (almost) every healthy canary.
    assert with_margin.sequential_passed > 0.9


def test_a_four_point_accuracy_drop_is_detected() -> None:
    drop = simulate(Scenario(0.90, 0.86, looks=60, margin=0.02, alpha=ALPHA), 150, seed=11)
    print(
        f"\n0.90 -> 0.86, margin 0.02: detected {drop.sequential_failed:.1%}, median "
        f"{drop.median_samples_to_fail} outcomes per arm"
    )
    assert drop.sequential_failed >= 0.95
    assert drop.median_samples_to_fail is not None
    assert drop.median_samples_to_fail < 8000


def test_the_binomial_sampler_has_the_right_mean_and_variance() -> None:
    # The simulation is only as good as its draws: n=250, p=0.9 -> mean 225, var 22.5.
    rng = random.Random(0)
    draws = [binomial(rng, 250, 0.9) for _ in range(20_000)]
    mean = sum(draws) / len(draws)
    var = sum((d - mean) ** 2 for d in draws) / (len(draws) - 1)
    assert abs(mean - 225) < 0.15
    assert abs(var - 22.5) < 1.0
    assert all(0 <= d <= 250 for d in draws)
    assert binomial(rng, 10, 0.0) == 0
    assert binomial(rng, 10, 1.0) == 10
