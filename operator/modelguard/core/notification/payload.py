"""What a receiver gets: a CloudEvents 1.0 structured event, or a Slack incoming-webhook
message. Built from the notice alone, so a notice re-sent after a restart carries the
same evidence (and, for CloudEvents, the same id a receiver can deduplicate on)."""

from __future__ import annotations

from typing import Any

from modelguard.core.api import GROUP, KIND, VERSION, Decision, Notice

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
SLACK_CONTENT_TYPE = "application/json"
EVENT_TYPE_PREFIX = "io.modelguard."

_TITLES: dict[Decision, str] = {
    Decision.ROLLED_BACK: "rolled back",
    Decision.QUARANTINED: "reverted a quarantined version",
    Decision.KILL_SWITCH_ENGAGED: "kill switch engaged",
    Decision.KILL_SWITCH_RELEASED: "kill switch released",
    Decision.PROMOTED: "version promoted",
    Decision.CANARY_STEP_ADVANCED: "canary step advanced",
    Decision.CANARY_ABORTED: "canary aborted",
}


def event_type(decision: Decision) -> str:
    """io.modelguard.rolledback, io.modelguard.killswitchengaged, ..."""
    return EVENT_TYPE_PREFIX + decision.value.lower()


def _wire(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def data(notice: Notice, namespace: str, name: str, uid: str) -> dict[str, Any]:
    """The evidence, shared by both formats (CloudEvents `data`)."""
    return {
        "decision": notice.decision.value,
        "reason": notice.reason,
        "message": notice.message,
        "time": notice.time.isoformat(),
        "object": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "namespace": namespace,
            "name": name,
            "uid": uid,
        },
        "versions": {
            "current": notice.version,
            "from": notice.from_version,
            "to": notice.to_version,
            "stable": notice.stable_version,
            "knownGood": list(notice.known_good),
            "quarantined": notice.quarantined,
        },
        "requestedBy": notice.requested_by,
        "evaluation": None
        if notice.evaluated_at is None
        else {
            "time": notice.evaluated_at.isoformat(),
            "checks": [
                {k: _wire(v) for k, v in c.model_dump(by_alias=True).items()} for c in notice.checks
            ],
        },
    }


def cloudevent(notice: Notice, namespace: str, name: str, uid: str) -> dict[str, Any]:
    """CloudEvents 1.0, structured mode (sent as application/cloudevents+json)."""
    return {
        "specversion": "1.0",
        "id": notice.id,
        "source": f"/modelguard/{namespace}/{name}",
        "type": event_type(notice.decision),
        "subject": f"{namespace}/{name}",
        "time": notice.time.isoformat(),
        "datacontenttype": "application/json",
        "data": data(notice, namespace, name, uid),
    }


def _escape(text: str) -> str:
    """Slack mrkdwn: &, < and > are control characters (links, mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _versions(notice: Notice) -> str:
    if notice.from_version or notice.to_version:
        line = f"{notice.from_version or '?'} → {notice.to_version or '?'}"
    else:
        line = notice.version or "unknown"
    if notice.stable_version:
        line += f" (known good: {notice.stable_version})"
    return line


def _check_line(check: dict[str, Any]) -> str:
    value = "no data" if check["value"] is None else f"{check['value']:g}"
    threshold = f" (threshold {check['threshold']})" if check["threshold"] else ""
    why = f", {check['reason']}" if check["reason"] else ""
    return f"• {check['name']}: {value}{threshold}: {check['verdict']}{why}"


def slack(notice: Notice, namespace: str, name: str, uid: str) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` (the notification's fallback) and blocks."""
    evidence = data(notice, namespace, name, uid)
    title = f"{namespace}/{name}: {_TITLES[notice.decision]}"
    fields = [f"*Versions*\n{_escape(_versions(notice))}"]
    if notice.requested_by:
        fields.append(f"*Requested by*\n{_escape(notice.requested_by)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _escape(notice.reason)[:3000]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if evidence["evaluation"] is not None and notice.checks:
        lines = [_check_line(c) for c in evidence["evaluation"]["checks"]]
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _escape("\n".join(lines))[:3000]},
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{KIND} {namespace}/{name} · {notice.time.isoformat()} · "
                    f"id {notice.id}",
                }
            ],
        }
    )
    return {"text": _escape(f"{title}: {notice.reason}")[:3000], "blocks": blocks}
