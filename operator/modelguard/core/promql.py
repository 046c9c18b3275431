"""PromQL templates: {{placeholder}} substitution with label-matcher escaping.

Only the operator's own values are substituted (never user-controlled free text), and
each is escaped as a PromQL double-quoted string body, so a version such as `v1"}` cannot
break out of a label matcher. An unknown placeholder is an error rather than a literal
`{{typo}}` that would silently match nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

PLACEHOLDERS = ("version", "stableVersion", "namespace", "name", "sinceStart")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(ValueError):
    """A query names a placeholder the operator does not provide."""


def escape_label_value(value: str) -> str:
    """Escape for the inside of a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


# Cached: a spec has a handful of templates, rendered on every evaluation (a week's
# backtest: 20,000 times each). A frozenset, so no caller can change the cached value.
@lru_cache(maxsize=512)
def _placeholders(template: str) -> frozenset[str]:
    return frozenset(_PLACEHOLDER.findall(template))


def placeholders_in(template: str) -> set[str]:
    return set(_placeholders(template))


def validate_template(template: str) -> None:
    unknown = _placeholders(template) - set(PLACEHOLDERS)
    if unknown:
        raise TemplateError(
            f"unknown placeholder(s) {', '.join(sorted(unknown))}; known: {', '.join(PLACEHOLDERS)}"
        )


def render(template: str, values: Mapping[str, str]) -> str:
    """Substitute placeholders; raise TemplateError if one has no value."""
    validate_template(template)

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise TemplateError(f"placeholder {{{{{key}}}}} has no value here")
        return escape_label_value(values[key])

    return _PLACEHOLDER.sub(substitute, template)


def since_start(started_at: datetime, now: datetime) -> str:
    """{{sinceStart}}: the time since the version under test went live as a PromQL
    duration in whole seconds, rounded up and at least 1s (a zero range is a PromQL
    error). `increase(x[{{sinceStart}}])` then counts everything since the start, the
    cumulative counts a sequential test needs."""
    seconds = (now - started_at).total_seconds()
    return f"{max(1, math.ceil(seconds))}s"


def fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute only the placeholders in `values` (escaped as render() does), leaving the
    others for render(): a check template's parameters are filled when it is resolved,
    the operator's own values only at evaluation."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        return escape_label_value(values[key]) if key in values else match.group(0)

    return _PLACEHOLDER.sub(substitute, template)
