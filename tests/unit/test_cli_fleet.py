"""Kill and release, per object and for a fleet, without a cluster.

The decisions are pure functions of the object as read; the fleet runner is tested with an
in-memory stand-in for the CLI's own Session (the real API server is in tests/e2e/test_cli.py).
"""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from modelguard.cli import fleet
from modelguard.cli import main as cli
from modelguard.cli.errors import CliError
from modelguard.cli.fleet import Outcome, State, Task
from modelguard.cli.requests import (
    Step,
    kill_step,
    mixed_reasons,
    reason_matches,
    release_step,
)
from modelguard.core import api
from modelguard.core.metadata import requester_annotation

BY = api.ANNOTATION_REQUESTED_BY


def md(
    name: str = "m", enabled: bool | None = None, reason: str = "", by: str = "", rv: str = "7"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRef": {"name": name}}
    if enabled is not None:
        spec["killSwitch"] = {"enabled": enabled, "reason": reason}
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "resourceVersion": rv}
    if by:  # as the CLI writes it with the change it made
        metadata["annotations"] = {BY: requester_annotation(by, spec.get("killSwitch") or {})}
    return {"metadata": metadata, "spec": spec}


# --------------------------------------------------------------------------- decisions


def test_kill_leaves_an_engaged_switch_and_its_first_reason_alone() -> None:
    step = kill_step(md(enabled=True, reason="INC-7: drift", by="bob"), "INC-42", None, "alice")
    assert step.patch is None
    assert step.message == 'already engaged (reason "INC-7: drift", by bob); left as is'


def test_kill_of_a_free_switch_is_guarded_by_the_version_it_was_decided_on() -> None:
    kill = {"enabled": True, "reason": "INC-42", "mode": "fallback"}
    for obj in (md(), md(enabled=False)):
        step = kill_step(obj, "INC-42", api.KillSwitchMode.FALLBACK, "alice")
        assert step.patch == {
            "metadata": {
                "annotations": {BY: requester_annotation("alice", kill)},
                "resourceVersion": "7",
            },
            "spec": {"killSwitch": kill},
        }
        assert step.message == "kill switch enabled"


@pytest.mark.parametrize(
    ("reason", "text", "matches"),
    [
        ("INC-42: bad scores", "INC-42", True),
        ("see inc-42", "INC-42", True),
        ("INC-421 drift", "INC-42", False),
        ("XINC-42", "INC-42", False),
        ("INC-42", " INC-42 ", True),
        ("bad scores", "bad", True),
        ("badly", "bad", False),
    ],
)
def test_reason_match_is_a_whole_word_ignoring_case(reason: str, text: str, matches: bool) -> None:
    assert reason_matches(reason, text) is matches


def test_release_by_reason_releases_only_that_incidents_switch() -> None:
    mine = release_step(md(enabled=True, reason="INC-42: bad", by="alice"), "carol", "inc-42")
    released = {"enabled": False, "reason": ""}
    assert mine.patch == {
        "metadata": {
            "annotations": {BY: requester_annotation("carol", released)},
            "resourceVersion": "7",
        },
        "spec": {"killSwitch": released},
    }
    theirs = release_step(md(enabled=True, reason="INC-7", by="bob"), "carol", "INC-42")
    assert theirs == Step(None, 'left engaged: reason "INC-7", by bob does not match "INC-42"')
    assert release_step(md(enabled=True, reason="INC-7"), "carol", None).patch is not None
    assert release_step(md(enabled=False), "carol", None) == Step(
        None, "not engaged; nothing to release"
    )


def test_fleet_release_is_refused_when_switches_were_pulled_for_different_reasons() -> None:
    one = [md("a", True, "INC-42"), md("b", True, "INC-42"), md("c", False), md("d")]
    assert mixed_reasons(one) is None
    two = [*one, md("e", True, "INC-7")]
    message = mixed_reasons(two)
    assert message == (
        'the engaged kill switches were pulled for 2 different reasons: "INC-42" (2); '
        '"INC-7" (1). Release one incident\'s with --reason-match TEXT, or all with --force'
    )


# --------------------------------------------------------------------------- applying


def _api_error(status: int) -> CliError:
    error = CliError(f"answered {status}")
    error.__cause__ = ApiException(status=status, reason="x")
    return error


