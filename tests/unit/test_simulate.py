"""`modelguard simulate`: the shipped scenarios decide what the rules say they must.

The expected times are worked out from the rules (warmup 2m, interval 30s, the series'
steps), not read from the scenario files' own expect: blocks; the CLI run checks those.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelguard.cli.main import main
from modelguard.cli.simulate import load, run_simulation
from modelguard.core.api import Verdict
from modelguard.core.reasons import CheckReason
from modelguard.core.replay.notation import expand

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "simulate"
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return START + timedelta(minutes=m)


# scenario -> (version rolled back or None, when, evaluations of that version before it)
TABLE = {
    # Failed at 5m, 5m30s (forgiven by the pass at 6m), then 9m, 9m30s, 10m.
    "consecutive-failures": ("v2", minutes(10), 17),
    # No data from 3m: Inconclusive, held forever.
    "no-data-hold": (None, None, 32),  # 36 steps end at 17m30s: 2m..17m30s
    # The same, but noData fail: Failed at 3m, 3m30s, 4m.
    "no-data-fail": ("v2", minutes(4), 5),
    # 10 samples a step: below 100 until 5m (Inconclusive, even under noData fail).
    "min-samples": ("v2", minutes(6), 9),
    # Failed at 2m, 2m30s, 3m.
    "quarantine": ("v2", minutes(3), 3),
}


def test_every_shipped_scenario_is_in_the_table() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.yaml")} == set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_scenario_decides_what_the_rules_say(name: str) -> None:
    version, at, evaluations = TABLE[name]
    ((_, simulation),) = load(str(EXAMPLES / f"{name}.yaml"))
    result = run_simulation(simulation)
    first = result.outcomes[0]
    assert first.version == "v2"
    assert first.rolled_back_at == at
    if version is not None:
        assert first.rolled_back_to == "v1"
    assert first.evaluations == evaluations
    assert main(["simulate", str(EXAMPLES / f"{name}.yaml")]) == 0  # its own expect: holds too


def test_min_samples_is_inconclusive_until_the_samples_are_there() -> None:
    ((_, simulation),) = load(str(EXAMPLES / "min-samples.yaml"))
    steps = [s for s in run_simulation(simulation).steps if s.version == "v2"]
    early = [s for s in steps if s.time < minutes(5)]
    assert early
    assert all(s.verdict is Verdict.INCONCLUSIVE for s in early)
    assert {s.checks[0].reason for s in early} == {CheckReason.TOO_FEW_SAMPLES}
    assert all(s.consecutive_failures == 0 for s in early)


def test_quarantine_holds_against_the_spec_and_a_later_request() -> None:
    ((_, simulation),) = load(str(EXAMPLES / "quarantine.yaml"))
    result = run_simulation(simulation)
    v2_times = [s.time for s in result.steps if s.version == "v2"]
    assert max(v2_times) == minutes(3)  # never evaluated again: never ran again
    running = {s.version for s in result.steps if minutes(3) < s.time < minutes(10)}
    assert running == {"v1"}  # the spec still says v2; the rollback holds
    v3 = result.outcomes[1]
    assert v3.promoted_at == minutes(22)  # live 10m, first pass 12m, promoteAfter 10m
    assert result.outcomes[2].quarantined
    assert {s.version for s in result.steps if s.time >= minutes(25)} == {"v3"}


def test_a_failed_expectation_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "consecutive-failures.yaml")
    assert main(["simulate", path, "--set", "analysis.failureThreshold=5"]) == 2
    assert "expected v2 rolled back at 2026-11-20T10:10:00+00:00, got 2026-11-20T10:11:00" in (
        capsys.readouterr().err
    )


def test_sweep_prints_one_row_per_variant(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "consecutive-failures.yaml")
    assert main(["simulate", path, "--sweep", "analysis.failureThreshold=1,3,5"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split()[:4] for r in rows] == [
        ["analysis.failureThreshold=1", "v2", "10:05:00", "+5m"],
        ["analysis.failureThreshold=3", "v2", "10:10:00", "+10m"],
        ["analysis.failureThreshold=5", "v2", "10:11:00", "+11m"],
    ]


def test_an_invalid_variant_is_refused_with_the_operator_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = str(EXAMPLES / "consecutive-failures.yaml")
    assert main(["simulate", path, "--set", "analysis.failureThreshold=0"]) == 1
    assert "spec.analysis.failureThreshold" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0.95x2", [0.95, 0.95, 0.95]),  # a x n: n+1 values, as promtool
        ("1+2x3", [1.0, 3.0, 5.0, 7.0]),
        ("5-1x2", [5.0, 4.0, 3.0]),
        ("_x2 1 _ stale", [None, None, 1.0, None, None]),  # _ x n: n values
    ],
)
def test_expanding_notation_counts_like_promtool(text: str, values: list[float | None]) -> None:
    assert expand(text) == values


@pytest.mark.parametrize("text", ["1+2", "x3", "0.9y2", "abc"])
def test_a_bad_term_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="bad series term"):
        expand(text)
