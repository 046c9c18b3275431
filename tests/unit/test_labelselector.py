"""core.labelselector reads kubectl's -l syntax as the API server does, and refuses what
the API server would refuse (400 on every watch retry), saying which part is wrong."""

from __future__ import annotations

import pytest

from modelguard.core.labelselector import Operator, Requirement, parse

SHARD = "modelguard.io/shard"


@pytest.mark.parametrize(
    ("text", "labels", "selected"),
    [
        ("", {}, True),
        ("", {SHARD: "a"}, True),
        (f"{SHARD}=a", {SHARD: "a"}, True),
        (f"{SHARD}==a", {SHARD: "a"}, True),
        (f"{SHARD}=a", {SHARD: "b"}, False),
        (f"{SHARD}=a", {}, False),
        (f"{SHARD}!=a", {}, True),  # != matches an object without the key
        (f"{SHARD}!=a", {SHARD: "a"}, False),
        (f"{SHARD} in (a, b)", {SHARD: "b"}, True),
        (f"{SHARD} in (a,b)", {}, False),
        (f"{SHARD} notin (a,b)", {}, True),  # so does notin: the catch-all shard's rule
        (f"{SHARD} notin (a,b)", {SHARD: "c"}, True),
        (f"{SHARD} notin (a,b)", {SHARD: "a"}, False),
        (SHARD, {SHARD: ""}, True),
        (SHARD, {}, False),
        (f"!{SHARD}", {}, True),
        (f"!{SHARD}", {SHARD: "a"}, False),
        (f"{SHARD}=a,team in (fraud)", {SHARD: "a", "team": "fraud"}, True),
        (f"{SHARD}=a,team in (fraud)", {SHARD: "a", "team": "ads"}, False),
        (f" {SHARD} notin ( a , b ) , tier!=batch ", {"tier": "online"}, True),
    ],
)
def test_matches_as_the_api_server_does(text: str, labels: dict[str, str], selected: bool) -> None:
    assert parse(text).matches(labels) is selected


def test_requirements_are_read_into_their_parts() -> None:
    selector = parse(f"{SHARD} notin (a,b), !legacy, tier=online")
    assert selector.requirements == (
        Requirement(SHARD, Operator.NOT_IN, frozenset({"a", "b"})),
        Requirement("legacy", Operator.DOES_NOT_EXIST),
        Requirement("tier", Operator.EQUALS, frozenset({"online"})),
    )
    assert not selector.everything
    assert parse("  ").everything


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"{SHARD}=a,", "empty requirement"),
        (f"{SHARD} in ()", "lists no values"),
        (f"{SHARD} in (a", "'(' without ')'"),
        (f"{SHARD}=a)", "')' without '('"),
        ("modelguard.io/shard/x=a", "not a label key"),
        ("-shard=a", "not a label key"),
        (f"{'k' * 64}=a", "not a label key"),
        (f"{SHARD}=a b", "cannot read"),
        (f"{SHARD}=-a", "not a label value"),
        (f"{SHARD}={'v' * 64}", "not a label value"),
        (f"{SHARD} > 1", "cannot read"),  # gt/lt refused on purpose
        (f"{SHARD} in (a,b c)", "not a label value"),
    ],
)
def test_a_bad_selector_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="label selector") as error:
        parse(text)
    assert says in str(error.value)
