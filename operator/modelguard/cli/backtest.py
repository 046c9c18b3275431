"""`modelguard backtest`: what the operator would have done over a past window.

Recorded metrics (one range query per rendered query, or a --replay fixture) replayed
through the operator's own evaluation and decision code (core.replay), with a
simulated clock. Exit codes: 0, 1 on an error, 2 when --expect is not met (for CI on
policy changes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelguard.cli import plot, replay_view
from modelguard.cli.errors import CliError
from modelguard.cli.prometheus import PrometheusClient
from modelguard.cli.simulate import EXPECTATION_FAILED, add_policy_options
from modelguard.cli.specfile import apply_sets, parsed, read_spec_file, sweep_variants
from modelguard.core.durations import format_duration, parse_duration
from modelguard.core.replay import Recorded, RecordedMetrics, Replay, Rollout, Scenario, SimClock
from modelguard.core.replay import recorded as recording
from modelguard.core.replay import replay as run_replay
from modelguard.core.replay.report import CAVEATS


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse_time(text: str, flag: str) -> datetime:
    """RFC 3339 (2026-11-20T10:00:00Z) or Unix seconds."""
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"{flag} {text!r}: use RFC 3339, e.g. 2026-11-20T10:00:00Z") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_token(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CliError(f"--token-file {path}: {exc.strerror or exc}") from exc


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


def cmd_backtest(args: argparse.Namespace) -> int:
    spec_file = read_spec_file(args.file)
    raw = apply_sets(spec_file.raw_spec, args.set)
    variants = [(label, parsed(r, args.file)) for label, r in sweep_variants(raw, args.sweep)]
    base = variants[0][1]
    if base.analysis is None:
        raise CliError(f"{args.file}: the spec has no analysis: there is nothing to backtest")

    recordings: dict[str, Recorded] = {}
    fixture_step: timedelta | None = None
    fixture: dict[str, Any] = {}
    if args.replay:
        try:
            fixture = json.loads(Path(args.replay).read_text(encoding="utf-8"))
            recordings, fixture_step = recording.load(fixture)
        except (OSError, ValueError, KeyError) as exc:
            raise CliError(f"--replay {args.replay}: {exc}") from exc
    start = parse_time(args.start or fixture.get("start") or "", "--from")
    end = parse_time(args.end or fixture.get("end") or "", "--to")
    if end <= start:
        raise CliError("--to must be after --from")
    live_at = parse_time(args.live_at, "--live-at") if args.live_at else start
    if not start <= live_at <= end:
        raise CliError("--live-at must be within --from .. --to")
    step = fixture_step or parse_duration(args.step or base.analysis.interval)

    client: PrometheusClient | None = None
    caveats = list(CAVEATS)
    if not args.replay:
        url = args.prometheus or base.analysis.prometheus.url
        client = PrometheusClient(url, _read_token(args.token_file), progress=_err)
        retention = client.retention()
        if retention is not None and datetime.now(UTC) - retention > start:
            caveats.insert(
                0,
                f"Prometheus keeps {format_duration(retention)}: the window starts before "
                "that, and the oldest data may be gone",
            )

    async def fetch(promql: str) -> Recorded:
        assert client is not None
        return await asyncio.to_thread(client.query_range, promql, start, end, step)

    clock = SimClock(live_at)
    source = RecordedMetrics(
        step=step, clock=clock, recordings=recordings, fetch=fetch if client else None
    )
    runs: list[tuple[str, Replay]] = []
    for label, spec in variants:
        scenario = Scenario(
            spec=spec,
            rollouts=(Rollout(args.version, live_at),),
            end=end,
            stable=args.stable_version,
            namespace=spec_file.namespace,
            name=spec_file.name,
        )
        clock.now = live_at
        runs.append((label, asyncio.run(run_replay(scenario, source, clock))))
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
    failed = [p for label, r in runs for p in _expectation(args.expect, args.version, label, r)]
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


def add_command(commands: argparse._SubParsersAction[Any]) -> None:
    bt = commands.add_parser(
        "backtest",
        help="replay a past window of Prometheus metrics through the operator's decisions",
        description="What would the operator have decided? Replays a past window of "
        "metrics through its own evaluation and decision code. Exit code 2 when --expect "
        "is not met.",
    )
    bt.add_argument("-f", "--file", required=True, metavar="MD.yaml", help="the ModelDeployment")
    bt.add_argument("--prometheus", metavar="URL", help="default: spec.analysis.prometheus.url")
    bt.add_argument("--token-file", metavar="PATH", help="a bearer token for Prometheus")
    bt.add_argument("--from", dest="start", metavar="T", help="window start (RFC 3339)")
    bt.add_argument("--to", dest="end", metavar="T", help="window end (RFC 3339)")
    bt.add_argument("--live-at", metavar="T", help="when --version went live (default: --from)")
    bt.add_argument("--version", required=True, help="the version that went live")
    bt.add_argument(
        "--stable-version",
        metavar="VERSION",
        help="what ran before it (known good: the rollback target)",
    )
    bt.add_argument("--step", metavar="DURATION", help="default: analysis.interval")
    bt.add_argument(
        "--expect", choices=["rollback", "no-rollback"], help="exit 2 unless this happens"
    )
    bt.add_argument("--record", metavar="FILE", help="write the fetched series (JSON)")
    bt.add_argument("--replay", metavar="FILE", help="use a recording, no Prometheus")
    bt.add_argument(
        "--healthy",
        action="append",
        default=[],
        metavar="VERSION",
        help="a version known to be healthy: its rollbacks count as false (repeatable)",
    )
    add_policy_options(bt)
    bt.set_defaults(handler=cmd_backtest)
