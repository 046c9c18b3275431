"""End-to-end: the README's first command, the demo (hack/demo.py, which hack/demo.sh
runs once setup is done), runs to its end on the real components, so it cannot rot.
It starts its own control plane, Prometheus, exporter and operator, as a user's run does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_every_act_to_its_end() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, f"demo failed:\n{out[-6000:]}\n{run.stderr[-6000:]}"
    # Each act's waits raise when what they wait for does not happen: reaching the end
    # proves the story; these lines prove it printed what a user should look at.
    for line in (
        # The first model, guarded by two templates of the library, rolled back on F1.
        "f1-score",
        "latency-p99",
        "rolled back to v1",
        "3 replicas restored",
        # The canary act, then the abort.
        "v2 promoted: the target runs v2, the canary is gone",
        "v3 aborted at step 1, quarantined",
        "v2 still serves",
        "Done: everything was stopped and cleaned up",
    ):
        assert line in out, line
    # The evidence names the template's check and threshold; status names the template.
    assert re.search(r"f1: Failed \(0\.[0-7]\d* < min 0\.8", out), out[-6000:]
    assert "ClusterModelCheckTemplate/f1-score" in out
    # The step and the weights in `modelguard status` (a snapshot: on a loaded machine
    # the canary may have reached its second step by the time the CLI reads it).
    assert re.search(r"Canary: +v2 Progressing, step [12]/2: (10|50)% desired, [\d.]+% actual", out)
    for reason in ("CanaryStepAdvanced", "CanaryPromoted", "CanaryCompleted", "CanaryAborted"):
        assert f" {reason} " in out, reason
    # The abort's evidence is the proportion check's: the estimate and its interval.
    [aborted] = [e for e in out.splitlines() if " Warning " in e and " CanaryAborted " in e]
    assert "accuracy-vs-stable: Failed" in aborted and "difference -0.1" in aborted
