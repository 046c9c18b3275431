"""`modelguard backtest`: what the operator would have done over a past window.

Recorded metrics (one range query per rendered query, or a --replay fixture) replayed
through the operator's own evaluation and decision code (core.replay), with a
simulated clock. Exit codes: 0, 1 on an error, 2 when --expect is not met (for CI on
policy changes).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelguard.cli import plot, replay_view
from modelguard.cli.errors import CliError
from modelguard.cli.prometheus import PrometheusClient, read_token
from modelguard.cli.session import connect
from modelguard.cli.simulate import EXPECTATION_FAILED
from modelguard.cli.specfile import SpecFile, apply_sets, parsed, read_spec_file, sweep_variants
from modelguard.core.api import HistoryEntry, ModelDeploymentStatus
from modelguard.core.clock import parse_rfc3339
from modelguard.core.durations import format_duration, parse_duration
from modelguard.core.replay import Recorded, RecordedMetrics, Replay, Rollout, Scenario, SimClock
from modelguard.core.replay import recorded as recording
from modelguard.core.replay import replay as run_replay
from modelguard.core.replay.history import rollouts_from_history
from modelguard.core.replay.report import CAVEATS


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse_time(text: str, flag: str) -> datetime:
    """RFC 3339 (2026-11-20T10:00:00Z) or Unix seconds."""
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        return parse_rfc3339(text)
    except ValueError as exc:
        raise CliError(f"{flag} {text!r}: use RFC 3339, e.g. 2026-11-20T10:00:00Z") from exc


def _expectation(expect: str | None, version: str, label: str, result: Replay) -> list[str]:
    if expect is None:
        return []
    outcome = next((o for o in result.outcomes if o.version == version), None)
    rolled = outcome is not None and outcome.rolled_back_at is not None
    if expect == "rollback" and not rolled:
        return [f"{label}: expected {version} to be rolled back; it would not have been"]
    if expect == "no-rollback" and rolled:
        return [f"{label}: expected no rollback of {version}; it would have been rolled back"]
    return []


def _from_history(args: argparse.Namespace) -> tuple[dict[str, Any], list[HistoryEntry]]:
    """The live object's spec and status.history (--from-history NS/NAME)."""
    namespace, sep, name = str(args.from_history).partition("/")
    if not sep or not namespace or not name:
        raise CliError(f"--from-history {args.from_history!r}: use NAMESPACE/NAME")
    obj = connect(args).get(namespace, name)
    status = ModelDeploymentStatus.model_validate(obj.get("status") or {})
    return obj, list(status.history)


def _spec_file(args: argparse.Namespace) -> tuple[SpecFile, list[HistoryEntry]]:
    if args.from_history:
        obj, history = _from_history(args)
        meta = obj.get("metadata") or {}
        if args.file:  # a changed policy, judged on the recorded history
            return read_spec_file(args.file), history
        return SpecFile(
            path=args.from_history,
            raw_spec=dict(obj.get("spec") or {}),
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta.get("name") or "model"),
        ), history
    if args.file and args.version:
        return read_spec_file(args.file), []
    raise CliError("give -f MD.yaml and --version, or --from-history NS/NAME")


def _fixture(args: argparse.Namespace) -> tuple[dict[str, Recorded], timedelta | None, Any]:
    if not args.replay:
        return {}, None, {}
    try:
        fixture = json.loads(Path(args.replay).read_text(encoding="utf-8"))
        recordings, step = recording.load(fixture)
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(f"--replay {args.replay}: {exc}") from exc
    return recordings, step, fixture


def _rollouts(
    args: argparse.Namespace, history: list[HistoryEntry], start: datetime, end: datetime
) -> tuple[str | None, tuple[Rollout, ...]]:
    if args.from_history:
        recorded_stable, rollouts = rollouts_from_history(history, start, end)
        if not rollouts:
            raise CliError(f"{args.from_history}: no version went live between --from and --to")
        _err("from history: " + ", ".join(f"{r.version} at {r.at.isoformat()}" for r in rollouts))
        return args.stable_version or recorded_stable, rollouts
    live_at = parse_time(args.live_at, "--live-at") if args.live_at else start
    if not start <= live_at <= end:
        raise CliError("--live-at must be within --from .. --to")
    return args.stable_version, (Rollout(args.version, live_at),)


