"""The kopf handlers' part of the kill-switch lane: which watch events take the urgent
lane, and the cap on kopf's retry backoffs that lets a watch resume at once after an
API-server outage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

import kopf

from modelguard.runtime import handlers
from modelguard.runtime.handlers import _capped
from modelguard.runtime.scheduler import Key, Scheduler

# kopf types decorated handlers as its generic callback protocol; called here directly
# with the keyword arguments they use, as kopf calls them.
Handler = Callable[..., Awaitable[None]]
model_deployment_event = cast(Handler, handlers.model_deployment_event)
deployment_event = cast(Handler, handlers.deployment_event)


def body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, raw))


class Recording(Scheduler):
    """The real bookkeeping, with the kicks recorded instead of run."""

    def __init__(self) -> None:
        super().__init__(self._never)
        self.kicks: list[tuple[Key, bool]] = []

    @staticmethod
    async def _never(namespace: str, name: str) -> datetime | None:
        raise AssertionError("nothing runs here")

    def kick(self, key: Key, *, urgent: bool = False, listed: bool = False) -> None:
        self.kicks.append((key, urgent))


def md(generation: int, enabled: bool | None, engaged: bool | None) -> kopf.Body:
    spec: dict[str, Any] = {"targetRef": {"name": "scorer"}}
    if enabled is not None:
        spec["killSwitch"] = {"enabled": enabled, "reason": "INC-1"}
    status = {"killSwitch": {"engaged": engaged}} if engaged is not None else {}
    meta = {"namespace": "ns", "name": "fraud", "generation": generation}
    return body({"metadata": meta, "spec": spec, "status": status})


async def test_an_engage_or_release_not_yet_done_is_urgent() -> None:
    s = Recording()
    memo = kopf.Memo(scheduler=s)
    await model_deployment_event(type=None, body=md(1, None, None), memo=memo)
    await model_deployment_event(type="MODIFIED", body=md(2, True, None), memo=memo)  # engage
    await model_deployment_event(type="MODIFIED", body=md(3, True, True), memo=memo)  # done
    await model_deployment_event(type="MODIFIED", body=md(4, False, True), memo=memo)  # release
    await model_deployment_event(type="MODIFIED", body=md(5, False, False), memo=memo)
    assert [urgent for _, urgent in s.kicks] == [False, True, False, True, False]


async def test_a_guarded_deployment_changed_while_engaged_is_urgent() -> None:
    s = Recording()
    memo = kopf.Memo(scheduler=s)
    await model_deployment_event(type=None, body=md(1, True, True), memo=memo)
    s.kicks.clear()
    scaled = body({"metadata": {"generation": 7}})
    await deployment_event(type="MODIFIED", body=scaled, namespace="ns", name="scorer", memo=memo)
    await model_deployment_event(type="MODIFIED", body=md(2, False, False), memo=memo)
    scaled = body({"metadata": {"generation": 8}})
    await deployment_event(type="MODIFIED", body=scaled, namespace="ns", name="scorer", memo=memo)
    assert s.kicks == [(("ns", "fraud"), True), (("ns", "fraud"), False), (("ns", "fraud"), False)]


def test_kopf_backoffs_are_capped_but_span_as_long_as_kopfs_own() -> None:
    capped = _capped((1, 1, 2, 3, 5, 8, 13, 21), 0.5)
    assert max(capped) == 0.5
    # As long in total: a restarted API server's 403s (RBAC caches still cold) must not
    # outlast the retries, or kopf stops the watch for good.
    assert sum(capped) == 54
    assert _capped((0.1, 2), 1.0) == (0.1, 1.0, 1.0)
    assert _capped(2.5, 1.0) == (1.0, 1.0, 0.5)
