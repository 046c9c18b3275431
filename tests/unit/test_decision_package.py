"""modelguard.core.decision is imported by name from the runtime and the tests: the split
into modules must keep every name it exported as one module."""

from __future__ import annotations

from modelguard.core import decision

# The public names of core/decision.py before it became a package.
EXPORTED_BEFORE = {
    "DEFAULT_TAG_ENV",
    "KILL_SWITCH_RECHECK",
    "PENDING_RECHECK",
    "KillSwitchOnly",
    "Observation",
    "Plan",
    "analysis_due",
    "desired_quarantined",
    "invalid_spec",
    "is_quarantined",
    "matches",
    "next_due",
    "plain",
    "plan",
    "resolve",
    "rollback_target",
    "stable_version",
    "tag_env",
    "template_values",
}


def test_every_name_exported_before_is_still_exported() -> None:
    assert set(decision.__all__) >= EXPORTED_BEFORE
    for name in decision.__all__:
        assert hasattr(decision, name), name


def test_plan_is_the_function_not_its_module() -> None:
    # `plan` is also the name of a submodule; the package attribute must be the function.
    assert callable(decision.plan)
    assert decision.plan.__module__ == "modelguard.core.decision.plan"
