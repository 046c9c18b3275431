"""core.leader: acquire, renew, wait and expire decisions from the Lease's fields, on an
injected monotonic clock (seconds) and a fixed wall clock (only stamped, never judged)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from modelguard.core.leader import Election, LeaseRecord, Step, Timings

WALL = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ME, OTHER = "pod-a", "pod-b"
T = Timings()  # client-go: lease 15 s, renew deadline 10 s, retry 2 s


def held_by(holder: str, version: str = "7", renewed: int = 0) -> LeaseRecord:
    stamp = WALL.replace(second=renewed)
    return LeaseRecord(holder, 15.0, WALL, stamp, transitions=3, version=version)


def test_defaults_are_client_go_timings() -> None:
    assert (T.lease_duration, T.renew_deadline, T.retry_period) == (15.0, 10.0, 2.0)


@pytest.mark.parametrize(
    ("lease", "deadline", "retry"),
    [(15, 15, 2), (15, 10, 10), (15, 20, 2), (15, 10, 0), (10, 15, 2)],
)
def test_inconsistent_timings_are_refused(lease: float, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        Timings(lease, deadline, retry)


def test_an_empty_identity_is_refused() -> None:
    with pytest.raises(ValueError, match="identity"):
        Election("")


def test_no_lease_creates_one_held_by_us() -> None:
    move = Election(ME).decide(None, 100.0, WALL)
    assert move.step is Step.CREATE
    assert move.write == LeaseRecord(ME, 15.0, WALL, WALL, transitions=0, version=None)


@pytest.mark.parametrize(
    ("name", "record", "step", "transitions"),
    [
        ("ours (a restart under our identity)", held_by(ME), Step.RENEW, 3),
        ("released: no holder", replace(held_by(""), duration=1.0), Step.ACQUIRE, 4),
        ("held by another, fresh", held_by(OTHER), Step.WAIT, None),
    ],
)
def test_first_look_at_a_lease(
    name: str, record: LeaseRecord, step: Step, transitions: int | None
) -> None:
    move = Election(ME).decide(record, 100.0, WALL)
    assert move.step is step, name
    if transitions is None:
        assert move.write is None
        return
    assert move.write is not None
    assert move.write.holder == ME
    assert move.write.version == "7"  # decided from this version: the write is conditional
    assert move.write.transitions == transitions
    assert move.write.duration == 15.0
    assert move.write.renewed == WALL


def test_a_renewal_keeps_acquire_time_and_transitions() -> None:
    later = WALL.replace(minute=5)
    move = Election(ME).decide(held_by(ME), 100.0, later)
    assert move.write is not None
    assert (move.write.acquired, move.write.renewed, move.write.transitions) == (WALL, later, 3)


@pytest.mark.parametrize(
    ("elapsed", "step"),
    # First seen at t=100: counted from 98 (one retry period earlier), expires at 113.
    [(0.0, Step.WAIT), (12.9, Step.WAIT), (13.0, Step.ACQUIRE), (60.0, Step.ACQUIRE)],
)
def test_an_unchanged_record_expires_lease_duration_after_it_could_have_been_written(
    elapsed: float, step: Step
) -> None:
    election = Election(ME)
    assert election.decide(held_by(OTHER), 100.0, WALL).step is Step.WAIT
    move = election.decide(held_by(OTHER), 100.0 + elapsed, WALL)
    assert move.step is step
    if step is Step.ACQUIRE:
        assert move.write is not None
        assert (move.write.holder, move.write.transitions, move.write.acquired) == (ME, 4, WALL)


def test_a_re_read_of_the_same_record_does_not_restart_the_timer() -> None:
    election = Election(ME)
    election.decide(held_by(OTHER, version="7"), 100.0, WALL)
    election.decide(held_by(OTHER, version="7"), 105.0, WALL)
    assert election.decide(held_by(OTHER, version="7"), 113.0, WALL).step is Step.ACQUIRE


def test_a_new_version_alone_restarts_the_timer() -> None:
    """Two renewals within the wall clock's resolution differ only in their version."""
    election = Election(ME)
    election.decide(held_by(OTHER, version="7"), 100.0, WALL)
    election.decide(held_by(OTHER, version="8"), 105.0, WALL)
    assert election.decide(held_by(OTHER, version="8"), 113.0, WALL).step is Step.WAIT
    assert election.decide(held_by(OTHER, version="8"), 118.0, WALL).step is Step.ACQUIRE


