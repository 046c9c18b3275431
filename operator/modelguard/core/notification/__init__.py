"""Notifications, the pure part: which decisions are notified, the evidence recorded with
them, the bookkeeping that sends each one once, and the payloads (CloudEvents, Slack).

The sender (runtime.notifier) does the HTTP; everything it decides is decided here.
"""

from __future__ import annotations

from modelguard.core.notification.outbox import Outcome, due, of, record, recorded, settle
from modelguard.core.notification.payload import cloudevent, slack

__all__ = ["Outcome", "cloudevent", "due", "of", "record", "recorded", "settle", "slack"]
