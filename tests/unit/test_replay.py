"""The replay engine: recorded series through the operator's own decision code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelguard.core.api import ModelDeploymentSpec, Verdict
from modelguard.core.ports import QueryResult
from modelguard.core.replay import (
    Recorded,
    RecordedMetrics,
    Rollout,
    Scenario,
    Series,
    SimClock,
    engine,
    replay,
    version_spec,
)
from modelguard.core.replay import recorded as rec
from modelguard.core.replay.report import summary

T = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
STEP = timedelta(seconds=30)
ACC = 'acc{{version="{v}"}}'


def spec(**analysis: Any) -> ModelDeploymentSpec:
    check: dict[str, Any] = {"name": "accuracy", "query": 'acc{version="{{version}}"}', "min": 0.9}
    check |= analysis.pop("check", {})
    return ModelDeploymentSpec.model_validate(
        {
            "targetRef": {"name": "fraud"},
            "version": {"modelTag": "v1"},
            "analysis": {"prometheus": {"url": "http://p:9090"}, "checks": [check], **analysis},
        }
    )


def series(values: list[float], start: datetime = T) -> Recorded:
    return Recorded(
        (Series.of({}, [((start + i * STEP).timestamp(), v) for i, v in enumerate(values)]),)
    )


class Spy(RecordedMetrics):
    """The recorded source, also noting what was asked and for when."""

    asked: list[tuple[str, datetime | None]]

    async def query(self, promql: str, at: datetime | None = None) -> QueryResult:
        self.asked.append((promql, at))
        return await super().query(promql, at)


async def run(sp: ModelDeploymentSpec, recordings: dict[str, Recorded], minutes: int = 30) -> Any:
    clock = SimClock(T)
    source = Spy(step=STEP, clock=clock, recordings=recordings)
    source.asked = []
    scenario = Scenario(sp, (Rollout("v2", T),), T + timedelta(minutes=minutes), stable="v1")
    return await replay(scenario, source, clock), source


def test_series_reads_the_last_step_at_or_before_the_time() -> None:
    s = Series.of({}, [(100.0, 1.0), (130.0, 2.0)])
    assert s.at(100.0, 30) == 1.0
    assert s.at(129.0, 30) == 1.0
    assert s.at(130.0, 30) == 2.0
    assert s.at(99.0, 30) is None  # before the first point
    assert s.at(160.0, 30) is None  # a whole step after the last: no data
    two = Recorded((s, Series.of({"pod": "b"}, [(100.0, 5.0)])))
    at = datetime.fromtimestamp(100, UTC)
    assert two.at(at, STEP) == QueryResult(series=2)
    assert two.at(at + STEP, STEP) == QueryResult(value=2.0, series=1)
    bad = Recorded(error="bad PromQL: x", invalid_query=True)
    assert bad.at(at, STEP) == QueryResult(error="bad PromQL: x", invalid_query=True)


async def test_three_failures_roll_back_at_the_third() -> None:
    recordings = {
        ACC.format(v="v2"): series([0.95] * 20 + [0.80] * 40),
        ACC.format(v="v1"): series([0.95] * 60),
    }
    result, _ = await run(spec(), recordings)
    (v2,) = result.outcomes
    # Warmup 2m, then every 30s; 0.80 from +10m: Failed at 10m, 10m30s, 11m.
    assert v2.rolled_back_at == T + timedelta(minutes=11)
    assert v2.rolled_back_to == "v1"
    assert v2.evaluations == 19
    assert v2.verdicts == {"Passed": 16, "Failed": 3, "Inconclusive": 0}
    failing = [s for s in result.steps if s.verdict is Verdict.FAILED]
    assert [s.consecutive_failures for s in failing] == [1, 2, 3]
    assert failing[-1].decision == "RolledBack"
    assert failing[-1].since_live == timedelta(minutes=11)
    assert summary(result) == [
        "v2 would have been rolled back to v1 at 10:16:00, 11m after going live "
        "(first Failed 10:15:00); 19 evaluations: 16 Passed, 3 Failed, 0 Inconclusive"
    ]
    # The operator goes on guarding v1, the version it rolled back to.
    after = [s for s in result.steps if s.time > T + timedelta(minutes=11)]
    assert after
    assert {s.version for s in after} == {"v1"}
    assert after[0].time == T + timedelta(minutes=13)  # v1's own warmup


async def test_a_canary_or_an_engaged_kill_switch_in_the_spec_replays_as_in_place() -> None:
    """Neither is replayed (report.CAVEATS): the checks and the policy still are, and
    the outcome is the in-place one rather than a window of "nothing happened"."""
    recordings = {
        ACC.format(v="v2"): series([0.95] * 20 + [0.80] * 40),
        ACC.format(v="v1"): series([0.95] * 60),
    }
    plain, _ = await run(spec(), recordings)
    raw = spec().model_dump(by_alias=True, exclude_none=True)
    raw["canary"] = {"steps": [10, 50]}
    raw["killSwitch"] = {"enabled": True, "reason": "drill"}
    both, _ = await run(ModelDeploymentSpec.model_validate(raw), recordings)
    assert both.outcomes == plain.outcomes
    assert both.outcomes[0].rolled_back_at == T + timedelta(minutes=11)


async def test_the_baseline_is_read_when_the_stable_version_last_served() -> None:
    relative = {
        "check": {
            "min": None,
            "baselineQuery": 'acc{version="{{stableVersion}}"}',
            "maxDrop": 0.05,
        }
    }
    recordings = {
        ACC.format(v="v2"): series([0.90] * 60),
        ACC.format(v="v1"): series([0.99] * 60),
    }
    result, source = await run(spec(**relative), recordings)
    # v1 stopped serving when v2 went live: its baseline is read as of then, always
    # (at=None is "now": v1's own value query, once it runs again after the rollback).
    baseline_times = {at for q, at in source.asked if q == ACC.format(v="v1") and at}
    assert baseline_times == {T}
    (v2,) = result.outcomes
    assert v2.rolled_back_at == T + timedelta(minutes=3)  # 0.09 drop > 0.05 from the start
    assert result.steps[0].checks[0].baseline == 0.99


async def test_no_data_holds_and_too_few_samples_never_fails() -> None:
    result, _ = await run(spec(noData="hold"), {}, minutes=20)
    (v2,) = result.outcomes
    assert v2.rolled_back_at is None
    assert v2.verdicts["Inconclusive"] == v2.evaluations > 0
    result, _ = await run(spec(noData="fail"), {}, minutes=20)
    assert result.outcomes[0].rolled_back_at == T + timedelta(minutes=3)


async def test_a_fetching_source_asks_each_query_once() -> None:
    fetched: list[str] = []

    async def fetch(promql: str) -> Recorded:
        fetched.append(promql)
        return series([0.95] * 80)

    clock = SimClock(T)
    source = RecordedMetrics(step=STEP, clock=clock, fetch=fetch)
    scenario = Scenario(spec(), (Rollout("v2", T),), T + timedelta(minutes=30), stable="v1")
    result = await replay(scenario, source, clock)
    assert result.outcomes[0].evaluations > 40
    assert fetched == [ACC.format(v="v2")]


def test_a_recording_survives_json() -> None:
    recordings = {
        "a": Recorded((Series.of({"x": "1"}, [(1.0, 0.5), (31.0, float("nan"))]),)),
        "b": Recorded(error="bad PromQL: nope", invalid_query=True),
    }
    data = json.loads(json.dumps(rec.dump(recordings, STEP, T, T + STEP)))
    loaded, step = rec.load(data)
    assert step == STEP
    assert loaded["b"] == recordings["b"]
    assert loaded["a"].series[0].times == (1.0, 31.0)
    assert loaded["a"].series[0].values[0] == 0.5
    assert loaded["a"].at(datetime.fromtimestamp(31, UTC), STEP).usable is False  # NaN


def test_version_spec_names_the_version_the_way_the_spec_does() -> None:
    tagged = spec()
    assert version_spec(tagged, "v7").model_tag == "v7"
    imaged = tagged.model_copy(
        update={"version": tagged.version.model_copy(update={"model_tag": None, "image": "r/m:1"})}  # type: ignore[union-attr]
    )
    assert version_spec(imaged, "2.0").image == "r/m:2.0"


async def test_a_replay_cut_short_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_RECONCILES", 10)
    result, _ = await run(spec(), {ACC.format(v="v2"): series([0.95] * 60)})
    assert result.stopped_at is not None
    assert result.stopped_at < T + timedelta(minutes=30)
    assert summary(result)[-1].startswith(f"the replay stopped at {result.stopped_at:%H:%M:%S}")
    full, _ = await run(spec(), {ACC.format(v="v2"): series([0.95] * 60)}, minutes=5)
    assert full.stopped_at is None


async def test_progress_is_reported_for_long_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "PROGRESS_EVERY", 10)
    heard: list[int] = []
    clock = SimClock(T)
    source = RecordedMetrics(
        step=STEP, clock=clock, recordings={ACC.format(v="v2"): series([0.95] * 80)}
    )
    scenario = Scenario(spec(), (Rollout("v2", T),), T + timedelta(minutes=30), stable="v1")
    result = await replay(scenario, source, clock, lambda now, n: heard.append(n))
    assert heard == [10, 20, 30, 40, 50][: len(result.steps) // 10]