def test_each_renewal_seen_restarts_the_timer() -> None:
    election = Election(ME)
    for second in range(0, 40, 2):  # the holder renews every 2 s, seen at each poll
        record = held_by(OTHER, renewed=second)
        assert election.decide(record, 100.0 + second, WALL).step is Step.WAIT
    # The last renewal was seen at 138: counted from 136, it expires at 151.
    assert election.decide(held_by(OTHER, renewed=38), 150.9, WALL).step is Step.WAIT
    assert election.decide(held_by(OTHER, renewed=38), 151.0, WALL).step is Step.ACQUIRE


def test_the_record_duration_decides_expiry() -> None:
    election = Election(ME)
    short = replace(held_by(OTHER), duration=5.0)
    election.decide(short, 100.0, WALL)
    assert election.decide(short, 102.9, WALL).step is Step.WAIT
    assert election.decide(short, 103.0, WALL).step is Step.ACQUIRE


@pytest.mark.parametrize(
    ("elapsed", "leading"), [(0.0, True), (9.9, True), (10.0, False), (30.0, False)]
)
def test_the_holder_leads_until_the_renew_deadline(elapsed: float, leading: bool) -> None:
    election = Election(ME)
    election.wrote(held_by(ME), started=100.0)
    assert election.leading(100.0 + elapsed) is leading
    assert election.deadline(100.0 + elapsed) == (110.0 if leading else None)


def test_not_leading_before_any_write() -> None:
    election = Election(ME)
    election.decide(held_by(ME), 100.0, WALL)
    assert not election.leading(100.0)
    assert election.deadline(100.0) is None


def test_a_renewal_moves_the_deadline() -> None:
    election = Election(ME)
    election.wrote(held_by(ME), started=100.0)
    election.wrote(held_by(ME, renewed=2), started=102.0)
    assert election.leading(111.9)
    assert not election.leading(112.0)


@pytest.mark.parametrize("record", [held_by(OTHER), held_by(""), None])
def test_seeing_anything_but_our_holding_ends_our_lead(record: LeaseRecord | None) -> None:
    """Someone took it (our renewals were failing), it was released, or deleted."""
    election = Election(ME)
    election.wrote(held_by(ME), started=100.0)
    election.decide(record, 101.0, WALL)
    assert not election.leading(101.0)


def test_the_standby_never_takes_over_before_the_holder_stopped() -> None:
    """The timing argument of core.leader, as numbers: the holder's last renewal started
    at 100 and was stored at once; a standby polling every retry period sees it at most
    2 s later. The holder stops at 110; the standby takes over no earlier than 113, and
    no later than 115 (lease duration after the renewal)."""
    for seen_after in (0.0, 0.5, 1.0, 1.9, 2.0):
        holder, standby = Election(ME), Election(OTHER)
        holder.wrote(held_by(ME), started=100.0)
        record = held_by(ME)
        standby.decide(record, 100.0 + seen_after, WALL)
        takeover = next(
            t / 10 for t in range(1000, 1300) if standby.decide(record, t / 10, WALL).write
        )
        assert not holder.leading(takeover)
        assert 113.0 <= takeover <= 115.0


def test_next_attempt_waits_a_retry_period_or_until_expiry() -> None:
    election = Election(ME)
    election.decide(held_by(OTHER), 100.0, WALL)  # expires at 113
    assert election.next_attempt(100.0) == 2.0
    assert election.next_attempt(112.5) == pytest.approx(0.5)
    assert election.next_attempt(120.0) == 2.0  # expired: that attempt failed, retry later
    leader = Election(ME)
    leader.wrote(held_by(ME), started=100.0)
    assert leader.next_attempt(100.0) == 2.0
    assert leader.next_attempt(109.0) == pytest.approx(1.0)  # wake at the renew deadline


def test_release_hands_the_lease_over() -> None:
    election = Election(ME)
    election.wrote(held_by(ME), started=100.0)
    released = election.release(held_by(ME), WALL)
    assert released is not None
    assert (released.holder, released.duration, released.version) == ("", 1.0, "7")
    assert not election.leading(100.0)
    # A standby takes a released Lease at its next look, whatever it saw before.
    standby = Election(OTHER)
    standby.decide(held_by(ME), 100.0, WALL)
    assert standby.decide(released, 100.5, WALL).step is Step.ACQUIRE


@pytest.mark.parametrize("record", [held_by(OTHER), None])
def test_release_leaves_what_is_not_ours(record: LeaseRecord | None) -> None:
    assert Election(ME).release(record, WALL) is None
