"""Go-style durations ("30s", "1m30s", "250ms"), the format CEL's duration() accepts."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


# Cached: a spec has a handful of durations, and the decision parses them on every
# reconcile (a week's backtest: 120,000 times). timedelta is immutable; errors are not cached.
@lru_cache(maxsize=512)
def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ValueError with the offending text otherwise."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: use Go syntax such as 30s, 2m or 1h30m")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Short human form for messages: 95s -> '1m35s'."""
    total = int(delta.total_seconds())
    minutes, seconds = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{seconds}s" if seconds or not out else "")
