"""What the object's metadata says (core.metadata): who asked, and for which rollback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelguard.core import api
from modelguard.core.metadata import requested_by, requester_annotation, rollback_request


def managed(manager: str, time: str, *spec_fields: str) -> dict[str, Any]:
    return {
        "manager": manager,
        "time": time,
        "fieldsV1": {"f:spec": {field: {} for field in spec_fields}},
    }


KILL = {"enabled": True, "reason": "INC-7"}
RELEASED = {"enabled": False, "reason": ""}
ALICE_KILLED = requester_annotation("alice", KILL)
BY_KUBECTL = [managed("kubectl-patch", "2026-01-01T00:00:00Z", "f:killSwitch")]

# (case, metadata, spec.killSwitch, expected)
REQUESTED_BY: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("nothing to go by", {}, KILL, ""),
    (
        "the CLI's annotation of this very change wins",
        {"annotations": {api.ANNOTATION_REQUESTED_BY: ALICE_KILLED}, "managedFields": BY_KUBECTL},
        KILL,
        "alice",
    ),
    (
        "a mode the CLI set must still be the spec's",
        {
            "annotations": {
                api.ANNOTATION_REQUESTED_BY: requester_annotation(
                    "alice", {**KILL, "mode": "fallback"}
                )
            },
            "managedFields": BY_KUBECTL,
        },
        {**KILL, "mode": "scaleToZero"},
        "unknown (field manager kubectl-patch)",
    ),
    (
        "a stale annotation: someone changed spec.killSwitch since",
        {"annotations": {api.ANNOTATION_REQUESTED_BY: ALICE_KILLED}, "managedFields": BY_KUBECTL},
        RELEASED,
        "unknown (field manager kubectl-patch)",
    ),
    (
        "a plain name (hand-written, older CLI) is tied to no change",
        {"annotations": {api.ANNOTATION_REQUESTED_BY: "alice"}, "managedFields": BY_KUBECTL},
        KILL,
        "unknown (field manager kubectl-patch)",
    ),
    (
        "a client library's default field manager is no person either",
        {"managedFields": [managed("OpenAPI-Generator", "2026-01-01T00:00:00Z", "f:killSwitch")]},
        KILL,
        "unknown (field manager OpenAPI-Generator)",
    ),
    (
        "else the newest writer of spec.killSwitch",
        {
            "managedFields": [
                managed("argocd-controller", "2026-01-02T00:00:00Z", "f:killSwitch"),
                managed("kubectl-patch", "2026-01-01T00:00:00Z", "f:killSwitch"),
                managed("helm", "2026-01-03T00:00:00Z", "f:version"),
            ]
        },
        KILL,
        "unknown (field manager argocd-controller)",
    ),
    (
        "an empty annotation does not count",
        {"annotations": {api.ANNOTATION_REQUESTED_BY: ""}, "managedFields": BY_KUBECTL},
        KILL,
        "unknown (field manager kubectl-patch)",
    ),
    (
        "writers of other fields only",
        {"managedFields": [managed("helm", "2026-01-03T00:00:00Z", "f:version")]},
        KILL,
        "",
    ),
]


@pytest.mark.parametrize(
    ("metadata", "kill_switch", "expected"),
    [c[1:] for c in REQUESTED_BY],
    ids=[c[0] for c in REQUESTED_BY],
)
def test_requested_by(metadata: dict[str, Any], kill_switch: dict[str, Any], expected: str) -> None:
    body = {"metadata": metadata, "spec": {"killSwitch": kill_switch}}
    assert requested_by(body) == expected


REQUEST = {"id": "r-1", "to": "v1", "reason": "bad", "requestedBy": "alice"}
ROLLBACK: list[tuple[str, str | None, api.RollbackRequest | None]] = [
    ("no annotation", None, None),
    ("empty", "", None),
    ("a request", json.dumps(REQUEST), api.RollbackRequest.model_validate(REQUEST)),
    ("not JSON", "roll back please", None),
    ("JSON, not a request", json.dumps(["r-1"]), None),
    ("a request without an id", json.dumps({"to": "v1"}), None),
]


@pytest.mark.parametrize(
    ("annotation", "expected"), [c[1:] for c in ROLLBACK], ids=[c[0] for c in ROLLBACK]
)
def test_rollback_request(annotation: str | None, expected: api.RollbackRequest | None) -> None:
    annotations = {} if annotation is None else {api.ANNOTATION_ROLLBACK_REQUEST: annotation}
    assert rollback_request({"metadata": {"annotations": annotations}}) == expected
