"""Resolving a check that names a template into a concrete check (pure).

The template's parameters are filled from the check's args, else from each parameter's
default, escaped like the operator's own placeholders (an arg `v1"}` cannot break out
of a label matcher); the operator's placeholders stay for evaluation. The check's own
thresholds override the template's defaults. Every problem is a TemplateResolutionError
naming the template and the argument: the reconciler shows it as a condition.

A proportion template (spec.proportion) resolves into a proportion check: its two
queries filled, its test settings kept, the check's own margin and minSamples winning;
min, max, maxDrop and maxIncrease mean nothing to it and are refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from modelguard.core.api import Check
from modelguard.core.api.checks import ProportionCheck, TemplateKind, TemplateRef
from modelguard.core.api.templates import ModelCheckTemplateSpec
from modelguard.core.promql import fill

_THRESHOLDS = ("min", "max", "max_drop", "max_increase", "min_samples")
_BOUNDS = {"min": "min", "max": "max", "max_drop": "maxDrop", "max_increase": "maxIncrease"}


class TemplateResolutionError(ValueError):
    """A template is missing, or the check's args do not fit it."""


def describe(ref: TemplateRef) -> str:
    return f"{ref.kind.value} {ref.name!r}"


def resolve_check(check: Check, template: ModelCheckTemplateSpec | None) -> Check:
    """The concrete check `check` stands for (itself when it names no template).
    `template` is what `check.template_ref` names, None when there is no such object."""
    ref = check.template_ref
    if ref is None:
        return check
    where = f"check {check.name!r}: {describe(ref)}"
    if template is None:
        raise TemplateResolutionError(f"{where} not found")
    args = dict(check.args or {})
    declared = {p.name for p in template.params}
    unknown = sorted(set(args) - declared)
    if unknown:
        raise TemplateResolutionError(
            f"{where} has no parameter(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(declared)) or 'none'}"
        )
    values: dict[str, str] = {}
    for param in template.params:
        value = args.get(param.name, param.default)
        if value is None:
            raise TemplateResolutionError(f"{where} needs argument {param.name!r}")
        values[param.name] = value
    fields: dict[str, object]
    if template.proportion is not None:
        arms = _proportion(where, template.proportion, check)
        for arm in ("successQuery", "totalQuery"):
            arms[arm] = fill(str(arms[arm]), values)
        fields = {"name": check.name, "proportion": arms}
    elif check.margin is not None:
        raise TemplateResolutionError(f"{where}: margin is for proportion templates only")
    else:
        fields = {
            "name": check.name,
            **{k: fill(v, values) for k, v in template.queries().items()},
            **_thresholds(template, check),
        }
    try:
        return Check.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise TemplateResolutionError(f"{where}: {problems}") from None


def _proportion(where: str, form: ProportionCheck, check: Check) -> dict[str, object]:
    """The template's proportion check with the check's margin and minSamples."""
    bounds = [alias for field, alias in _BOUNDS.items() if getattr(check, field) is not None]
    if bounds:
        raise TemplateResolutionError(
            f"{where} is a proportion template: it takes margin and minSamples, "
            f"not {', '.join(bounds)}"
        )
    arms: dict[str, object] = form.model_dump(by_alias=True, exclude_none=True, mode="json")
    if check.margin is not None:
        arms["margin"] = check.margin
    if check.min_samples is not None:
        arms["minSamples"] = check.min_samples
    return arms


def _thresholds(template: ModelCheckTemplateSpec, check: Check) -> dict[str, float | int]:
    chosen: dict[str, float | int] = {}
    for field in _THRESHOLDS:
        own, default = getattr(check, field), getattr(template.defaults, field)
        value = own if own is not None else default
        if value is not None:
            chosen[field] = value
    return chosen


def resolve_checks(
    checks: list[Check], templates: Mapping[tuple[TemplateKind, str], ModelCheckTemplateSpec]
) -> list[Check]:
    """Every check resolved against `templates` (keyed by kind and name); the first
    problem raises."""
    return [
        resolve_check(c, templates.get((c.template_ref.kind, c.template_ref.name)))
        if c.template_ref is not None
        else c
        for c in checks
    ]
