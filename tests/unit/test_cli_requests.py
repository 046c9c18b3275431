"""The exact patches and rollback requests the CLI sends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelguard.cli.requests import (
    RequestError,
    check_rollback,
    kill_patch,
    known_versions,
    release_patch,
    rollback_patch,
    rollback_request,
)
from modelguard.core import api
from modelguard.core.metadata import requested_by

REQUESTED_BY = "modelguard.io/requested-by"
ROLLBACK_REQUEST = "modelguard.io/rollback-request"


def test_annotation_names_are_the_apis() -> None:
    assert api.ANNOTATION_REQUESTED_BY == REQUESTED_BY
    assert api.ANNOTATION_ROLLBACK_REQUEST == ROLLBACK_REQUEST


def test_kill_patch_touches_only_the_kill_switch_and_the_requester() -> None:
    kill = {"enabled": True, "reason": "fraud spike"}
    assert kill_patch("fraud spike", None, "alice") == {
        "metadata": {
            "annotations": {
                REQUESTED_BY: json.dumps(
                    {"user": "alice", "killSwitch": kill}, separators=(",", ":")
                )
            }
        },
        "spec": {"killSwitch": kill},
    }
    with_mode = kill_patch("x", api.KillSwitchMode.FALLBACK, "alice")
    assert with_mode["spec"]["killSwitch"]["mode"] == "fallback"


def test_kill_patch_result_is_a_valid_kill_switch() -> None:
    patch = kill_patch("incident 42", api.KillSwitchMode.SCALE_TO_ZERO, "alice")
    spec = api.KillSwitchSpec.model_validate(patch["spec"]["killSwitch"])
    assert spec.enabled
    assert spec.reason == "incident 42"


@pytest.mark.parametrize("reason", ["", "   ", "\n"])
def test_kill_needs_a_real_reason(reason: str) -> None:
    with pytest.raises(RequestError, match="--reason"):
        kill_patch(reason, None, "alice")


def test_release_patch_disables_and_clears_the_reason() -> None:
    release = {"enabled": False, "reason": ""}
    assert release_patch("bob") == {
        "metadata": {
            "annotations": {
                REQUESTED_BY: json.dumps(
                    {"user": "bob", "killSwitch": release}, separators=(",", ":")
                )
            }
        },
        "spec": {"killSwitch": release},
    }


PRECONFIGURED = {
    "mode": "scaleToZero",
    "fallback": {"serviceName": "fraud", "selector": {"a": "b"}},
}


@pytest.mark.parametrize(
    "patch",
    [
        kill_patch("INC-7", None, "alice"),
        kill_patch("INC-7", api.KillSwitchMode.FALLBACK, "alice"),
        release_patch("alice"),
    ],
)
def test_the_operator_credits_the_cli_user_for_exactly_the_change_it_made(
    patch: dict[str, Any],
) -> None:
    """The annotation names the user only for the kill switch this patch sets: the same
    annotation under a kill switch changed since by someone else names nobody."""
    body = {
        "metadata": patch["metadata"],
        # As stored: the CLI's fields merged into a preconfigured kill switch.
        "spec": {"killSwitch": {**PRECONFIGURED, **patch["spec"]["killSwitch"]}},
    }
    assert requested_by(body) == "alice"
    changed = not patch["spec"]["killSwitch"]["enabled"]
    body["spec"]["killSwitch"] |= {"enabled": changed, "reason": "someone else's"}
    assert requested_by(body) == ""


def test_rollback_request_json_round_trips_through_the_api_model() -> None:
    request = rollback_request("2.3.1", "bad accuracy", "alice", new_id=lambda: "abc123")
    patch = rollback_patch(request)
    annotations = patch["metadata"]["annotations"]
    assert set(patch) == {"metadata"}
    assert REQUESTED_BY not in annotations  # that one describes kill-switch changes
    payload = json.loads(annotations[ROLLBACK_REQUEST])
    assert payload == {
        "id": "abc123",
        "to": "2.3.1",
        "reason": "bad accuracy",
        "requestedBy": "alice",
    }
    assert api.RollbackRequest.model_validate_json(annotations[ROLLBACK_REQUEST]) == request


def test_rollback_request_ids_are_fresh_uuid_hex() -> None:
    ids = {rollback_request(None, "", "a").id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    payload = json.loads(
        rollback_patch(rollback_request(None, "", "a"))["metadata"]["annotations"][ROLLBACK_REQUEST]
    )
    assert "to" not in payload


# --------------------------------------------------------------------------- validation


def _obj(
    status: dict[str, Any] | None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "m", "annotations": annotations or {}}}
    if status is not None:
        obj["status"] = status
    return obj


STATUS: dict[str, Any] = {
    "stableVersion": {"modelTag": "v2"},
    "knownGoodVersions": [{"modelTag": "v2"}, {"modelTag": "v1"}],
    "history": [
        {"version": "v1", "since": "2026-11-01T00:00:00Z", "outcome": "Superseded"},
        {"version": "v2", "since": "2026-11-02T00:00:00Z", "outcome": "Promoted"},
        {"version": "v3", "since": "2026-11-03T00:00:00Z", "outcome": "RolledBack"},
    ],
    "quarantinedVersions": [{"modelTag": "v3", "reason": "accuracy 0.7 < 0.9"}],
}


def test_known_versions_known_good_first_then_newest_history() -> None:
    assert known_versions(api.ModelDeploymentStatus.model_validate(STATUS)) == ["v2", "v1", "v3"]


def test_rollback_to_a_known_version_is_accepted() -> None:
    assert check_rollback(_obj(STATUS), "v1") == []
    assert check_rollback(_obj(STATUS), None) == []


def test_rollback_to_an_unknown_version_lists_the_known_ones() -> None:
    with pytest.raises(RequestError, match=r'"v9" is unknown here; known versions: v2, v1, v3'):
        check_rollback(_obj(STATUS), "v9")


def test_rollback_to_a_quarantined_version_warns() -> None:
    warnings = check_rollback(_obj(STATUS), "v3")
    assert warnings == ['version "v3" is quarantined (accuracy 0.7 < 0.9)']


def test_rollback_without_any_good_version_needs_to() -> None:
    status = {"history": STATUS["history"][2:]}
    with pytest.raises(RequestError, match=r"no known good version.*versions seen: v3.*--to"):
        check_rollback(_obj(status), None)


def test_rollback_without_status_is_not_checked() -> None:
    assert check_rollback(_obj(None), "anything") == []


def test_rollback_warns_when_replacing_an_unhandled_request() -> None:
    pending = json.dumps({"id": "old1", "to": "v1"})
    obj = _obj(STATUS, {ROLLBACK_REQUEST: pending})
    assert check_rollback(obj, "v1") == [
        "replacing rollback request old1 that the operator has not handled"
    ]
    handled = _obj({**STATUS, "handledRollbackRequest": "old1"}, {ROLLBACK_REQUEST: pending})
    assert check_rollback(handled, "v1") == []
