"""A small PromQL string-literal lexer for tests: the rules of Prometheus' lexer.

PromQL double-quoted strings follow Go's syntax: a raw newline ends the string with an
error, a backslash starts an escape (\\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\" \\ooo \\xHH
\\uHHHH \\UHHHHHHHH). ``split`` cuts a query into code and string literals, so a test can
assert that substituted text stayed inside the quotes it was put in.
"""

from __future__ import annotations

from dataclasses import dataclass

_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}
_HEX = {"x": 2, "u": 4, "U": 8}


class LexError(ValueError):
    pass


@dataclass(frozen=True)
class Literal:
    raw: str  # with its quotes, as it appears in the query
    value: str  # unescaped


def _unescape_at(text: str, i: int) -> tuple[str, int]:
    """Decode the escape whose backslash is at text[i]; return (char, next index)."""
    if i + 1 >= len(text):
        raise LexError("escape at end of input")
    c = text[i + 1]
    if c in _SIMPLE:
        return _SIMPLE[c], i + 2
    if c in _HEX:
        digits = text[i + 2 : i + 2 + _HEX[c]]
        if len(digits) != _HEX[c] or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise LexError(f"bad \\{c} escape")
        return chr(int(digits, 16)), i + 2 + _HEX[c]
    if c in "01234567":
        digits = text[i + 1 : i + 4]
        if len(digits) != 3 or any(d not in "01234567" for d in digits):
            raise LexError("bad octal escape")
        return chr(int(digits, 8)), i + 4
    raise LexError(f"unknown escape \\{c}")


def split(query: str) -> list[str | Literal]:
    """Code fragments (str) and double-quoted string literals (Literal), in order.

    Single-quoted and backtick strings do not occur in the tests' templates and are
    treated as code.
    """
    out: list[str | Literal] = []
    code: list[str] = []
    i = 0
    while i < len(query):
        ch = query[i]
        if ch != '"':
            code.append(ch)
            i += 1
            continue
        if code:
            out.append("".join(code))
            code = []
        start = i
        i += 1
        value: list[str] = []
        while True:
            if i >= len(query) or query[i] == "\n":
                raise LexError("unterminated quoted string")
            if query[i] == '"':
                i += 1
                break
            if query[i] == "\\":
                decoded, i = _unescape_at(query, i)
                value.append(decoded)
                continue
            value.append(query[i])
            i += 1
        out.append(Literal(raw=query[start:i], value="".join(value)))
    if code:
        out.append("".join(code))
    return out


def shape(query: str) -> list[str]:
    """The query with every string literal replaced by a marker: its code structure."""
    return [part if isinstance(part, str) else '"…"' for part in split(query)]


def literals(query: str) -> list[str]:
    return [part.value for part in split(query) if isinstance(part, Literal)]
