"""Which objects a ModelDeployment guards (core.guarded): one rule, for what the kube
adapter reads and what the runtime watches."""

from __future__ import annotations

from typing import Any

import pytest

from modelguard.core.guarded import guarded_by, kill_switch_state

FALLBACK = {"serviceName": "fraud", "selector": {"app": "rules"}}
ENGAGED_ON_FRAUD = {
    "killSwitch": {"engaged": True, "mode": "fallback", "saved": {"service": "fraud"}}
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[tuple[str, str]]]] = [
    ("just the target", {"targetRef": {"name": "m"}}, {}, [("deployment", "m")]),
    ("no targetRef yet", {}, {}, [("deployment", "")]),
    (
        "a fallback named but not the mode: never read",
        {"targetRef": {"name": "m"}, "killSwitch": {"fallback": FALLBACK}},
        {},
        [("deployment", "m")],
    ),
    (
        "fallback mode, released: the Service it would switch",
        {"targetRef": {"name": "m"}, "killSwitch": {"mode": "fallback", "fallback": FALLBACK}},
        {},
        [("deployment", "m"), ("service", "fraud")],
    ),
    (
        "engaged: the switched Service, not the one the spec names now",
        {
            "targetRef": {"name": "m"},
            "killSwitch": {
                "enabled": True,
                "reason": "r",
                "mode": "fallback",
                "fallback": {**FALLBACK, "serviceName": "other"},
            },
        },
        ENGAGED_ON_FRAUD,
        [("deployment", "m"), ("service", "fraud")],
    ),
    (
        "engaged, killSwitch block removed (GitOps revert): the switched Service",
        {"targetRef": {"name": "m"}},
        ENGAGED_ON_FRAUD,
        [("deployment", "m"), ("service", "fraud")],
    ),
    (
        "engaged in fallback mode without a Service found: the spec's Service",
        {
            "targetRef": {"name": "m"},
            "killSwitch": {
                "enabled": True,
                "reason": "r",
                "mode": "fallback",
                "fallback": FALLBACK,
            },
        },
        {"killSwitch": {"engaged": True, "mode": "fallback", "saved": {"replicas": 3}}},
        [("deployment", "m"), ("service", "fraud")],
    ),
    (
        "engaged scaling to zero: no Service",
        {"targetRef": {"name": "m"}, "killSwitch": {"enabled": True, "reason": "r"}},
        {"killSwitch": {"engaged": True, "mode": "scaleToZero", "saved": {"replicas": 3}}},
        [("deployment", "m")],
    ),
    (
        "an unreadable killSwitch block adds nothing, a recorded switch still counts",
        {"targetRef": {"name": "m"}, "killSwitch": {"mode": "sideways", "fallback": FALLBACK}},
        ENGAGED_ON_FRAUD,
        [("deployment", "m"), ("service", "fraud")],
    ),
    (
        "an unreadable killSwitch block, released",
        {"targetRef": {"name": "m"}, "killSwitch": {"mode": "sideways", "fallback": FALLBACK}},
        {},
        [("deployment", "m")],
    ),
    (
        "an unreadable status counts as released",
        {"targetRef": {"name": "m"}},
        {"killSwitch": {"engaged": "very"}},
        [("deployment", "m")],
    ),
]


@pytest.mark.parametrize(
    ("spec", "status", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_guarded_objects(
    spec: dict[str, Any], status: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert guarded_by(spec, status) == expected


@pytest.mark.parametrize(
    ("spec", "status", "pending", "in_play"),
    [
        ({}, {}, False, False),
        ({"killSwitch": {"enabled": True}}, {}, True, True),  # engage not done yet
        ({"killSwitch": {"enabled": True}}, {"killSwitch": {"engaged": True}}, False, True),
        ({"killSwitch": {"enabled": False}}, {"killSwitch": {"engaged": True}}, True, True),
        ({}, {"killSwitch": {"engaged": True}}, True, True),  # released by removing the block
        ({"killSwitch": "garbage"}, {"killSwitch": None}, False, False),
        ({"killSwitch": {"enabled": "yes"}}, {}, False, False),  # only a literal true
    ],
)
def test_kill_switch_state(
    spec: dict[str, Any], status: dict[str, Any], pending: bool, in_play: bool
) -> None:
    state = kill_switch_state(spec, status)
    assert (state.pending, state.in_play) == (pending, in_play)
