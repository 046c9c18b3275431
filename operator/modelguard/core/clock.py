"""The wall clock and RFC 3339 timestamps, once for every layer.

utcnow is the default of every injected clock (the reconciler, scheduler, evaluator,
notifier, leadership): tests and the backtest pass their own, so the core's decisions
never read the time themselves. Timestamps are always aware, in UTC when the text names
no offset, so that they compare with the API server's (which always say Z).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_rfc3339(text: str) -> datetime:
    """2026-11-20T10:00:00Z (or an offset, or none: UTC); ValueError otherwise."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