class FakeSession:
    """The CLI's Session as far as fleet.apply uses it: get and patch by name."""

    def __init__(self, objects: dict[str, dict[str, Any]], conflicts: int = 0) -> None:
        self.objects = objects
        self.conflicts = conflicts
        self.patches: list[tuple[str, dict[str, Any]]] = []

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[name]

    def patch(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.conflicts:
            self.conflicts -= 1
            # Someone else pulled the switch between our read and our patch.
            self.objects[name] = md(name, True, "INC-7", "bob", rv="8")
            raise _api_error(409)
        self.patches.append((name, body))
        return self.objects[name]


def test_a_conflict_is_decided_again_on_the_fresh_object() -> None:
    session = FakeSession({"a": md("a")}, conflicts=1)
    decide = lambda obj: kill_step(obj, "INC-42", None, "alice")  # noqa: E731
    outcome = fleet.apply(session, Task("ns", "a", md("a")), decide)  # type: ignore[arg-type]
    assert outcome == Outcome(
        "ns", "a", State.UNCHANGED, 'already engaged (reason "INC-7", by bob); left as is'
    )
    assert session.patches == []


def test_endless_conflicts_fail_that_object_with_the_api_error_as_cause() -> None:
    session = FakeSession({"a": md("a")}, conflicts=99)
    decide = lambda obj: release_step(obj, "carol", None)  # noqa: E731
    with pytest.raises(CliError, match="changed by someone else 3 times") as info:
        fleet.apply(session, Task("ns", "a", md("a", True, "x")), decide)  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, ApiException)


# --------------------------------------------------------------------------- the fleet runner


def _tasks(n: int) -> list[Task]:
    return [Task("ns", f"m{i:02d}", None) for i in range(n)]


def test_fleet_patches_run_in_parallel_up_to_the_limit() -> None:
    """Every task waits until `parallel` of them are in flight at once: a runner that
    patches one at a time never gets there and the barrier breaks."""
    barrier = threading.Barrier(8, timeout=10)
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def work(task: Task) -> Outcome:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        barrier.wait()
        with lock:
            in_flight -= 1
        return Outcome(task.namespace, task.name, State.CHANGED, "done")

    out = io.StringIO()
    progress = fleet.Progress("kill", 16, io.StringIO(), live=False)
    outcomes = fleet.run(_tasks(16), work, 8, progress, out=out)
    assert len(outcomes) == 16
    assert most == 8
    assert sorted(out.getvalue().splitlines()) == [f"ns/m{i:02d}: done" for i in range(16)]


def test_failures_are_collected_with_their_reason_and_the_rest_carry_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def work(task: Task) -> Outcome:
        if task.name in {"m03", "m01"}:
            raise CliError(f"rejected by the API server: {task.name} is invalid") from ApiException(
                status=422
            )
        return Outcome(task.namespace, task.name, State.CHANGED, "kill switch enabled")

    progress = fleet.Progress("kill", 6, io.StringIO(), live=False)
    outcomes = fleet.run(_tasks(6), work, 4, progress)
    failed = fleet.failures(outcomes)
    assert [(o.ref, o.message) for o in failed] == [
        ("ns/m01", "rejected by the API server: m01 is invalid"),
        ("ns/m03", "rejected by the API server: m03 is invalid"),
    ]
    summary = fleet.summarize("kill", outcomes, 1.234, "enabled", "already engaged")
    assert summary == "kill: 4 enabled, 0 already engaged, 2 failed (6 in 1.2s)"
    err = capsys.readouterr().err
    assert "ns/m03: error: rejected by the API server: m03 is invalid" in err


def test_an_unreachable_cluster_stops_the_fleet_and_cancels_what_is_queued() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def work(task: Task) -> Outcome:
        with lock:
            started.append(task.name)
        # No ApiException cause: the cluster did not answer at all.
        raise CliError("cannot reach the cluster at https://127.0.0.1:1: connection refused")

    progress = fleet.Progress("kill", 50, io.StringIO(), live=False)
    with pytest.raises(CliError, match="cannot reach the cluster"):
        fleet.run(_tasks(50), work, 2, progress, out=io.StringIO())
    assert len(started) < 50


def test_progress_is_redrawn_on_a_terminal_and_cleared_for_each_line() -> None:
    stream = io.StringIO()
    out = io.StringIO()
    progress = fleet.Progress("kill", 2, stream, live=True)
    first = Outcome("ns", "a", State.CHANGED, "kill switch enabled")
    progress.say(f"{first.ref}: {first.message}", out)
    progress.count(first)
    second = Outcome("ns", "b", State.FAILED, "forbidden")
    progress.count(second)
    progress.close()
    assert stream.getvalue() == (
        "\rkill: 0/2 done\rkill: 1/2 done\rkill: 2/2 done, 1 failed\r\033[K"
    )
    assert out.getvalue() == "ns/a: kill switch enabled\n"
    assert fleet.Progress("kill", 2, io.StringIO()).live is False  # not a terminal


def test_parallel_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.parse_args(["kill", "--all", "--reason", "r"]).parallel == 16
    assert cli.parse_args(["release", "--all", "--parallel", "1"]).parallel == 1
    for bad in ("0", "-3", "many"):
        with pytest.raises(SystemExit):
            cli.parse_args(["kill", "--all", "--reason", "r", "--parallel", bad])
        assert "must be a whole number >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["release", "--all", "--reason-match", "INC-1", "--force"])
    assert "not both" in capsys.readouterr().err
