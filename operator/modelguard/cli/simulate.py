"""`modelguard simulate SCENARIO.yaml`: synthetic series (promtool's expanding
notation) fed straight into the replay engine, no Prometheus. The deterministic twin of
`modelguard backtest`, for docs and tests: examples/simulate/ shows each rule."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from modelguard.cli import plot, replay_view
from modelguard.cli.errors import CliError
from modelguard.cli.specfile import apply_sets, parsed, read_yaml, sweep_variants
from modelguard.core.replay import RecordedMetrics, Replay, SimClock, replay
from modelguard.core.replay.report import CAVEATS
from modelguard.core.replay.scenario import Simulation, build, unmet

EXPECTATION_FAILED = 2

# Synthetic data has no retention, relabelling or extrapolation to warn about.
SIM_CAVEATS = (CAVEATS[0], CAVEATS[2])


def run_simulation(simulation: Simulation) -> Replay:
    scenario = simulation.scenario
    clock = SimClock(scenario.rollouts[0].at if scenario.rollouts else scenario.end)
    source = RecordedMetrics(
        step=simulation.step, clock=clock, recordings=dict(simulation.recordings)
    )
    return asyncio.run(replay(scenario, source, clock))


def load(
    path: str, sets: Sequence[str] = (), sweep: str | None = None
) -> list[tuple[str, Simulation]]:
    docs = read_yaml(path)
    data = docs[0] if docs else None
    if not isinstance(data, dict):
        raise CliError(f"{path}: not a scenario (a mapping with spec, rollouts, series)")
    raw = apply_sets(dict(data.get("spec") or {}), sets)
    out = []
    for label, variant in sweep_variants(raw, sweep):
        spec = parsed(variant, path)
        try:
            out.append((label, build(data, spec)))
        except (ValueError, KeyError, TypeError) as exc:
            raise CliError(f"{path}: {exc}") from exc
    return out


def cmd_simulate(args: argparse.Namespace) -> int:
    runs = [
        (label, sim, run_simulation(sim))
        for label, sim in load(args.scenario, args.set, args.sweep)
    ]
    failed: list[str] = []
    if not args.sweep:  # the scenario's expect: is about the policy as written
        _, sim, result = runs[0]
        start = sim.scenario.rollouts[0].at if sim.scenario.rollouts else sim.scenario.end
        failed = unmet(sim.expect, result, start)
    if args.output == "json":
        data = [dict(replay_view.as_json(r, SIM_CAVEATS), variant=label) for label, _, r in runs]
        print(json.dumps(data if args.sweep else data[0], indent=2))
    elif args.sweep:
        print(replay_view.sweep_table([(label, r) for label, _, r in runs]))
    else:
        _, sim, result = runs[0]
        if sim.description:
            print(sim.description + "\n")
        print(replay_view.text(result, full=args.full, caveats=SIM_CAVEATS))
    if args.plot:
        plot.write(runs[0][2], args.plot)
        print(f"chart written to {args.plot}", file=sys.stderr)
    for problem in failed:
        print(f"expectation failed: {problem}", file=sys.stderr)
    return EXPECTATION_FAILED if failed else 0
