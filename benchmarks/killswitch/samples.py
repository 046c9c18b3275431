"""One measured kill or restore, percentiles over them, and the operator's own timestamps
(from its JSON log) that split each latency into watch delivery, reconcile and action."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypedDict


class Stats(TypedDict):
    n: int
    p50: float
    p95: float
    max: float
    mean: float


@dataclass
class Sample:
    size: int
    mode: str
    phase: str  # "kill" or "restore"
    md: str
    latency: float  # PATCH returned -> watch event arrived (s)
    latency_from_send: float  # PATCH sent -> watch event arrived (s)
    patch_rtt: float
    patch_wall: float  # wall clock when the PATCH returned
    event_wall: float
    md_resource_version: str
    event_resource_version: str
    managed_fields_time: str | None
    recorded_latency: float | None = None  # PATCH returned -> MD status shows the change
    # From the operator's log (wall clock), filled in after the run.
    handled_wall: float | None = None  # kopf handled the MD event
    applied_wall: float | None = None  # the reconciler applied the action


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): a value that was actually measured."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> Stats:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def attach_operator_timings(samples: list[Sample], log_file: Path) -> None:
    """Fill handled_wall/applied_wall from the operator's JSON log, per sample."""
    handled: dict[str, list[float]] = {}
    applied: dict[str, list[float]] = {}
    with log_file.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("message", ""))
            stamp = entry.get("timestamp")
            if not stamp:
                continue
            wall = datetime.fromisoformat(stamp).timestamp()
            obj = entry.get("object") or {}
            if message == "Handler 'model_deployment_event' succeeded." and obj.get("name"):
                handled.setdefault(obj["name"], []).append(wall)
            elif message.startswith("Applying "):
                # "Applying Scale to Deployment ns/name"; here each model's Deployment
                # and ModelDeployment share a name.
                target = entry.get("modeldeployment") or message.rsplit(" ", 1)[-1]
                applied.setdefault(str(target).rsplit("/", 1)[-1], []).append(wall)
    for s in samples:
        sent_wall = s.patch_wall - s.patch_rtt
        s.handled_wall = next((t for t in handled.get(s.md, []) if t >= sent_wall), None)
        s.applied_wall = next((t for t in applied.get(s.md, []) if t >= sent_wall), None)


def breakdown(samples: list[Sample]) -> dict[str, float] | None:
    """Medians of: PATCH return -> kopf handled the MD event -> action applied -> event seen."""
    rows = [s for s in samples if s.handled_wall and s.applied_wall]
    if not rows:
        return None
    return {
        "watch_to_handler": statistics.median([(s.handled_wall or 0) - s.patch_wall for s in rows]),
        "handler_to_action": statistics.median(
            [(s.applied_wall or 0) - (s.handled_wall or 0) for s in rows]
        ),
        "action_to_event": statistics.median([s.event_wall - (s.applied_wall or 0) for s in rows]),
    }
