"""The results: a Markdown report and its JSON twin (``--compare`` reads an earlier JSON),
with the machine facts that say how comparable two runs are."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any, TypedDict

from kubernetes import client as k8s

from benchmarks.killswitch.bench import ROOT, FleetPhase
from benchmarks.killswitch.samples import Sample, breakdown, summary
from modelguard_testenv import ControlPlane

GOAL_P95 = 1.0  # seconds, at the largest size


class Row(TypedDict):
    """One (size, mode, phase) line of the summary, as the JSON keeps it."""

    size: int
    mode: str
    phase: str
    n: int
    p50: float
    p95: float
    max: float
    mean: float
    status_p50: float
    patch_rtt_p50: float
    breakdown: dict[str, float] | None


def source_state() -> str:
    """The commit the operator ran from, and any uncommitted operator files."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.rstrip("\n")

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [line[3:] for line in git("status", "--porcelain", "operator/").splitlines()]
    return head + (f" + uncommitted: {', '.join(dirty)}" if dirty else "")


def machine_facts(plane: ControlPlane) -> dict[str, Any]:
    with plane.api_client() as c:
        server = k8s.VersionApi(c).get_code().git_version
    import kopf  # noqa: PLC0415 - only for its version

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "operator_source": source_state(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kubernetes": server,
        "kopf": getattr(kopf, "__version__", "?"),
        "loadavg_start": os.getloadavg(),
    }


def summary_rows(samples: list[Sample]) -> list[Row]:
    """One row per (size, mode, phase), in that order."""
    groups: dict[tuple[int, str, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.size, s.mode, s.phase), []).append(s)
    rows: list[Row] = []
    for (size, mode, phase), group in sorted(groups.items()):
        stats = summary([s.latency for s in group])
        recorded = summary([s.recorded_latency or 0.0 for s in group])
        rows.append(
            {
                "size": size,
                "mode": mode,
                "phase": phase,
                "n": stats["n"],
                "p50": stats["p50"],
                "p95": stats["p95"],
                "max": stats["max"],
                "mean": stats["mean"],
                "status_p50": recorded["p50"],
                "patch_rtt_p50": statistics.median([s.patch_rtt for s in group]),
                "breakdown": breakdown(group),
            }
        )
    return rows


