"""Text and JSON views of ModelDeployments for the CLI: pure functions, no I/O.

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


def _version_name(version: api.ModelVersion | None) -> str:
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


def _spec_checks(v: View) -> dict[str, Mapping[str, Any]]:
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


def samples_text(result: api.CheckResult, spec: Mapping[str, Any] | None) -> str:
    if result.samples is None:
        return ""
    minimum = _bound(spec, "minSamples") if spec is not None else None
    if minimum is not None and result.samples < minimum:
        return f"n={number(result.samples)}<{number(minimum)}"
    return f"n={number(result.samples)}"


def describe_check(result: api.CheckResult, spec: Mapping[str, Any] | None) -> str:
    """One check in a line: "accuracy=0.81<0.92 Failed"."""
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
    specs = _spec_checks(v)
    checks = ", ".join(describe_check(c, specs.get(c.name)) for c in evaluation.checks)
    return f"{evaluation.verdict.value} ({checks})" if checks else evaluation.verdict.value


# --------------------------------------------------------------------------- status


def status_table(objects: Sequence[Mapping[str, Any]], all_namespaces: bool) -> str:
    headers = ["NAME", "PHASE", "CURRENT", "STABLE", "DESIRED", "KILLED", "FAILURES"]
    headers.append("LAST VERDICT")
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for obj in sorted(objects, key=lambda o: (_ns(o), _name(o))):
        v = view(obj)
        st = v.status
        row = [
            v.name,
            st.phase.value if st is not None else ("?" if v.status_error else NONE),
            _version_name(st.current_version) if st is not None else NONE,
            _version_name(st.stable_version) if st is not None else NONE,
            desired_version(v),
            kill_state(v),
            failures(v),
            last_verdict(v),
        ]
        if all_namespaces:
            row.insert(0, v.namespace)
        rows.append(row)
    return table(headers, rows)


def _ns(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace", ""))


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _version_line(version: api.VersionStatus | None, now: datetime) -> str:
    if version is None:
        return NONE
    details = [x for x in (version.image, version.model_tag and f"tag {version.model_tag}") if x]
    text = version.name
    if details:
        text += f" ({', '.join(details)})"
    if version.since is not None:
        text += f", since {timestamp(version.since)} ({age(version.since, now)} ago)"
    return text


def _kill_detail(v: View, now: datetime) -> list[str]:
    wanted = v.spec.get("killSwitch") or {}
    mode = wanted.get("mode", api.KillSwitchMode.SCALE_TO_ZERO.value)
    state = kill_state(v)
    if state.startswith("yes"):
        lines = [f"engaged, mode {mode}"]
    elif state.startswith("requested"):
        reason = one_line(str(wanted.get("reason") or ""), 200)
        lines = [f"requested, mode {mode}, not yet engaged by the operator", f"reason: {reason}"]
    elif state == "releasing":
        lines = ["released in the spec; the operator is restoring the workload"]
    else:
        lines = ["off"]
    if v.status is not None and v.status.kill_switch.engaged:
        ks = v.status.kill_switch
        since = f"{timestamp(ks.since)} ({age(ks.since, now)} ago)" if ks.since else NONE
        lines.append(f"engaged since {since} by {ks.requested_by or 'unknown'}")
        if ks.reason:
            lines.append(f"reason: {one_line(ks.reason, 200)}")
        if ks.saved is not None:
            saved = []
            if ks.saved.replicas is not None:
                saved.append(f"replicas={ks.saved.replicas}")
            if ks.saved.selector is not None:
                selector = ",".join(f"{k}={val}" for k, val in sorted(ks.saved.selector.items()))
                saved.append(f"selector={selector}")
            if saved:
                lines.append("saved for release: " + " ".join(saved))
    return lines


def checks_table(v: View, evaluation: api.Evaluation) -> str:
    specs = _spec_checks(v)
    rows = []
    for c in evaluation.checks:
        spec = specs.get(c.name)
        rows.append(
            [
                c.name,
                number(c.value),
                number(c.baseline) if c.baseline is not None else NONE,
                samples_text(c, spec) or NONE,
                threshold_text(c, spec),
                c.verdict.value,
                one_line(c.message, 80) or NONE,
            ]
        )
    headers = ["CHECK", "VALUE", "BASELINE", "SAMPLES", "THRESHOLD", "VERDICT", "MESSAGE"]
    return table(headers, rows, indent="  ")


def conditions_table(conditions: Sequence[api.Condition], now: datetime) -> str:
    rows = [
        [
            c.type,
            c.status,
            c.reason,
            age(c.last_transition_time, now),
            one_line(c.message, 100) or NONE,
        ]
        for c in conditions
    ]
    return table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows, indent="  ")


def quarantine_table(versions: Sequence[api.QuarantinedVersion]) -> str:
    rows = [[q.name, timestamp(q.since), one_line(q.reason, 100) or NONE] for q in versions]
    return table(["VERSION", "SINCE", "REASON"], rows, indent="  ")


def status_detail(obj: Mapping[str, Any], now: datetime) -> str:
    v = view(obj)
    target = v.spec.get("targetRef") or {}
    container = target.get("container")
    lines = [
        f"Name:         {v.name}",
        f"Namespace:    {v.namespace}",
        f"Target:       deployment/{target.get('name', '?')}"
        + (f" (container {container})" if container else ""),
    ]
    if v.status_error:
        lines.append(f"Status:       {v.status_error}")
    st = v.status
    if st is None:
        lines.append(f"Desired:      {desired_version(v)}")
        lines.append("Phase:        - (no status yet: is the operator running?)")
        lines.append("Kill switch:  " + "\n              ".join(_kill_detail(v, now)))
        return "\n".join(lines)
    lines += [
        f"Phase:        {st.phase.value}",
        f"Desired:      {desired_version(v)}",
        f"Current:      {_version_line(st.current_version, now)}",
        f"Stable:       {_version_line(st.stable_version, now)}",
        "Kill switch:  " + "\n              ".join(_kill_detail(v, now)),
        f"Failures:     {failures(v)} consecutive",
    ]
    if st.pending_action is not None:
        pending = st.pending_action
        lines.append(
            f"Pending:      {pending.kind} to {pending.target.name} "
            f"(decided {timestamp(pending.decided_at)}): {one_line(pending.reason, 100)}"
        )
    evaluation = st.last_evaluation
    if evaluation is None:
        lines.append("Last evaluation: none")
    else:
        lines.append(
            f"Last evaluation: {evaluation.verdict.value} for {evaluation.version} "
            f"at {timestamp(evaluation.time)} ({age(evaluation.time, now)} ago)"
        )
        if evaluation.checks:
            lines.append(checks_table(v, evaluation))
    lines.append("Conditions:")
    lines.append(conditions_table(st.conditions, now) if st.conditions else "  none")
    lines.append("Quarantined versions:")
    if st.quarantined_versions:
        lines.append(quarantine_table(st.quarantined_versions))
    else:
        lines.append("  none")
    return "\n".join(lines)


# --------------------------------------------------------------------------- history


def history_view(obj: Mapping[str, Any]) -> str:
    v = view(obj)
    if v.status is None:
        reason = v.status_error or "no status yet: is the operator running?"
        return f"{v.namespace}/{v.name}: {reason}"
    st = v.status
    entries = sorted(st.history, key=lambda e: e.since)
    rows = [
        [e.version, timestamp(e.since), e.outcome.value, one_line(e.reason, 100) or NONE]
        for e in entries
    ]
    lines = [table(["VERSION", "SINCE", "OUTCOME", "REASON"], rows) if rows else "No history."]
    lines.append("")
    lines.append("Quarantined versions:")
    if st.quarantined_versions:
        lines.append(quarantine_table(st.quarantined_versions))
    else:
        lines.append("  none")
    known = ", ".join(k.name for k in st.known_good_versions) or "none"
    lines.append(f"Known good versions: {known}")
    lines.append("")
    lines.append("Kill switch:")
    lines.append(kill_switch_history_table(st.kill_switch_history))
    return "\n".join(lines)


def kill_switch_history_table(records: Sequence[api.KillSwitchRecord]) -> str:
    """Engagements, oldest first; an open one is still engaged."""
    if not records:
        return "  never engaged"
    rows = [
        [
            timestamp(r.engaged_at),
            r.engaged_by or NONE,
            r.mode.value if r.mode else NONE,
            timestamp(r.released_at) if r.released_at else "still engaged",
            (r.released_by or NONE) if r.released_at else NONE,
            one_line(r.reason, 80) or NONE,
        ]
        for r in records
    ]
    return table(["ENGAGED", "BY", "MODE", "RELEASED", "RELEASED BY", "REASON"], rows, indent="  ")


# --------------------------------------------------------------------------- json


def _json_object(obj: Mapping[str, Any], keys: Sequence[str] | None) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    out: dict[str, Any] = {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
    }
    if keys is None:
        out["killSwitch"] = (obj.get("spec") or {}).get("killSwitch", {})
        out["status"] = status
    else:
        out.update({k: status.get(k, []) for k in keys})
    return out


def status_json(objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"items": [_json_object(o, None) for o in objects]}


def history_json(obj: Mapping[str, Any]) -> dict[str, Any]:
    return _json_object(
        obj, ["history", "quarantinedVersions", "knownGoodVersions", "killSwitchHistory"]
    )
