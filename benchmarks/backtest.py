"""How long `modelguard backtest` takes for a week at a 30 s step against a local
Prometheus, and how many range queries it makes.

    PYTHONPATH=operator:testenv python benchmarks/backtest.py [--repeats 3] [--output STEM]

(PYTHONPATH: the in-process figures then measure this checkout's code.)

What runs: the reference history of the e2e test (``modelguard_testenv.fraud_history``:
v1 healthy all week, v2 degrading 20 minutes after it went live), here with v2 live at
the start of the week, backfilled into a fresh TSDB by promtool and served by Debian's
Prometheus (``PrometheusServer(data_dir=...)``). Each run is the CLI as a user starts it
(``python -m modelguard.cli backtest ...``, a fresh process, -o json), timed from process
start to exit: fetching the week (each rendered query once, chunked under the
11,000-point limit), replaying every evaluation of the week through the operator's
decision code, printing. The run is checked (v2 rolled back at the degradation + 60 s)
and its stderr read for the number of range queries and HTTP requests.

One more run records what it fetched (--record); that recording is then replayed
in this process to split the CPU time: the whole replay (checks + decisions) and
plan() alone, called again on each of the week's inputs (evaluations per second).

Results: ``benchmarks/results/backtest.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelguard_testenv import PrometheusServer
from modelguard_testenv.fraud_history import fraud_history, model_deployment

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0  # the bar: a week at 30 s in under 10 s


def decision_figures(md: Path, recording: Path, version: str, stable: str) -> dict[str, Any]:
    """CPU seconds of the replay of `recording` in this process, and of plan() alone on
    the same inputs, with evaluations per second of each."""
    from modelguard.cli.backtest import fewer_collections  # noqa: PLC0415
    from modelguard.cli.specfile import parsed, read_spec_file  # noqa: PLC0415
    from modelguard.core.decision import plan  # noqa: PLC0415
    from modelguard.core.replay import (  # noqa: PLC0415
        RecordedMetrics,
        Rollout,
        Scenario,
        SimClock,
        engine,
    )
    from modelguard.core.replay import recorded as recorded_module  # noqa: PLC0415

    fixture = json.loads(recording.read_text())
    recordings, step = recorded_module.load(fixture)
    spec_file = read_spec_file(str(md))
    spec = parsed(spec_file.raw_spec, spec_file.path)
    start = datetime.fromisoformat(fixture["start"])
    end = datetime.fromisoformat(fixture["end"])
    inputs: list[tuple[Any, ...]] = []

    def recording_plan(*args: Any) -> Any:
        inputs.append(args)
        return plan(*args)

    clock = SimClock(start)
    source = RecordedMetrics(step=step, clock=clock, recordings=recordings)
    scenario = Scenario(spec, (Rollout(version, start),), end, stable)
    # As the CLI runs it (its GC setting). Timed as is, then once more, untimed, with the
    # engine's own name for plan() replaced to collect the inputs (keeping them all
    # makes that run slower).
    with fewer_collections():
        began = time.process_time()
        result = asyncio.run(engine.replay(scenario, source, clock))
        replay_cpu = time.process_time() - began
        vars(engine)["plan"] = recording_plan
        try:
            asyncio.run(engine.replay(scenario, source, clock))
        finally:
            vars(engine)["plan"] = plan
        began = time.process_time()
        for args in inputs:
            plan(*args)
        plan_cpu = time.process_time() - began
    evaluations = len(result.steps)
    return {
        "evaluations": evaluations,
        "replay_cpu_seconds": round(replay_cpu, 3),
        "replay_evaluations_per_second": round(evaluations / replay_cpu),
        "plan_calls": len(inputs),
        "plan_cpu_seconds": round(plan_cpu, 3),
        "plan_calls_per_second": round(len(inputs) / plan_cpu),
    }


def run_once(md: Path, args: list[str]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'operator'}:{REPO / 'testenv'}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "modelguard.cli", "backtest", "-f", str(md), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"backtest failed ({done.returncode}): {done.stderr}")
    match = re.search(r"(\d+) range queries \((\d+) requests\)", done.stderr)
    if match is None:
        raise SystemExit(f"no query count in the backtest's stderr: {done.stderr}")
    result = json.loads(done.stdout)
    return {
        "seconds": seconds,
        # The CLI's own CPU: on a shared machine, wall time also counts others' load.
        "cpu_seconds": cpu,
        "range_queries": int(match.group(1)),
        "requests": int(match.group(2)),
        "evaluations": len(result["timeline"]),
        "outcome": result["outcomes"][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "backtest"))
    parser.add_argument(
        "--note", action="append", default=[], help="a paragraph to add to the .md (repeatable)"
    )
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelguard-backtest-bench-") as tmp:
        work = Path(tmp)
        began = time.monotonic()
        history = fraud_history(work / "data", work, live_before_end=timedelta(days=7))
        backfill_seconds = time.monotonic() - began
        with PrometheusServer(
            data_dir=work / "data", retention="30d", workdir=work / "prom"
        ) as prom:
            md = work / "md.yaml"
            md.write_text(model_deployment(prom.url))
            args = ["--from", history.start.isoformat(), "--to", history.end.isoformat()]
            args += ["--version", "v2", "--stable-version", "v1", "-o", "json"]
            runs = [run_once(md, args) for _ in range(opts.repeats)]
            recording = work / "recording.json"  # an extra run, not timed (writes a file)
            run_once(md, [*args, "--record", str(recording)])
        decision = decision_figures(md, recording, "v2", "v1")
    expected = (history.degrades_at + timedelta(seconds=60)).isoformat()
    for run in runs:
        if run["outcome"]["rolledBackAt"] != expected:
            raise SystemExit(f"wrong decision: {run['outcome']} (expected rollback {expected})")
    median = statistics.median(r["seconds"] for r in runs)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load": os.getloadavg(),
        },
        "window": {"days": 7, "step_seconds": 30, "points_per_series": 20_161},
        "backfill_seconds": round(backfill_seconds, 2),
        "runs": [{k: v for k, v in r.items() if k != "outcome"} for r in runs],
        "median_seconds": round(median, 3),
        "in_process": decision,
        "target_seconds": TARGET_SECONDS,
        "under_target": median < TARGET_SECONDS,
    }
    Path(f"{opts.output}.json").write_text(json.dumps(report, indent=2) + "\n")
    first = runs[0]
    lines = [
        "# Backtest: a week at a 30 s step against a local Prometheus",
        "",
        f"Measured {report['when']} on {os.cpu_count()} CPUs (load {os.getloadavg()[0]:.1f}), "
        "`PYTHONPATH=operator:testenv python benchmarks/backtest.py`.",
        "",
        "| run | seconds | CPU seconds | range queries | HTTP requests | evaluations |",
        "|---|---|---|---|---|---|",
        *(
            f"| {i + 1} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['range_queries']} | "
            f"{r['requests']} | {r['evaluations']} |"
            for i, r in enumerate(runs)
        ),
        "",
        f"Median {median:.2f} s (target: under {TARGET_SECONDS:g} s), process start to exit; "
        f"{first['range_queries']} rendered queries, each fetched once over the week in "
        f"{first['requests'] // max(first['range_queries'], 1)} chunks of at most 10,000 points. "
        f"Backfilling the week with promtool took {backfill_seconds:.1f} s (not in the runs).",
        "",
        f"In process, on the first run's recording (CPU): the replay (checks + decisions) "
        f"{decision['replay_cpu_seconds']:.2f} s for {decision['evaluations']} evaluations "
        f"({decision['replay_evaluations_per_second']}/s); plan() alone "
        f"{decision['plan_cpu_seconds']:.2f} s for {decision['plan_calls']} calls "
        f"({decision['plan_calls_per_second']}/s).",
        *(line for note in opts.note for line in ("", note)),
    ]
    Path(f"{opts.output}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