def report(
    samples: list[Sample],
    fleet: dict[str, FleetPhase],
    facts: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[str, dict[str, Any]]:
    rows = summary_rows(samples)

    def ms(x: float) -> str:
        return f"{x * 1000:.0f}"

    largest = max(s.size for s in samples)
    goal_rows = [
        r for r in rows if r["size"] == largest and r["phase"] == "kill" and r["mode"] != "fleet"
    ]
    met = all(r["p95"] < GOAL_P95 for r in goal_rows)
    command = shlex.join(["python", "-m", "benchmarks.killswitch", *sys.argv[1:]])
    lines = [
        "# Kill-switch latency",
        "",
        f"`{command}`",
        "",
        "Real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok),",
        "real operator process (`kopf run -m modelguard.runtime.handlers --all-namespaces`, as its",
        "ServiceAccount with deploy/base/rbac.yaml). Latency = PATCH of spec.killSwitch returned",
        "-> arrival of the watch event showing the effect (Deployment spec.replicas 0 / restored,",
        "or the Service selector switched / restored). Nearest-rank percentiles, in ms.",
        "Modes scaleToZero and fallback: one kill at a time (kill, wait, release, wait) on",
        "randomly chosen models while the other N-1 sit idle. Mode fleet: all N patched back",
        "to back, as `modelguard kill --all` does, each model timed from its own PATCH.",
        "",
        "| N | mode | phase | n | p50 | p95 | max | status recorded p50 | PATCH rtt p50 |",
        "|--:|------|-------|--:|----:|----:|----:|--------------------:|--------------:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['mode']} | {r['phase']} | {r['n']} | {ms(r['p50'])} | "
            f"{ms(r['p95'])} | {ms(r['max'])} | {ms(r['status_p50'])} | "
            f"{ms(r['patch_rtt_p50'])} |"
        )
    lines += [
        "",
        f"Goal: kill p95 < {GOAL_P95 * 1000:.0f} ms at N={largest} (one kill at a time): "
        + ("**met**." if met else "**missed**."),
        "",
        "Where the time goes (medians, ms, from the operator's JSON log timestamps):",
        "",
        "| N | mode | phase | PATCH -> kopf handled MD event | -> action applied | "
        "-> watch event seen |",
        "|--:|------|-------|------:|------:|------:|",
    ]
    for r in rows:
        b = r["breakdown"]
        if b:
            lines.append(
                f"| {r['size']} | {r['mode']} | {r['phase']} | {ms(b['watch_to_handler'])} | "
                f"{ms(b['handler_to_action'])} | {ms(b['action_to_event'])} |"
            )
    for phase, f in fleet.items():
        lines.append(
            f"\nFleet {phase}: {f['models']:.0f} PATCHes sent in {f['patching_seconds']:.2f} s; "
            f"the last model was done {f['first_patch_to_last_done_seconds']:.2f} s after "
            "the first PATCH."
        )
        work = f.get("work")
        if work:
            cpu = ", ".join(f"{k} {v}" for k, v in work["cpu_seconds"].items())
            calls = ", ".join(f"{k} {v}" for k, v in work["apiserver_requests"].items())
            lines.append(
                f"CPU seconds over those {work['seconds']:.1f} s ({os.cpu_count()} cores = "
                f"{(os.cpu_count() or 1) * work['seconds']:.0f} s available): {cpu}."
            )
            lines.append(f"API requests (all clients): {calls}.")
    if args.compare:
        lines += compare_lines(rows, json.loads(args.compare.read_text()))
    lines += ["", "Machine:", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines.append("")
    data = {
        "label": args.label,
        "args": {
            "sizes": args.sizes,
            "kills": args.kills,
            "fallback_size": args.fallback_size,
            "seed": args.seed,
            "operator_env": args.operator_env,
            "fleet": args.fleet,
        },
        "machine": facts,
        "goal": {"kill_p95_seconds_below": GOAL_P95, "size": largest, "met": met},
        "summary": rows,
        "fleet": fleet,
    }
    return "\n".join(lines), data


def compare_lines(rows: list[Row], before: dict[str, Any]) -> list[str]:
    """A before/after table against an earlier run's JSON (--compare)."""
    old = {(r["size"], r["mode"], r["phase"]): r for r in before.get("summary", [])}
    out = [
        "",
        f"Compared with {before.get('label') or 'an earlier run'} "
        f"({before.get('machine', {}).get('date', '?')}, operator "
        f"{before.get('machine', {}).get('operator_source', '?')}), ms:",
        "",
        "| N | mode | phase | p50 before | p50 after | p95 before | p95 after | "
        "max before | max after |",
        "|--:|------|-------|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        b = old.get((r["size"], r["mode"], r["phase"]))
        if b is None:
            continue
        out.append(
            f"| {r['size']} | {r['mode']} | {r['phase']} | {b['p50'] * 1000:.0f} | "
            f"{r['p50'] * 1000:.0f} | {b['p95'] * 1000:.0f} | {r['p95'] * 1000:.0f} | "
            f"{b['max'] * 1000:.0f} | {r['max'] * 1000:.0f} |"
        )
    for phase, f in (before.get("fleet") or {}).items():
        out.append(
            f"\nBefore, fleet {phase}: last model done "
            f"{f['first_patch_to_last_done_seconds']:.2f} s after the first PATCH."
        )
    return out


def print_table(rows: list[Row]) -> None:
    print(f"{'N':>5} {'mode':<12} {'phase':<8} {'n':>3} {'p50':>7} {'p95':>7} {'max':>7}  (ms)")
    for r in rows:
        print(
            f"{r['size']:>5} {r['mode']:<12} {r['phase']:<8} {r['n']:>3} "
            f"{r['p50'] * 1000:>7.0f} {r['p95'] * 1000:>7.0f} {r['max'] * 1000:>7.0f}"
        )
