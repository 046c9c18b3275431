"""A simulate scenario: a spec, when each version goes live, and synthetic series per
check and version (promtool notation), turned into a replay Scenario and recordings.

The scenario file (YAML, read by the CLI; this module takes the parsed data):

    description: what the scenario shows
    start: 2026-11-20T10:00:00Z        # default 2026-01-01T00:00:00Z
    step: 30s                          # default: spec.analysis.interval
    stable: v1                         # running before the first rollout (known good)
    rollouts: [{version: v2, at: 0s}]  # an offset from start, or a timestamp
    spec: {...}                        # a ModelDeployment spec
    series:  {CHECK: {VERSION: "0.95x20 0.80x10"}}   # the check's value (and baseline)
    samples: {CHECK: {VERSION: "100x30"}}            # its sample count (minSamples)
    expect: {rolledBack: v2, at: 11m}  # or {rolledBack: none}; checked by the CLI

A check's series for a version answers its query rendered for that version and its
baselineQuery rendered with that version as {{stableVersion}} (the baseline is the same
quantity on the stable version). A query with no series given has no data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelguard.core.api import ModelDeploymentSpec
from modelguard.core.clock import parse_rfc3339
from modelguard.core.durations import parse_duration
from modelguard.core.promql import render
from modelguard.core.replay.engine import Replay, Rollout, Scenario
from modelguard.core.replay.notation import expand
from modelguard.core.replay.recorded import Recorded, Series
from modelguard.core.specparse import parse_offline_spec

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Simulation:
    scenario: Scenario
    recordings: dict[str, Recorded]
    step: timedelta
    description: str
    expect: Mapping[str, Any]


def moment(value: Any, start: datetime) -> datetime:
    """A time in a scenario: a Go duration after start, or a timestamp (UTC if naive)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        return start + parse_duration(text)
    except ValueError:
        return parse_rfc3339(text)


def _series(text: str, start: datetime, step: timedelta) -> tuple[Series, ...]:
    points = [
        ((start + i * step).timestamp(), v)
        for i, v in enumerate(expand(str(text)))
        if v is not None
    ]
    return (Series.of({}, points),) if points else ()


def build(data: Mapping[str, Any], spec_override: ModelDeploymentSpec | None = None) -> Simulation:
    """The simulation a parsed scenario describes; ValueError says what is wrong."""
    spec = spec_override or parse_offline_spec(data.get("spec"))
    if spec.analysis is None:
        raise ValueError("the scenario's spec has no analysis")
    start = moment(data.get("start", DEFAULT_START), DEFAULT_START)
    step = parse_duration(str(data.get("step") or spec.analysis.interval))
    namespace, name = str(data.get("namespace", "default")), str(data.get("name", "model"))
    rollouts = tuple(
        Rollout(str(r["version"]), moment(r.get("at", "0s"), start))
        for r in data.get("rollouts") or []
    )
    series: Mapping[str, Mapping[str, str]] = data.get("series") or {}
    samples: Mapping[str, Mapping[str, str]] = data.get("samples") or {}
    checks = {c.name: c for c in spec.analysis.checks}
    for key in [*series, *samples]:
        if key not in checks:
            raise ValueError(f"series for {key!r}: the spec has no check of that name")
    stable = data.get("stable")
    versions = {str(v) for per in [*series.values(), *samples.values()] for v in per}
    versions |= {r.version for r in rollouts} | ({str(stable)} if stable else set())
    recordings: dict[str, Recorded] = {}
    longest = 0
    for check in spec.analysis.checks:
        for version in sorted(versions):
            values = {"version": version, "stableVersion": version}
            values |= {"namespace": namespace, "name": name}
            value_text = (series.get(check.name) or {}).get(version)
            samples_text = (samples.get(check.name) or {}).get(version)
            for text in (value_text, samples_text):
                longest = max(longest, len(expand(str(text))) if text is not None else 0)
            value = Recorded(_series(value_text, start, step) if value_text else ())
            for template in (check.query, check.baseline_query):
                if template is not None:
                    recordings[render(template, values)] = value
            if check.samples_query is not None:
                count = _series(samples_text, start, step) if samples_text else ()
                recordings[render(check.samples_query, values)] = Recorded(count)
    end = moment(data["end"], start) if "end" in data else start + max(longest - 1, 0) * step
    scenario = Scenario(
        spec=spec,
        rollouts=rollouts,
        end=end,
        stable=str(stable) if stable else None,
        namespace=namespace,
        name=name,
    )
    return Simulation(
        scenario=scenario,
        recordings=recordings,
        step=step,
        description=str(data.get("description") or "").strip(),
        expect=data.get("expect") or {},
    )


def unmet(expect: Mapping[str, Any], replay: Replay, start: datetime) -> list[str]:
    """What of the scenario's `expect` the replay did not do (empty: all of it)."""
    if "rolledBack" not in expect:
        return []
    wanted = str(expect["rolledBack"])
    rolled = [o for o in replay.outcomes if o.rolled_back_at is not None]
    if wanted == "none":
        return [f"expected no rollback, got {o.version} rolled back" for o in rolled]
    hit = next((o for o in rolled if o.version == wanted), None)
    if hit is None:
        return [f"expected {wanted} to be rolled back; it was not"]
    if "at" in expect:
        at = moment(expect["at"], start)
        got = hit.rolled_back_at
        if got != at:
            got_text = got.isoformat() if got else "never"
            return [f"expected {wanted} rolled back at {at.isoformat()}, got {got_text}"]
    return []
