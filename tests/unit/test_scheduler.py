"""The scheduler's bookkeeping of what each ModelDeployment guards, and the filter that
keeps watch events which changed nothing that matters from kicking reconciles."""

from __future__ import annotations

from datetime import datetime

from modelguard.runtime.scheduler import Scheduler


async def _never(namespace: str, name: str) -> datetime | None:
    raise AssertionError("no reconcile runs in these tests")


def scheduler() -> Scheduler:
    return Scheduler(_never)


def test_guards_follow_the_latest_targets() -> None:
    s = scheduler()
    s.watch(("ns", "a"), [("deployment", "scorer"), ("service", "scorer")])
    s.watch(("ns", "b"), [("deployment", "scorer")])
    assert s.guards_of("deployment", "ns", "scorer") == {("ns", "a"), ("ns", "b")}
    assert s.guards_of("service", "ns", "scorer") == {("ns", "a")}
    assert s.guards_of("deployment", "other", "scorer") == set()

    s.watch(("ns", "a"), [("deployment", "scorer-v2")])  # targetRef edited, fallback removed
    assert s.guards_of("deployment", "ns", "scorer") == {("ns", "b")}
    assert s.guards_of("deployment", "ns", "scorer-v2") == {("ns", "a")}
    assert s.guards_of("service", "ns", "scorer") == set()

    s.forget(("ns", "b"))
    assert s.guards_of("deployment", "ns", "scorer") == set()
    assert s._watchers == {("deployment", "ns", "scorer-v2"): {("ns", "a")}}


def test_changed_reports_only_a_new_look() -> None:
    s = scheduler()
    assert s.changed("deployment", "ns", "scorer", 1)  # first sight
    assert not s.changed("deployment", "ns", "scorer", 1)  # a status-only update
    assert s.changed("deployment", "ns", "scorer", 2)  # kubectl scale: new generation
    assert not s.changed("deployment", "ns", "scorer", 2)
    assert s.changed("deployment", "other", "scorer", 2)  # per namespace and name
    s.unseen("deployment", "ns", "scorer")  # deleted: a re-created one is news
    assert s.changed("deployment", "ns", "scorer", 2)


def test_a_target_nobody_guards_any_more_is_forgotten() -> None:
    s = scheduler()
    s.watch(("ns", "a"), [("deployment", "scorer")])
    assert s.changed("deployment", "ns", "scorer", 3)
    s.watch(("ns", "a"), [])
    s.watch(("ns", "a"), [("deployment", "scorer")])
    assert s.changed("deployment", "ns", "scorer", 3)  # guarded anew: looked at anew


def test_kick_guards_queues_every_guard_now() -> None:
    s = scheduler()
    s.watch(("ns", "a"), [("deployment", "scorer")])
    s.watch(("ns", "b"), [("deployment", "scorer")])
    s.kick_guards("deployment", "ns", "scorer")
    assert set(s._due) == {("ns", "a"), ("ns", "b")}
    assert s.size == 2
