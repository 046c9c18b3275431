"""promtool's expanding notation for synthetic series (`promtool test rules`).

    0.95x3       0.95 0.95 0.95 0.95       (a x n: n+1 values)
    1+2x3        1 3 5 7                   (a+b x n: a, a+b, ... a+n*b)
    5-1x2        5 4 3
    _x2          two missing values        (_ x n: n values)
    _ stale      one missing value each    (a missing step is no data for it)
    0.95x9 0.8x4 the parts follow each other

The counts match promtool's, so a series written for `promtool test rules` means the
same thing here.
"""

from __future__ import annotations

import re

_TERM = re.compile(
    r"^(?P<a>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN)"
    r"(?:(?P<sign>[-+])(?P<b>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?))?"
    r"(?:x(?P<n>\d+))?$"
)
_MISSING = re.compile(r"^(?:_|stale)(?:x(?P<n>\d+))?$")


def expand(text: str) -> list[float | None]:
    """The values of a series, None for a missing one; ValueError names a bad term."""
    out: list[float | None] = []
    for term in text.split():
        missing = _MISSING.match(term)
        if missing:
            out.extend([None] * int(missing.group("n") or 1))
            continue
        match = _TERM.match(term)
        if match is None:
            raise ValueError(
                f"bad series term {term!r}: use a, axn, a+bxn, a-bxn or _xn (promtool notation)"
            )
        a = float(match.group("a"))
        n = match.group("n")
        if n is None:
            if match.group("b") is not None:
                raise ValueError(f"bad series term {term!r}: a+b needs a count (a+bxn)")
            out.append(a)
            continue
        b = float(match.group("b") or 0.0)
        if match.group("sign") == "-":
            b = -b
        out.extend(a + i * b for i in range(int(n) + 1))
    return out
