"""Kill latency under load: does the kill switch wait behind evaluations, Prometheus, or a
watch that backs off after an API-server outage?

    python -m benchmarks.killswitch.scenarios [--models 300] [--kills 20] [--outages 3]
        [--outage-seconds 60] [--before OLD.json] [--label after]

N ModelDeployments (each with its 1-replica Deployment) on the local control plane and
the real operator process, then one scenario after another, each measured by one kill at
a time (a merge patch of spec.killSwitch, timed from the PATCH returning to the
Deployment watch event showing ``spec.replicas == 0``), then its release:

- ``idle``: kill-switch-only models, no analysis;
- ``analysis``: every model under analysis at a 10 s interval, real Prometheus (healthy);
- ``prometheus-hanging``: the same against a server that accepts connections and never
  answers (``SilentServer``), query timeout 10 s: every evaluation runs out its timeout;
- ``fast-interval``: healthy Prometheus, 1 s interval;
- ``after-api-outage``: analysis as in ``analysis``; kube-apiserver stopped for
  ``--outage-seconds``, started again, and a kill patched as soon as it answers
  (one kill per outage).

A kill not seen within ``--kill-timeout`` counts as that many seconds (and as a timeout).
Results: ``benchmarks/results/kill_lane.{md,json}``; ``--before`` takes an earlier run's
JSON (e.g. the old code: ``--operator-env PYTHONPATH=/tmp/before/operator``) and puts
its figures next to these.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from benchmarks.killswitch.__main__ import start_operator
from benchmarks.killswitch.bench import NAMESPACE, Bench, list_version, log, spec_is
from benchmarks.killswitch.probe import Probe
from benchmarks.killswitch.report import machine_facts
from benchmarks.killswitch.samples import percentile
from modelguard.core import api
from modelguard_testenv import ControlPlane, PrometheusServer, SilentServer
from modelguard_testenv.recording import Watcher

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "kill_lane"
SCENARIOS = ("idle", "analysis", "prometheus-hanging", "fast-interval", "after-api-outage")
# p95 targets (seconds) per scenario.
TARGETS = {
    "idle": 0.25,
    "analysis": 0.25,
    "prometheus-hanging": 0.25,
    "fast-interval": 0.25,
    "after-api-outage": 1.0,
}


def analysis(url: str, interval: str) -> dict[str, Any]:
    """One check on a query every Prometheus answers at once (``vector(0.97)``): the cost
    of an evaluation is the round trip, not the data. No warmup: due from the start."""
    return {
        "prometheus": {"url": url, "timeout": "10s"},
        "interval": interval,
        "warmup": "0s",
        "checks": [{"name": "accuracy", "query": "vector(0.97)", "min": 0.9}],
    }


class Scenarios(Bench):
    def __init__(self, plane: ControlPlane, probe: Probe, seed: int, kill_timeout: float):
        super().__init__(plane, probe, seed)
        self.kill_timeout = kill_timeout
        self.latencies: dict[str, list[float]] = {}
        self.timeouts: dict[str, int] = {}

    def set_analysis(self, spec: dict[str, Any] | None) -> None:
        """Merge-patch every model's spec.analysis (None removes it)."""
        began = time.monotonic()
        for i in range(self.present):
            self.custom.patch_namespaced_custom_object(
                api.GROUP,
                api.VERSION,
                NAMESPACE,
                api.PLURAL,
                self.model(i),
                {"spec": {"analysis": spec}},
                _content_type="application/merge-patch+json",
            )
        log(f"  analysis set on {self.present} models in {time.monotonic() - began:.1f}s")

    @contextlib.contextmanager
    def deployments(self) -> Iterator[Watcher]:
        client = self.plane.api_client()  # the watcher's alone; it closes it
        with Watcher(
            "deployments",
            k8s.AppsV1Api(client).list_namespaced_deployment,
            NAMESPACE,
            resource_version=list_version(self.apps.list_namespaced_deployment(NAMESPACE, limit=1)),
            client=client,
        ) as watcher:
            time.sleep(0.3)  # the stream is open before the first patch
            yield watcher

    def kill_once(self, scenario: str, name: str, watcher: Watcher) -> float:
        """Kill `name`, time it, release it; the kill's latency (the timeout if not seen)."""
        _, returned, _, _ = self._patch(name, {"enabled": True, "reason": scenario})
        try:
            seen = watcher.wait(name, spec_is("replicas", 0), returned, self.kill_timeout)
            latency = seen.at - returned
        except TimeoutError:
            latency = self.kill_timeout
            self.timeouts[scenario] = self.timeouts.get(scenario, 0) + 1
        self.latencies.setdefault(scenario, []).append(latency)
        _, released, _, _ = self._patch(name, {"enabled": False})
        with contextlib.suppress(TimeoutError):  # the old code may take minutes: go on
            watcher.wait(name, spec_is("replicas", 1), released, self.kill_timeout)
        return latency

    def kills(self, scenario: str, count: int) -> None:
        names = self.rng.sample([self.model(i) for i in range(self.present)], count)
        log(f"{scenario}: {count} kills, one at a time")
        with self.deployments() as watcher:
            for name in names:
                latency = self.kill_once(scenario, name, watcher)
                log(f"  {name}: {latency * 1000:.0f} ms")
                if self.timeouts.get(scenario, 0) >= 2:
                    log("  two kills timed out: the scenario ends here")
                    return
                time.sleep(0.3)

    def outage(self, seconds: float) -> None:
        """Stop kube-apiserver for `seconds`, start it, and kill one model at once."""
        log(f"after-api-outage: kube-apiserver down for {seconds:.0f}s")
        self.plane.stop_apiserver()
        try:
            time.sleep(seconds)
        finally:
            ready = self.plane.start_apiserver()
        log(f"  kube-apiserver answers again after {ready:.1f}s")
        name = self.rng.choice([self.model(i) for i in range(self.present)])
        with self.deployments() as watcher:
            latency = self.kill_once("after-api-outage", name, watcher)
        log(f"  {name}: {latency * 1000:.0f} ms")


