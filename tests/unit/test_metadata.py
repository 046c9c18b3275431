"""What the object's metadata says (core.metadata): who asked, and for which rollback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelguard.core import api
from modelguard.core.metadata import requested_by, rollback_request


def managed(manager: str, time: str, *spec_fields: str) -> dict[str, Any]:
    return {
        "manager": manager,
        "time": time,
        "fieldsV1": {"f:spec": {field: {} for field in spec_fields}},
    }


REQUESTED_BY: list[tuple[str, dict[str, Any], str]] = [
    ("nothing to go by", {}, ""),
    (
        "the CLI's annotation wins",
        {
            "annotations": {api.ANNOTATION_REQUESTED_BY: "alice"},
            "managedFields": [managed("kubectl-patch", "2026-01-01T00:00:00Z", "f:killSwitch")],
        },
        "alice",
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
        "argocd-controller",
    ),
    (
        "an empty annotation does not count",
        {
            "annotations": {api.ANNOTATION_REQUESTED_BY: ""},
            "managedFields": [managed("kubectl-patch", "2026-01-01T00:00:00Z", "f:killSwitch")],
        },
        "kubectl-patch",
    ),
    (
        "writers of other fields only",
        {"managedFields": [managed("helm", "2026-01-03T00:00:00Z", "f:version")]},
        "",
    ),
]


@pytest.mark.parametrize(
    ("metadata", "expected"), [c[1:] for c in REQUESTED_BY], ids=[c[0] for c in REQUESTED_BY]
)
def test_requested_by(metadata: dict[str, Any], expected: str) -> None:
    assert requested_by({"metadata": metadata}) == expected


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
