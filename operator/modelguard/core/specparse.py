"""Parsing a spec as the operator does, for every reader of one: the reconciler (an
invalid spec becomes a condition), and the CLI's lint and backtest (the same rules,
without a cluster).

The pydantic models check the schema and the cross-field rules (the CEL twins); what the
CRD cannot check (the PromQL templates' placeholders) is done
here, with the part an invalid spec still says (its target and kill switch).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import ValidationError

from modelguard.core.api import Check, KillSwitchSpec, ModelDeploymentSpec, TargetRef
from modelguard.core.promql import TemplateError, validate_template


class TemplateProblem(NamedTuple):
    where: str  # the field, as the CRD spells it: spec.analysis.checks.0.query
    message: str


def check_templates(check: Check) -> list[tuple[str, str]]:
    """(field, template) for each PromQL template a check carries, the field named as
    in the CRD (query, proportion.successQuery): the one list the operator and lint use."""
    pairs = [
        ("query", check.query),
        ("baselineQuery", check.baseline_query),
        ("samplesQuery", check.samples_query),
    ]
    if check.proportion is not None:
        pairs.append(("proportion.successQuery", check.proportion.success_query))
        pairs.append(("proportion.totalQuery", check.proportion.total_query))
    return [(field, template) for field, template in pairs if template is not None]


def template_problems(index: int, check: Check) -> list[TemplateProblem]:
    """Every placeholder of check `index` the operator would refuse, in the order of
    check_templates: lint lists them all, parse_spec raises the first."""
    problems = []
    for field, template in check_templates(check):
        try:
            validate_template(template)
        except TemplateError as exc:
            where = f"spec.analysis.checks.{index}.{field}"
            problems.append(TemplateProblem(where, f"check {check.name!r}: {exc}"))
    return problems


def parse_spec(raw: Any) -> ModelDeploymentSpec:
    """Parse and check what the CRD schema cannot: PromQL template placeholders. A
    templateRef check is left as it is: the operator resolves it against the cluster
    (runtime.templates), and the template's own queries are checked there."""
    spec = ModelDeploymentSpec.model_validate(raw or {})
    for i, check in enumerate(spec.analysis.checks if spec.analysis else []):
        problems = template_problems(i, check)
        if problems:
            raise ValueError(problems[0].message)
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