def rows(bench: Scenarios, before: dict[str, Any] | None) -> list[dict[str, Any]]:
    old = {row["scenario"]: row for row in (before or {}).get("rows", [])}
    result = []
    for scenario in SCENARIOS:
        values = bench.latencies.get(scenario, [])
        if not values:
            continue
        row: dict[str, Any] = {
            "scenario": scenario,
            "n": len(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "max": max(values),
            "timeouts": bench.timeouts.get(scenario, 0),
            "target_p95": TARGETS[scenario],
        }
        row["met"] = row["p95"] < TARGETS[scenario] and row["timeouts"] == 0
        if scenario in old:
            row["before"] = {k: old[scenario][k] for k in ("n", "p50", "p95", "max", "timeouts")}
        result.append(row)
    return result


def load(averages: list[float]) -> str:
    return "/".join(f"{x:.1f}" for x in averages)


def operator(facts: dict[str, Any]) -> str:
    """Which code the operator ran: another checkout's (PYTHONPATH), or this one."""
    env = facts.get("operator_env")
    path = env.get("PYTHONPATH") if isinstance(env, dict) else None
    return f"from PYTHONPATH={path}" if path else f"at {facts['operator_source']}"


def markdown(data: dict[str, Any]) -> str:
    def ms(x: float) -> str:
        return f"{x * 1000:.0f}"

    facts = data["facts"]
    lines = [
        "# Kill latency under load (the kill-switch lane)",
        "",
        f"`{data['command']}`",
        "",
        f"{data['models']} ModelDeployments, real local control plane and operator process.",
        "Latency = PATCH of spec.killSwitch returned -> Deployment watch event with",
        "spec.replicas == 0; one kill at a time, then its release. Nearest-rank, in ms;",
        f"a kill not seen within {data['kill_timeout']:.0f} s counts as that long.",
        f"Load average at start {load(facts['loadavg_start'])}, end {load(facts['loadavg_end'])};",
        f"{facts['nproc']} CPUs. {data['label'] or ''}: operator {operator(facts)}.",
        "",
        "| scenario | n | p50 | p95 | max | timeouts | before p50 | before p95 | before max |"
        " target p95 | met |",
        "|----------|--:|----:|----:|----:|---------:|-----------:|-----------:|-----------:|"
        "-----------:|-----|",
    ]
    for row in data["rows"]:
        old = row.get("before")
        then = [ms(old["p50"]), ms(old["p95"]), ms(old["max"])] if old else ["-", "-", "-"]
        lines.append(
            f"| {row['scenario']} | {row['n']} | {ms(row['p50'])} | {ms(row['p95'])} |"
            f" {ms(row['max'])} | {row['timeouts']} | {' | '.join(then)} |"
            f" {ms(row['target_p95'])} | {'yes' if row['met'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20, help="kills per scenario")
    parser.add_argument("--outages", type=int, default=3, help="after-api-outage repeats")
    parser.add_argument("--outage-seconds", type=float, default=60.0)
    parser.add_argument("--kill-timeout", type=float, default=60.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="")
    parser.add_argument("--before", type=Path, help="an earlier run's .json")
    parser.add_argument("--output", type=Path, default=RESULTS, help="stem of the .md/.json")
    parser.add_argument("--operator-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep-logs", action="store_true", help="keep the operator's log")
    args = parser.parse_args(argv)
    args.scenario_list = args.scenarios.split(",")
    unknown = set(args.scenario_list) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="modelguard-kill-lane-"))
    plane = ControlPlane(
        extra_args={"kube-controller-manager": ["--kube-api-qps=200", "--kube-api-burst=400"]}
    )
    with contextlib.ExitStack() as stack:
        log("starting the control plane and Prometheus")
        plane.start()
        stack.callback(plane.stop)
        if not args.keep_logs:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        else:
            log(f"operator log: {workdir / 'operator.log'}")
        prometheus = stack.enter_context(PrometheusServer())
        silent = stack.enter_context(SilentServer())
        facts = machine_facts(plane)
        env = dict(item.split("=", 1) for item in args.operator_env)
        operator = start_operator(plane, workdir / "operator.log", env)
        stack.callback(operator.stop)
        bench = Scenarios(plane, Probe(plane, operator), args.seed, args.kill_timeout)
        bench.create_namespace()
        bench.grow_to(args.models)
        plan = {
            "idle": (None, 0.0),
            "analysis": (analysis(prometheus.url, "10s"), 15.0),
            "prometheus-hanging": (analysis(silent.url, "10s"), 25.0),
            "fast-interval": (analysis(prometheus.url, "1s"), 15.0),
            "after-api-outage": (analysis(prometheus.url, "10s"), 15.0),
        }
        for scenario in args.scenario_list:
            spec, settle = plan[scenario]
            if scenario != "idle" or bench.latencies:  # idle first: nothing to remove
                bench.set_analysis(spec)
                log(f"{scenario}: {settle:.0f}s for evaluations to get going")
                time.sleep(settle)
            if scenario == "after-api-outage":
                for _ in range(args.outages):
                    bench.outage(args.outage_seconds)
                    time.sleep(5.0)
            else:
                bench.kills(scenario, args.kills)
        facts["loadavg_end"] = os.getloadavg()
        facts["operator_env"] = env or "defaults"
        before = json.loads(args.before.read_text()) if args.before else None
        data: dict[str, Any] = {
            "command": shlex.join(
                ["python", "-m", "benchmarks.killswitch.scenarios", *(argv or sys.argv[1:])]
            ),
            "label": args.label,
            "models": args.models,
            "kill_timeout": args.kill_timeout,
            "facts": facts,
            "rows": rows(bench, before),
            "latencies": bench.latencies,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str))
        args.output.with_suffix(".md").write_text(markdown(data))
        print(markdown(data))
    return 0 if all(row["met"] for row in data["rows"]) else 1


def rerender(path: Path) -> None:
    """Write the .md of a run again from its .json (after a change to the format)."""
    path.with_suffix(".md").write_text(markdown(json.loads(path.with_suffix(".json").read_text())))


if __name__ == "__main__":
    sys.exit(main())
