"""Kubernetes label selectors (the `-l` / labelSelector string syntax): parse and match.

Sharding hands the selector to the API server, which filters the operator's list and
watch of ModelDeployments; the operator checks the same selector itself in two places
where the server cannot: before it starts (a bad selector is refused as a configuration
error rather than a watch that fails with 400 on every retry), and on every read of an
object (a relabelled object, now another shard's, is left alone). The rules follow
apimachinery's labels.Parse: requirements joined by commas are ANDed; `key`, `!key`,
`key=v` (or `==`), `key!=v`, `key in (a,b)`, `key notin (a,b)`; `!=` and `notin` also
match an object without the key, which is what lets one shard take "everything not
claimed by the others". The numeric `gt`/`lt` operators are refused: they make no sense
for a shard label and would be easy to misread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"({_PREFIX}/)?{_NAME}")
_VALUE = re.compile(rf"({_NAME})?")

_EXISTS = re.compile(r"(?P<negated>!?)\s*(?P<key>[^\s!=(),]+)")
_EQUALITY = re.compile(r"(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)")
_SET = re.compile(r"(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)")


class Operator(StrEnum):
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        match self.operator:
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.EQUALS | Operator.IN:
                return present and labels[self.key] in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """Requirements that must all hold; none (the empty selector) selects everything."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def everything(self) -> bool:
        return not self.requirements


def parse(text: str) -> LabelSelector:
    """The selector `text` stands for; ValueError saying which part is wrong and why."""
    parts = [p.strip() for p in _split(text)]
    if parts == [""]:
        return LabelSelector(text.strip(), ())
    return LabelSelector(text.strip(), tuple(_requirement(part, text) for part in parts))


def _split(text: str) -> list[str]:
    """Split on the commas that join requirements, not those inside `in (a,b)`."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"label selector {text!r}: ')' without '('")
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth:
        raise ValueError(f"label selector {text!r}: '(' without ')'")
    parts.append(text[start:])
    return parts


def _requirement(part: str, text: str) -> Requirement:
    where = f"label selector {text!r}"
    if not part:
        raise ValueError(f"{where}: an empty requirement (a stray comma)")
    if match := _SET.fullmatch(part):
        values = [v.strip() for v in match["values"].split(",")]
        if values == [""]:
            raise ValueError(f"{where}: {part!r} lists no values")
        return Requirement(_key(match["key"], where), Operator(match["op"]), _values(values, where))
    if match := _EQUALITY.fullmatch(part):
        operator = Operator.NOT_EQUALS if match["op"] == "!=" else Operator.EQUALS
        return Requirement(_key(match["key"], where), operator, _values([match["value"]], where))
    if match := _EXISTS.fullmatch(part):
        operator = Operator.DOES_NOT_EXIST if match["negated"] else Operator.EXISTS
        return Requirement(_key(match["key"], where), operator)
    raise ValueError(
        f"{where}: cannot read {part!r} (expected key, !key, key=value, key!=value, "
        "key in (a,b) or key notin (a,b))"
    )


def _key(key: str, where: str) -> str:
    prefix, _, name = key.rpartition("/")
    if not _KEY.fullmatch(key) or len(prefix) > 253 or len(name) > 63:
        raise ValueError(
            f"{where}: {key!r} is not a label key ([prefix/]name: name at most 63 "
            "characters of letters, digits, '-', '_', '.', starting and ending with a "
            "letter or digit; prefix a DNS subdomain)"
        )
    return key


def _values(values: list[str], where: str) -> frozenset[str]:
    for value in values:
        if not _VALUE.fullmatch(value) or len(value) > 63:
            raise ValueError(
                f"{where}: {value!r} is not a label value (at most 63 characters of "
                "letters, digits, '-', '_', '.', starting and ending with a letter or digit)"
            )
    return frozenset(values)
