"""Text and JSON views of ModelDeployments for the CLI (status, history, -o json): pure
functions, no I/O, built from the pieces in views.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelguard.cli.views import (
    NONE,
    View,
    age,
    canary_short,
    canary_text,
    desired_version,
    failures,
    kill_state,
    last_verdict,
    number,
    one_line,
    proportion_text,
    samples_text,
    spec_checks,
    table,
    threshold_text,
    timestamp,
    version_name,
    view,
)
from modelguard.core import api

# --------------------------------------------------------------------------- status


def status_table(objects: Sequence[Mapping[str, Any]], all_namespaces: bool) -> str:
    headers = ["NAME", "PHASE", "CURRENT", "STABLE", "DESIRED", "KILLED", "FAILURES"]
    views = [view(obj) for obj in sorted(objects, key=lambda o: (_ns(o), _name(o)))]
    # A CANARY column only while one runs somewhere: the table is otherwise as it was.
    canaries = any(v.status is not None and v.status.canary is not None for v in views)
    if canaries:
        headers.append("CANARY")
    headers.append("LAST VERDICT")
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for v in views:
        st = v.status
        row = [
            v.name,
            st.phase.value if st is not None else ("?" if v.status_error else NONE),
            version_name(st.current_version) if st is not None else NONE,
            version_name(st.stable_version) if st is not None else NONE,
            desired_version(v),
            kill_state(v),
            failures(v),
            *([canary_short(v)] if canaries else []),
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
    specs = spec_checks(v)
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
    if any(c.template for c in evaluation.checks):
        # Only then: a spec without templates keeps the table it always had.
        headers.insert(1, "TEMPLATE")
        for row, c in zip(rows, evaluation.checks, strict=True):
            row.insert(1, c.template or NONE)
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
        *([f"Canary:       {canary_text(v)}"] if st.canary is not None else []),
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
        # The table has no room for an interval: one line per proportion check.
        for c in evaluation.checks:
            if c.proportion is not None:
                lines.append(f"  {c.name}: {proportion_text(c) or NONE} ({c.threshold})")
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
