"""One-line explanations of what went wrong talking to the cluster.

An SRE runs the CLI mid-incident: every failure must say what happened and what to do,
on one line, and never as a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelguard.core import api

RESOURCE = f"{api.PLURAL}.{api.GROUP}"


class CliError(Exception):
    """A failure already explained for the user; exits with status 1."""


@dataclass(frozen=True)
class Attempt:
    """What the CLI was doing, so the message can name it."""

    verb: str  # get, list, patch, ...
    namespace: str | None  # None: all namespaces
    name: str | None = None


def _where(attempt: Attempt) -> str:
    return f'in namespace "{attempt.namespace}"' if attempt.namespace else "in any namespace"


def _status_body(body: Any) -> dict[str, Any]:
    """The Kubernetes Status object of an error response, if the body is one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str):
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def explain_api_error(status: int, reason: str, body: Any, attempt: Attempt) -> str:
    """Explain an HTTP error answer of the API server."""
    st = _status_body(body)
    message = str(st.get("message") or "").strip()
    details = st.get("details") or {}
    if status == 404:
        if attempt.name is not None and details.get("name") == attempt.name:
            return f'{api.SINGULAR} "{attempt.name}" not found {_where(attempt)}'
        # No object named in the answer: the resource type itself is unknown.
        return (
            f"the {api.KIND} API ({api.GROUP}/{api.VERSION}) is not installed in this cluster: "
            "apply the CRD first (kubectl apply -f crds/)"
        )
    if status == 403:
        named = f' "{attempt.name}"' if attempt.name else ""
        what = f"forbidden: you may not {attempt.verb} {RESOURCE}{named} {_where(attempt)}"
        return f"{what} ({message})" if message else what
    if status == 401:
        return (
            "unauthorized: the cluster rejected the credentials in your kubeconfig "
            "(expired token or certificate?)"
        )
    if status == 422:
        return f"rejected by the API server: {message or reason}"
    if status == 409:
        return f"conflict, try again: {message or reason}"
    if status == 0:
        # The client reports TLS failures with status 0 and the error in `reason`.
        return f"cannot talk to the cluster: {' '.join(str(reason).split())}"
    detail = message or str(reason or "").strip() or "no details"
    return f"the API server answered {status}: {detail}"


def connection_cause(error: BaseException) -> str:
    """A short cause for a failed connection, read off the exception chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    text = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, TimeoutError):
            return "timed out"
        text += " " + str(current)
        current = getattr(current, "reason", None) or current.__cause__ or current.__context__
        if not isinstance(current, BaseException):
            current = None
    lowered = text.lower()
    for needle, cause in (
        ("refused", "connection refused"),
        ("timed out", "timed out"),
        ("name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("temporary failure in name resolution", "unknown host"),
        ("certificate verify failed", "TLS certificate not trusted"),
    ):
        if needle in lowered:
            return cause
    return " ".join(text.split())[:200] or type(error).__name__


def explain_unreachable(server: str | None, context: str | None, error: BaseException) -> str:
    where = f" at {server}" if server else ""
    using = f' (kubeconfig context "{context}")' if context else ""
    return (
        f"cannot reach the cluster{where}{using}: {connection_cause(error)}. "
        "Is the cluster running? Check --kubeconfig, KUBECONFIG and --context."
    )