def _progress(label: str) -> Callable[[datetime, int], None]:
    def report(now: datetime, evaluations: int) -> None:
        _err(f"{label}: replayed {evaluations} evaluations, up to {now.isoformat()}")

    return report


def _client(
    args: argparse.Namespace, url: str, start: datetime, caveats: list[str]
) -> PrometheusClient:
    client = PrometheusClient(url, read_token(args.token_file), progress=_err)
    retention = client.retention()
    if retention is not None and datetime.now(UTC) - retention > start:
        caveats.insert(
            0,
            f"Prometheus keeps {format_duration(retention)}: the window starts before "
            "that, and the oldest data may be gone",
        )
    return client


# The replay keeps what it makes (a week's timeline: 20,000 steps with their checks), so
# at the default gen-0 threshold (700 allocations) the cyclic collector keeps re-scanning
# survivors: ~12% of a week's CPU. Plain data makes no garbage cycles to wait for, so
# the collector runs less often while the replay runs (the usual setting after it).
REPLAY_GC_THRESHOLD = 50_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The replay's GC setting while the block runs (REPLAY_GC_THRESHOLD)."""
    saved = gc.get_threshold()
    gc.set_threshold(REPLAY_GC_THRESHOLD, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def cmd_backtest(args: argparse.Namespace) -> int:
    spec_file, history = _spec_file(args)
    raw = apply_sets(spec_file.raw_spec, args.set)
    variants = [(label, parsed(r, spec_file.path)) for label, r in sweep_variants(raw, args.sweep)]
    analysis = variants[0][1].analysis
    if analysis is None:
        raise CliError(f"{spec_file.path}: the spec has no analysis: there is nothing to backtest")
    recordings, fixture_step, fixture = _fixture(args)
    start = parse_time(args.start or fixture.get("start") or "", "--from")
    end = parse_time(args.end or fixture.get("end") or "", "--to")
    if end <= start:
        raise CliError("--to must be after --from")
    stable, rollouts = _rollouts(args, history, start, end)
    step = fixture_step or parse_duration(args.step or analysis.interval)
    caveats = list(CAVEATS)
    client = (
        None
        if args.replay
        else _client(args, args.prometheus or analysis.prometheus.url, start, caveats)
    )

    async def fetch(promql: str) -> Recorded:
        assert client is not None
        return await asyncio.to_thread(client.query_range, promql, start, end, step)

    clock = SimClock(rollouts[0].at)
    source = RecordedMetrics(
        step=step, clock=clock, recordings=recordings, fetch=fetch if client else None
    )
    runs: list[tuple[str, Replay]] = []
    for label, spec in variants:
        scenario = Scenario(spec, rollouts, end, stable, spec_file.namespace, spec_file.name)
        clock.now = rollouts[0].at
        with fewer_collections():
            replayed = asyncio.run(run_replay(scenario, source, clock, _progress(label)))
        runs.append((label, replayed))
    if client is not None:
        _err(
            f"{client.range_queries} range queries ({client.range_requests} requests) "
            f"over {format_duration(end - start)} at a {format_duration(step)} step"
        )
        client.close()
    if args.record:
        data = recording.dump(source.recordings, step, start, end)
        Path(args.record).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        _err(f"recorded {len(source.recordings)} queries to {args.record}")
    _print(args, runs, caveats)
    expected = [args.version] if args.version else sorted({r.version for r in rollouts})
    failed = [
        p
        for label, r in runs
        for version in expected
        for p in _expectation(args.expect, version, label, r)
    ]
    for problem in failed:
        _err(f"expectation failed: {problem}")
    return EXPECTATION_FAILED if failed else 0


def _print(args: argparse.Namespace, runs: list[tuple[str, Replay]], caveats: list[str]) -> None:
    if args.output == "json":
        data = [dict(replay_view.as_json(r, caveats), variant=label) for label, r in runs]
        print(json.dumps(data if args.sweep else data[0], indent=2))
    elif args.sweep:
        print(replay_view.sweep_table(runs, args.healthy))
    else:
        print(replay_view.text(runs[0][1], full=args.full, caveats=caveats))
    if args.plot:
        plot.write(runs[0][1], args.plot)
        _err(f"chart written to {args.plot}")
