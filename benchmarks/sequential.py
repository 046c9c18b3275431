"""Sequential vs naive canary judgement: a seeded simulation, bigger than the fast tier's.

    PYTHONPATH=operator ~/.cache/modelguard/venv/bin/python -m benchmarks.sequential   # ~15 s
    PYTHONPATH=operator ~/.cache/modelguard/venv/bin/python -m benchmarks.sequential \
        --runs 200 --output /tmp/s.json

(PYTHONPATH: this checkout's modelguard, whichever checkout the shared venv came from.)

What runs (benchmarks/canary_sim.py): per run, cumulative outcomes of two arms at
`per_look` new labelled outcomes per arm per look; every look is judged by the
confidence-sequence gate the operator runs (formula E) and by a pooled z-test re-checked
at the same one-sided alpha (formula A). Rates are over runs: "false rollback" is an
A/A run (both arms at 0.90) that a gate failed at any look.

- A/A with margin 0 is the CS's hard case (any exclusion of 0 counts), margin 0.02 is
  what a user would configure;
- 0.90 -> 0.86 with margin 0.02: detection rate and the median outcomes per arm at
  detection (the samples to detect a 4-point drop).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.canary_sim import Rates, Scenario, simulate

RESULTS = Path(__file__).resolve().parent / "results" / "sequential.json"


def _run(scenario: Scenario, runs: int, seed: int) -> tuple[Rates, dict[str, Any]]:
    rates = simulate(scenario, runs, seed, all_gates=True)
    return rates, {"scenario": dataclasses.asdict(scenario), "seed": seed, "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="A/A runs per scenario")
    parser.add_argument("--drop-runs", type=int, default=500, help="runs of the 4-point drop")
    parser.add_argument("--looks", type=int, default=40, help="looks per A/A run")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    started = time.monotonic()
    aa0, aa0_params = _run(Scenario(0.90, 0.90, looks=args.looks, margin=0.0), args.runs, args.seed)
    aa2, aa2_params = _run(
        Scenario(0.90, 0.90, looks=args.looks, margin=0.02), args.runs, args.seed + 1
    )
    # Up to 80 looks (20,000 outcomes per arm) so that slow detections still count.
    drop, drop_params = _run(
        Scenario(0.90, 0.86, looks=80, margin=0.02), args.drop_runs, args.seed + 2
    )
    elapsed = time.monotonic() - started

    data = {
        "false_rollback_rate": {
            "sequential": aa0.sequential_failed,
            "sequential_margin_0.02": aa2.sequential_failed,
            "naive": aa0.naive_failed,
            "fixed": aa0.fixed_failed,
            "fixed_margin_0.02": aa2.fixed_failed,
            "msprt": aa0.msprt_failed,
            "msprt_margin_0.02": aa2.msprt_failed,
        },
        "aa_passed_rate_margin_0.02": aa2.sequential_passed,
        "detection_rate": drop.sequential_failed,
        "median_samples_per_arm_to_detect": drop.median_samples_to_fail,
        "naive_detection_rate": drop.naive_failed,
        "fixed_detection_rate": drop.fixed_failed,
        "msprt_detection_rate": drop.msprt_failed,
        "parameters": {
            "aa_margin_0": aa0_params,
            "aa_margin_0.02": aa2_params,
            "drop": drop_params,
            "naive": "pooled z-test (A), one-sided at alpha, re-checked at every look",
            "fixed": "margin test (B) from the look where both arms hold expected_samples "
            "together, re-tested at every later look (as test: fixed runs)",
            "msprt": "one-sided normal mixture SPRT (D), tau 0.02, against the margin",
        },
        "facts": {"python": platform.python_version(), "seconds": round(elapsed, 1)},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=1) + "\n")
    alpha = aa0_params["scenario"]["alpha"]
    print(
        f"A/A, {args.runs} runs x {args.looks} looks x 250 outcomes/arm, alpha {alpha}:\n"
        f"  false rollbacks: confidence sequence {aa0.sequential_failed:.2%} (margin 0), "
        f"{aa2.sequential_failed:.2%} (margin 0.02); naive z-test {aa0.naive_failed:.2%}\n"
        f"  fixed margin test after its size {aa0.fixed_failed:.2%} (margin 0), "
        f"{aa2.fixed_failed:.2%} (margin 0.02); mSPRT {aa0.msprt_failed:.2%} (margin 0), "
        f"{aa2.msprt_failed:.2%} (margin 0.02)\n"
        f"  A/A shown within margin 0.02: {aa2.sequential_passed:.2%}\n"
        f"0.90 -> 0.86, margin 0.02, {args.drop_runs} runs x up to 80 looks:\n"
        f"  detected {drop.sequential_failed:.2%}, median "
        f"{drop.median_samples_to_fail} outcomes per arm\n"
        f"wrote {args.output} in {elapsed:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
