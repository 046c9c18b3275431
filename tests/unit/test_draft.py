"""The draft of the next status rejects a typo or a wrong type: under mypy, at run time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from modelguard.core.api import HistoryEntry, ModelDeploymentStatus, Outcome, Phase, VersionStatus
from modelguard.core.decision.draft import Draft
from tests.unit.coresim import T0, v

REPO = Path(__file__).resolve().parents[2]


def draft() -> Draft:
    return Draft.of(ModelDeploymentStatus(current_version=VersionStatus.of(v(1), T0)), T0, 3)


def test_an_unknown_field_is_rejected() -> None:
    d = draft()
    with pytest.raises(ValidationError, match="phas"):
        d.status.phas = Phase.KILLED  # type: ignore[attr-defined]  # the point of the test


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("phase", "Dead"),
        ("phase", "Killed"),  # a string that names a phase is still not a Phase (strict)
        ("consecutive_failures", "3"),
        ("current_version", "v2"),
        ("passing_since", 12.5),
    ],
)
def test_a_wrong_type_is_rejected(name: str, value: object) -> None:
    d = draft()
    before = d.get()
    with pytest.raises(ValidationError, match=name):
        setattr(d.status, name, value)
    assert d.get() == before


def test_assignments_reach_the_status_and_nothing_else_changes() -> None:
    d = draft()
    d.status.phase = Phase.DEGRADED
    d.status.consecutive_failures = 2
    got = d.get()
    assert type(got) is ModelDeploymentStatus
    assert got == ModelDeploymentStatus(
        current_version=VersionStatus.of(v(1), T0), phase=Phase.DEGRADED, consecutive_failures=2
    )


@pytest.mark.typecheck
def test_mypy_rejects_a_typo_and_a_wrong_type(tmp_path: Path) -> None:
    # Imported here: the lowest-versions venv has no mypy and deselects this test, and a
    # missing mypy in the main venv is a broken set-up, so it fails rather than skips.
    from mypy import api  # noqa: PLC0415

    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from datetime import datetime
            from modelguard.core.api import ModelDeploymentStatus, Phase
            from modelguard.core.decision.draft import Draft

            d = Draft.of(ModelDeploymentStatus(), datetime.now(), 1)
            d.status.phase = Phase.KILLED
            d.status.phas = Phase.KILLED
            d.status.consecutive_failures = "3"
            """
        )
    )
    out, _, code = api.run(["--config-file", str(REPO / "pyproject.toml"), str(snippet)])
    assert code == 1, out
    assert '"WorkingStatus" has no attribute "phas"' in out
    assert (
        'Incompatible types in assignment (expression has type "str", variable has type "int")'
        in out
    )
    assert "snippet.py:7:" not in out  # the correct assignment passes


def test_the_draft_leaves_the_status_it_began_from_as_it_was() -> None:
    # The draft and its get() are built from the status's validated fields directly
    # (no model_construct): a change to the draft must not reach the original.
    status = ModelDeploymentStatus.model_validate({"currentVersion": {"modelTag": "v1"}})
    d = Draft.of(status, T0, 3)
    d.status.consecutive_failures = 2
    d.history.append(HistoryEntry(version="v1", since=T0, outcome=Outcome.LIVE))
    got = d.get()
    assert status.consecutive_failures == 0 and status.history == []
    assert got.consecutive_failures == 2 and len(got.history) == 1
    assert Draft.of(status, T0, 3).get().to_wire() == status.to_wire()
    assert Draft.of(status, T0, 3).get().model_fields_set >= status.model_fields_set
