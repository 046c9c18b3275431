"""The pieces the CLI's views are made of: text primitives (tables, numbers, ages), one
ModelDeployment as the CLI sees it, and how a check's result reads. Pure functions.

Objects arrive as the dicts the API server returns. The status is parsed with the API
models; the spec is read as a plain dict on purpose, so a resource whose spec the
operator rejects (phase Invalid) can still be shown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modelguard.core import api

NONE = "-"


# --------------------------------------------------------------------------- primitives


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Columns separated by three spaces, like kubectl; the last column is not padded."""
    cells = [list(headers), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append(indent + "   ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isnan(value):
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def timestamp(moment: datetime | None) -> str:
    if moment is None:
        return NONE
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return NONE
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class View:
    """One ModelDeployment as the CLI shows it."""

    name: str
    namespace: str
    spec: Mapping[str, Any]
    status: api.ModelDeploymentStatus | None  # None: the operator has not written one
    status_error: str | None = None
    annotations: Mapping[str, str] | None = None


def view(obj: Mapping[str, Any]) -> View:
    metadata = obj.get("metadata") or {}
    raw_status = obj.get("status")
    status: api.ModelDeploymentStatus | None = None
    error = None
    if raw_status:
        try:
            status = api.ModelDeploymentStatus.model_validate(raw_status)
        except ValidationError as exc:
            # Version skew between CLI and operator must not hide the rest of the object.
            error = f"status not readable by this CLI version ({exc.error_count()} errors)"
    return View(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        spec=obj.get("spec") or {},
        status=status,
        status_error=error,
        annotations=metadata.get("annotations") or {},
    )


def version_name(version: api.ModelVersion | None) -> str:
    return version.name if version is not None else NONE


def desired_version(v: View) -> str:
    wanted = v.spec.get("version")
    if isinstance(wanted, Mapping) and (wanted.get("image") or wanted.get("modelTag")):
        return api.ModelVersion(image=wanted.get("image"), model_tag=wanted.get("modelTag")).name
    if v.status is not None and v.status.desired_version is not None:
        return v.status.desired_version.name
    return NONE


def kill_state(v: View) -> str:
    """What the kill switch is doing, telling a request apart from its enforcement."""
    wanted = v.spec.get("killSwitch") or {}
    enabled = bool(wanted.get("enabled"))
    engaged = v.status is not None and v.status.kill_switch.engaged
    reason = one_line(str(wanted.get("reason") or ""), 60)
    if enabled and engaged:
        return f"yes: {reason}" if reason else "yes"
    if enabled:
        # The spec asks for it but the operator has not confirmed it yet.
        return f"requested: {reason}" if reason else "requested"
    if engaged:
        return "releasing"
    return "no"


def failures(v: View) -> str:
    analysis = v.spec.get("analysis")
    if not isinstance(analysis, Mapping):
        return NONE
    count = v.status.consecutive_failures if v.status is not None else 0
    return f"{count}/{analysis.get('failureThreshold', 3)}"


def canary_short(v: View) -> str:
    """The canary in a table cell: "v2 20%/18.2%" (desired / actual share)."""
    canary = v.status.canary if v.status is not None else None
    if canary is None:
        return NONE
    if canary.phase is not api.CanaryPhase.PROGRESSING:
        return f"{canary.version.name} {canary.phase.value}"
    return f"{canary.version.name} {canary.desired_weight}%/{number(canary.actual_weight)}%"


def canary_text(v: View) -> str:
    """The canary in a line: its step, the desired and the actual share, the pods."""
    canary = v.status.canary if v.status is not None else None
    if canary is None:
        return NONE
    wanted = v.spec.get("canary")
    steps = wanted.get("steps") if isinstance(wanted, Mapping) else None
    of = f"/{len(steps)}" if isinstance(steps, list) else ""
    text = (
        f"{canary.version.name} {canary.phase.value}, step {canary.step + 1}{of}: "
        f"{canary.desired_weight}% desired, {number(canary.actual_weight)}% actual "
        f"({canary.canary_ready_replicas}/{canary.canary_replicas} canary, "
        f"{canary.stable_ready_replicas} stable Ready)"
    )
    if canary.saved_replicas is not None:
        text += f"; stopped by the kill switch (saved replicas {canary.saved_replicas})"
    elif canary.phase is api.CanaryPhase.PROGRESSING and canary.ready_at is None:
        text += "; waiting for the canary's pods to be Ready"
    if canary.message:
        text += f"; {one_line(canary.message, 160)}"
    return text


def spec_checks(v: View) -> dict[str, Mapping[str, Any]]:
    analysis = v.spec.get("analysis")
    if not isinstance(analysis, Mapping):
        return {}
    checks = analysis.get("checks") or []
    return {str(c.get("name")): c for c in checks if isinstance(c, Mapping)}


# --------------------------------------------------------------------------- checks


def _bound(spec: Mapping[str, Any], key: str) -> float | None:
    value = spec.get(key)
    return float(value) if isinstance(value, int | float) else None


def relation(result: api.CheckResult, spec: Mapping[str, Any] | None) -> str:
    """How the value compares with the check's bounds, e.g. "<0.92" or "drop 0.03>0.02".

    Falls back to the threshold text the operator recorded when the check is no longer
    in the spec.
    """
    if result.value is None or math.isnan(result.value):
        return ""
    if spec is None:
        return f" ({result.threshold})" if result.threshold else ""
    value, parts = result.value, []
    low, high = _bound(spec, "min"), _bound(spec, "max")
    if low is not None and value < low:
        parts.append(f"<{number(low)}")
    elif high is not None and value > high:
        parts.append(f">{number(high)}")
    elif low is not None and high is not None:
        parts.append(f" in [{number(low)}, {number(high)}]")
    elif low is not None:
        parts.append(f">={number(low)}")
    elif high is not None:
        parts.append(f"<={number(high)}")
    if result.baseline is not None and not math.isnan(result.baseline):
        relative = []
        max_drop, max_increase = _bound(spec, "maxDrop"), _bound(spec, "maxIncrease")
        if max_drop is not None:
            drop = result.baseline - value
            relative.append(
                f"drop {number(drop)}{'>' if drop > max_drop else '<='}{number(max_drop)}"
            )
        if max_increase is not None:
            rise = value - result.baseline
            op = ">" if rise > max_increase else "<="
            relative.append(f"rise {number(rise)}{op}{number(max_increase)}")
        detail = f" ({', '.join(relative)})" if relative else ""
        parts.append(f" vs {number(result.baseline)}{detail}")
    return "".join(parts)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _needed(p: api.ProportionResult) -> str:
    """Samples still needed per arm: "+1317/+1317", "decided", or "never at this
    estimate" (it sits on the margin)."""
    if p.estimate is None and p.samples_needed is None:
        return ""
    if p.samples_needed is None or p.stable_samples_needed is None:
        return "never at this estimate"
    if p.samples_needed == 0 and p.stable_samples_needed == 0:
        return "decided"
    return f"+{p.samples_needed}/+{p.stable_samples_needed}"


def proportion_text(result: api.CheckResult) -> str:
    """A proportion check's evidence in a line, e.g. "diff -0.0500 in [-0.0996, -0.0004]
    n=1000/1000 need +1317/+1317" (candidate/stable)."""
    p = result.proportion
    if p is None:
        return ""
    parts = []
    if p.estimate is not None:
        parts.append(f"diff {_signed(p.estimate)} in [{_signed(p.low)}, {_signed(p.high)}]")
    if p.total is not None or p.stable_total is not None:
        parts.append(f"n={number(p.total)}/{number(p.stable_total)}")
    needed = _needed(p)
    if needed:
        parts.append(f"need {needed}")
    return " ".join(parts)


def samples_text(result: api.CheckResult, spec: Mapping[str, Any] | None) -> str:
    if result.proportion is not None:
        p = result.proportion
        if p.total is None and p.stable_total is None:
            return ""
        needed = _needed(p)
        text = f"n={number(p.total)}/{number(p.stable_total)}"
        return f"{text} need {needed}" if needed and needed != "decided" else text
    if result.samples is None:
        return ""
    minimum = _bound(spec, "minSamples") if spec is not None else None
    if minimum is not None and result.samples < minimum:
        return f"n={number(result.samples)}<{number(minimum)}"
    return f"n={number(result.samples)}"


def describe_check(result: api.CheckResult, spec: Mapping[str, Any] | None) -> str:
    """One check in a line: "accuracy=0.81<0.92 Failed"."""
    if result.proportion is not None:
        evidence = proportion_text(result)
        return f"{result.name} {evidence} {result.verdict.value}".replace("  ", " ")
    text = f"{result.name}={number(result.value)}{relation(result, spec)}"
    samples = samples_text(result, spec)
    if samples:
        text += f" {samples}"
    return f"{text} {result.verdict.value}"


def threshold_text(result: api.CheckResult, spec: Mapping[str, Any] | None) -> str:
    if result.threshold:
        return result.threshold
    if spec is None:
        return NONE
    parts = []
    for key, label in (
        ("min", ">="),
        ("max", "<="),
        ("maxDrop", "drop<="),
        ("maxIncrease", "rise<="),
    ):
        bound = _bound(spec, key)
        if bound is not None:
            parts.append(f"{label}{number(bound)}")
    return " ".join(parts) or NONE


def last_verdict(v: View) -> str:
    if v.status is None or v.status.last_evaluation is None:
        return NONE
    evaluation = v.status.last_evaluation
    specs = spec_checks(v)
    checks = ", ".join(describe_check(c, specs.get(c.name)) for c in evaluation.checks)
    return f"{evaluation.verdict.value} ({checks})" if checks else evaluation.verdict.value
