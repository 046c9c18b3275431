"""Policy variants for --set and --sweep: a spec with one field changed.

Paths are the spec's own field names, camelCase, dot-separated, relative to spec (a
leading "spec." is allowed): analysis.failureThreshold, analysis.noData,
analysis.checks.accuracy.min (a list item by its name, or by its index: checks.0.min).
The changed spec is parsed again with the operator's rules, so a variant the API server
would refuse is refused here too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def override(raw: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of the raw spec with `path` set to `value`."""
    out = copy.deepcopy(dict(raw))
    parts = path.removeprefix("spec.").split(".")
    if not all(parts):
        raise ValueError(f"bad path {path!r}: use dotted field names, e.g. analysis.noData")
    node: Any = out
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            index = _index(node, part, path)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            where = ".".join(parts[:i])
            raise ValueError(f"bad path {path!r}: {where} is not an object")  # noqa: TRY004
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})
    return out


def _index(items: list[Any], part: str, path: str) -> int:
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return i
    raise ValueError(f"bad path {path!r}: no list item named or numbered {part!r}")


def parse_assignment(text: str) -> tuple[str, str]:
    """PATH=VALUE (the value still a string; the CLI reads it as YAML: 5, fail, 0.9)."""
    path, sep, value = text.partition("=")
    if not sep or not path:
        raise ValueError(f"expected PATH=VALUE, got {text!r}")
    return path.strip(), value
