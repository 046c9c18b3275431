"""Polling with a deadline, for tests that wait on a real, eventually consistent system."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

__all__ = ["wait_for"]

_T = TypeVar("_T")


def wait_for(
    # A falsy None or False means "not yet": the value returned is never one of them, so
    # `wait_for(lambda: find(...))` with find() -> X | None is typed X.
    condition: Callable[[], _T | Literal[False] | None],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
) -> _T:
    """Call ``condition`` every ``interval`` s until it returns something truthy; return that.

    Raises TimeoutError after ``timeout`` seconds, quoting the last value seen so that the
    failure says how far the system got (e.g. "2/3 replicas ready").
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout:.1f}s waiting for {what}; last: {value!r}"
            )
        time.sleep(interval)
