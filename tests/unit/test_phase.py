"""phase_of: one row per rule, plus the rows that pin the order of precedence."""

from __future__ import annotations

from typing import Any

import pytest

from modelguard.core.api import (
    Evaluation,
    KillSwitchStatus,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    PendingAction,
    Phase,
    QuarantinedVersion,
    Verdict,
    VersionStatus,
)
from modelguard.core.decision import Readiness, phase_of
from modelguard.core.reasons import ConditionReason as R
from tests.unit.coresim import T0, make_spec, v

ENGAGED = KillSwitchStatus(engaged=True, reason="incident")
PENDING = PendingAction(kind="apply", target=v(2), decided_at=T0)
FAILED = Evaluation(time=T0, version="v2", verdict=Verdict.FAILED)
PASSED = Evaluation(time=T0, version="v2", verdict=Verdict.PASSED)
V1_GOOD = [VersionStatus.of(v(1), T0)]
V2_GOOD = [VersionStatus.of(v(1), T0), VersionStatus.of(v(2), T0)]
V2_QUARANTINED = [QuarantinedVersion.quarantine(v(2), T0, "failed")]


def status(**fields: Any) -> ModelDeploymentStatus:
    """A status running v2 (what a spec for version 2 asks for), with `fields` on top."""
    return ModelDeploymentStatus(current_version=VersionStatus.of(v(2), T0)).model_copy(
        update=fields
    )


def running_v1(**fields: Any) -> ModelDeploymentStatus:
    """After a rollback from v2: v1 runs, v2 (still in the spec) is quarantined."""
    return status(
        current_version=VersionStatus.of(v(1), T0), quarantined_versions=V2_QUARANTINED, **fields
    )


SPEC = make_spec(2)
NO_ANALYSIS = make_spec(2, analysis=False)
WATCH = make_spec(None)

ROWS: list[tuple[str, ModelDeploymentSpec | None, ModelDeploymentStatus, bool, Readiness]] = [
    # (rule, spec (None: unreadable), status, target found, expected)
    ("invalid", None, status(), True, Readiness(Phase.INVALID, "False", R("InvalidSpec"))),
    (
        "invalid but killed",
        None,
        status(kill_switch=ENGAGED),
        True,
        Readiness(Phase.KILLED, "False", R("InvalidSpec")),
    ),
    (
        "invalid, target missing",
        None,
        status(),
        False,
        Readiness(Phase.INVALID, "False", R("InvalidSpec")),
    ),
    (
        "target missing",
        SPEC,
        status(),
        False,
        Readiness(Phase.PENDING, "False", R("TargetNotFound")),
    ),
    (
        "target missing beats the kill switch",
        SPEC,
        status(kill_switch=ENGAGED),
        False,
        Readiness(Phase.PENDING, "False", R("TargetNotFound")),
    ),
    (
        "killed",
        SPEC,
        status(kill_switch=ENGAGED),
        True,
        Readiness(Phase.KILLED, "False", R("Killed")),
    ),
    (
        "killed beats a pending change and failing checks",
        SPEC,
        status(kill_switch=ENGAGED, pending_action=PENDING, last_evaluation=FAILED),
        True,
        Readiness(Phase.KILLED, "False", R("Killed")),
    ),
    (
        "applying",
        SPEC,
        status(pending_action=PENDING),
        True,
        Readiness(Phase.PROGRESSING, "False", R("Applying")),
    ),
    (
        "applying beats failing checks",
        SPEC,
        status(pending_action=PENDING, last_evaluation=FAILED, consecutive_failures=2),
        True,
        Readiness(Phase.PROGRESSING, "False", R("Applying")),
    ),
    (
        "degraded",
        SPEC,
        status(last_evaluation=FAILED, consecutive_failures=1),
        True,
        Readiness(Phase.DEGRADED, "False", R("Degraded")),
    ),
    (
        "a failed evaluation with no failure counted is not degraded",
        SPEC,
        status(last_evaluation=FAILED, consecutive_failures=0, known_good_versions=V2_GOOD),
        True,
        Readiness(Phase.HEALTHY, "True", R("KnownGood")),
    ),
    (
        "degraded beats a held rollback",
        SPEC,
        running_v1(last_evaluation=FAILED, consecutive_failures=1, known_good_versions=V1_GOOD),
        True,
        Readiness(Phase.DEGRADED, "False", R("Degraded")),
    ),
    (
        "rolled back onto a known-good version",
        SPEC,
        running_v1(known_good_versions=V1_GOOD),
        True,
        Readiness(Phase.ROLLED_BACK, "True", R("RolledBack")),
    ),
    (
        "rolled back onto a version not known good",
        SPEC,
        running_v1(),
        True,
        Readiness(Phase.ROLLED_BACK, "False", R("RolledBack")),
    ),
    (
        "watch mode holds no desired version, so no rollback holds",
        WATCH,
        running_v1(known_good_versions=V1_GOOD),
        True,
        Readiness(Phase.HEALTHY, "True", R("KnownGood")),
    ),
    (
        "no analysis",
        NO_ANALYSIS,
        status(),
        True,
        Readiness(Phase.HEALTHY, "True", R("NoAnalysis")),
    ),
    (
        "known good",
        SPEC,
        status(known_good_versions=V2_GOOD, last_evaluation=PASSED),
        True,
        Readiness(Phase.HEALTHY, "True", R("KnownGood")),
    ),
    (
        "analysing",
        SPEC,
        status(known_good_versions=V1_GOOD, last_evaluation=PASSED),
        True,
        Readiness(Phase.PROGRESSING, "False", R("Analysing")),
    ),
]


@pytest.mark.parametrize(
    ("spec", "st", "target_found", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_phase_of(
    spec: ModelDeploymentSpec | None,
    st: ModelDeploymentStatus,
    target_found: bool,
    expected: Readiness,
) -> None:
    assert phase_of(spec, st, target_found=target_found) == expected
