"""core.clock: RFC 3339 read once for the CLI's --start/--end and the scenarios' times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelguard.core.clock import parse_rfc3339, utcnow

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2026-11-20T12:00:00Z", "2026-11-20T12:00:00+00:00", "2026-11-20T14:00:00+02:00"]
)
def test_an_rfc3339_time_with_an_offset_is_that_instant(text: str) -> None:
    assert parse_rfc3339(text) == NOON


def test_a_time_without_an_offset_is_read_as_utc() -> None:
    parsed = parse_rfc3339("2026-11-20T12:00:00")
    assert parsed.tzinfo is UTC and parsed == NOON


def test_a_fraction_and_the_offset_are_kept() -> None:
    parsed = parse_rfc3339("2026-11-20T12:00:00.250-05:00")
    assert parsed.utcoffset() == timezone(timedelta(hours=-5)).utcoffset(None)
    assert parsed == NOON + timedelta(hours=5, milliseconds=250)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", ""])
def test_anything_else_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"isoformat|month must be"):
        parse_rfc3339(text)


def test_utcnow_is_aware_and_in_utc() -> None:
    before = datetime.now(UTC)
    now = utcnow()
    assert now.tzinfo is UTC and before <= now <= datetime.now(UTC)
