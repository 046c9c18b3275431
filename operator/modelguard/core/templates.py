"""Resolving a check that names a template into a concrete check (pure).

The template's parameters are filled from the check's args, else from each parameter's
default, escaped like the operator's own placeholders (an arg `v1"}` cannot break out
of a label matcher); the operator's placeholders stay for evaluation. The check's own
thresholds override the template's defaults. Every problem is a TemplateResolutionError
naming the template and the argument: the reconciler shows it as a condition.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from modelguard.core.api import Check
from modelguard.core.api.checks import TemplateKind, TemplateRef
from modelguard.core.api.templates import ModelCheckTemplateSpec
from modelguard.core.promql import fill

_THRESHOLDS = ("min", "max", "max_drop", "max_increase", "min_samples")


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
