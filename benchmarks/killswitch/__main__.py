"""Kill-switch latency on the real local control plane, with the real operator process.

    python -m benchmarks.killswitch [--sizes 1,100,500] [--kills 30] [--fallback-size 100]

(from the repository root; see benchmarks/README.md for the options and what is measured)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from benchmarks.killswitch.bench import ROOT, Bench, log
from benchmarks.killswitch.probe import Probe
from benchmarks.killswitch.report import machine_facts, print_table, report
from benchmarks.killswitch.samples import attach_operator_timings
from modelguard_testenv import ControlPlane, wait_established
from modelguard_testenv.operator_process import OperatorProcess

CRD = ROOT / "crds" / "modelguard.io_modeldeployments.yaml"
RBAC = ROOT / "deploy" / "base" / "rbac.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "kill_switch"
OPERATOR_NAMESPACE = "modelguard-system"


def start_operator(plane: ControlPlane, log_file: Path, env: dict[str, str]) -> OperatorProcess:
    """CRD, RBAC, and the operator as its ServiceAccount, watching all namespaces."""
    plane.kubectl("apply", "--server-side", "-f", str(CRD))
    wait_established(plane, "modeldeployments.modelguard.io")
    plane.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    plane.kubectl("apply", "-f", str(RBAC))
    identity = plane.service_account_credentials(OPERATOR_NAMESPACE, "modelguard")
    return OperatorProcess(identity.kubeconfig, log_file, env=env).start()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1,100,500", help="comma-separated N (ascending)")
    parser.add_argument("--kills", type=int, default=30, help="kills per size and mode")
    parser.add_argument(
        "--fallback-size", type=int, default=100, help="N at which fallback mode is measured"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS, help="stem of the .md/.json")
    parser.add_argument("--label", default="", help="a name for this run in the results")
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the operator process (e.g. MODELGUARD_CONCURRENCY=32)",
    )
    parser.add_argument(
        "--fleet",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="at the largest N, also kill and release all N at once",
    )
    parser.add_argument("--compare", type=Path, help="an earlier run's .json: before/after table")
    parser.add_argument("--samples", type=Path, help="also write every raw sample to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep operator/plane logs")
    args = parser.parse_args(argv)
    args.size_list = sorted(int(s) for s in args.sizes.split(","))
    if args.fallback_size and args.fallback_size not in args.size_list:
        parser.error("--fallback-size must be one of --sizes")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="modelguard-kill-bench-"))
    operator_log = workdir / "operator.log"
    # The controller-manager's default client QPS (20) makes 500 Deployments take minutes
    # to roll out; it is not on the measured path (the operator patches the Deployment).
    plane = ControlPlane(
        extra_args={"kube-controller-manager": ["--kube-api-qps=200", "--kube-api-burst=400"]}
    )
    log("starting the control plane")
    plane.start()
    operator: OperatorProcess | None = None
    ok = False
    try:
        facts = machine_facts(plane)
        env = dict(item.split("=", 1) for item in args.operator_env)
        operator = start_operator(plane, operator_log, env)
        log(f"operator started (log: {operator_log})")

        bench = Bench(plane, Probe(plane, operator), args.seed)
        bench.create_namespace()
        for size in args.size_list:
            bench.grow_to(size)
            bench.run(size, "scaleToZero", args.kills)
            if size == args.fallback_size:
                bench.run(size, "fallback", args.kills)
        if args.fleet:
            bench.run_fleet(args.size_list[-1])
        facts["loadavg_end"] = os.getloadavg()
        facts["operator_env"] = env or "defaults"
        attach_operator_timings(bench.samples, operator_log)
        text, data = report(bench.samples, bench.fleet, facts, args)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".md").write_text(text)
        args.output.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str))
        if args.samples is not None:
            # Every raw sample: large, so kept out of the committed results by default.
            raw = [asdict(s) for s in bench.samples]
            args.samples.write_text(json.dumps(raw, default=str))
        print()
        print_table(data["summary"])
        print(f"\nwrote {args.output.with_suffix('.md')} and .json")
        ok = bool(data["goal"]["met"])
    finally:
        if operator is not None:
            operator.stop()
        plane.stop(keep_logs=args.keep_logs or None)
        if args.keep_logs:
            log(f"operator log kept in {operator_log}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
