"""Parsing a spec as the operator does, for every reader of one: the reconciler (an
invalid spec becomes a condition), and the CLI's lint and backtest (the same rules,
without a cluster).

The pydantic models check the schema and the cross-field rules (the CEL twins); what the
CRD cannot check (the PromQL templates' placeholders) is done
here, with the part an invalid spec still says (its target and kill switch).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from modelguard.core.api import KillSwitchSpec, ModelDeploymentSpec, TargetRef
from modelguard.core.promql import TemplateError, validate_template


def parse_spec(raw: Any) -> ModelDeploymentSpec:
    """Parse and check what the CRD schema cannot: PromQL template placeholders. A
    templateRef check is left as it is: the operator resolves it against the cluster
    (runtime.templates), and the template's own queries are checked there."""
    spec = ModelDeploymentSpec.model_validate(raw or {})
    for check in spec.analysis.checks if spec.analysis else []:
        p = check.proportion
        arms = (p.success_query, p.total_query) if p is not None else ()
        for template in (check.query, check.baseline_query, check.samples_query, *arms):
            if template is not None:
                try:
                    validate_template(template)
                except TemplateError as exc:
                    raise ValueError(f"check {check.name!r}: {exc}") from exc
    return spec


def parse_offline_spec(raw: Any) -> ModelDeploymentSpec:
    """parse_spec for readers without a cluster (backtest, simulate, replay): a
    templateRef check cannot be resolved there, so it is refused, naming the check."""
    spec = parse_spec(raw)
    for check in spec.analysis.checks if spec.analysis else []:
        if check.template_ref is not None:
            raise ValueError(
                f"check {check.name!r}: templateRef needs a cluster to resolve: "
                "copy the template's queries into the check to run it here"
            )
    return spec


def spec_errors(exc: Exception) -> list[str]:
    """One line per problem, each naming its field (spec.analysis.checks.0.min: ...)."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            parts.append(f"spec.{where}: {err['msg']}" if where else err["msg"])
        return parts
    return [str(exc)]


def spec_error(exc: Exception) -> str:
    """The problems on one line, as the InvalidSpec condition shows them."""
    return "; ".join(spec_errors(exc))


def kill_switch_part(raw: dict[str, Any]) -> ModelDeploymentSpec | None:
    """What an invalid spec still says: its target and kill switch (None if not even that)."""
    try:
        return ModelDeploymentSpec(
            target_ref=TargetRef.model_validate(raw.get("targetRef") or {}),
            kill_switch=KillSwitchSpec.model_validate(raw.get("killSwitch") or {}),
        )
    except ValidationError:
        return None
