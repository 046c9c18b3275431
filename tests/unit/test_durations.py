"""Go-style durations: the format CEL's duration() accepts, parsed the same way here."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from modelguard.core.durations import DURATION_PATTERN, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30s", timedelta(seconds=30), id="seconds"),
        pytest.param("2m", timedelta(minutes=2), id="minutes"),
        pytest.param("1h", timedelta(hours=1), id="hours"),
        pytest.param("250ms", timedelta(milliseconds=250), id="milliseconds"),
        pytest.param("1h30m", timedelta(hours=1, minutes=30), id="compound-h-m"),
        pytest.param("1m30s", timedelta(seconds=90), id="compound-m-s"),
        pytest.param(
            "1h2m3s4ms", timedelta(hours=1, minutes=2, seconds=3, milliseconds=4), id="all"
        ),
        pytest.param("1.5s", timedelta(milliseconds=1500), id="fraction"),
        pytest.param("0.5h", timedelta(minutes=30), id="fractional-hours"),
        pytest.param("0s", timedelta(0), id="zero"),
        pytest.param("1ms", timedelta(milliseconds=1), id="ms-not-m-then-s"),
        pytest.param("90m", timedelta(minutes=90), id="no-normalisation-needed"),
    ],
)
def test_parse_valid(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert re.fullmatch(DURATION_PATTERN, text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("30", id="no-unit"),
        pytest.param("s", id="no-number"),
        pytest.param("-1s", id="negative"),
        pytest.param("1d", id="days-unsupported"),
        pytest.param("1us", id="microseconds-unsupported"),
        pytest.param("1 s", id="space"),
        pytest.param(" 1s", id="leading-space"),
        pytest.param("1s ", id="trailing-space"),
        pytest.param("1S", id="upper-case"),
        pytest.param(".5s", id="no-leading-digit"),
        pytest.param("1.s", id="no-fraction-digit"),
        pytest.param("1h30", id="dangling-number"),
        pytest.param("ten seconds", id="prose"),
    ],
)
def test_parse_invalid_names_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
    assert not re.fullmatch(DURATION_PATTERN, text)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(timedelta(seconds=5), "5s", id="seconds"),
        pytest.param(timedelta(seconds=60), "1m", id="minute"),
        pytest.param(timedelta(seconds=95), "1m35s", id="minutes-seconds"),
        pytest.param(timedelta(hours=1), "1h", id="hour"),
        pytest.param(timedelta(hours=1, seconds=1), "1h1s", id="hour-second"),
        pytest.param(timedelta(hours=2, minutes=3, seconds=4), "2h3m4s", id="all"),
        pytest.param(timedelta(milliseconds=999), "0s", id="sub-second-truncates"),
        pytest.param(timedelta(days=1), "24h", id="day-in-hours"),
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize("seconds", [0, 1, 59, 60, 61, 3599, 3600, 3661, 86399, 90061])
def test_format_round_trips_through_parse(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta
