"""Resolving a spec's templateRef checks at reconcile time (the reading; the resolving
itself is pure: core.templates).

Templates are read at every reconcile that parses the spec, from the watch-fed
runtime.template_index in the operator (no API request; an edited template counts at
the next evaluation), or straight from the API server when no index is given. A missing
template, an unreadable one, or args that do not fit it raise TemplateResolutionError
(a ValueError), which the reconciler reports like any other invalid spec: a condition
and an Event, and the kill switch still obeyed.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ValidationError

from modelguard.core.api import CheckResult, ModelDeploymentSpec
from modelguard.core.api.checks import TemplateKind
from modelguard.core.api.templates import ModelCheckTemplateSpec
from modelguard.core.templates import TemplateResolutionError, resolve_checks

# check name -> "Kind/name" of the template it came from
Origins = dict[str, str]


class TemplateReader(Protocol):
    """Where templates are read: the Workloads port, or the index (template_index)."""

    async def read_check_template(
        self, namespace: str, kind: str, name: str
    ) -> dict[str, Any] | None: ...


async def resolve_spec(
    kube: TemplateReader, namespace: str, spec: ModelDeploymentSpec
) -> tuple[ModelDeploymentSpec, Origins]:
    """`spec` with every templateRef check replaced by the concrete check it stands for,
    and where each came from (unchanged, and no call, when no check names a template)."""
    analysis = spec.analysis
    refs = {c.template_ref for c in analysis.checks if c.template_ref} if analysis else set()
    if analysis is None or not refs:
        return spec, {}
    templates: dict[tuple[TemplateKind, str], ModelCheckTemplateSpec] = {}
    for ref in refs:
        body = await kube.read_check_template(namespace, ref.kind.value, ref.name)
        if body is None:
            continue  # resolve_checks names the check and the missing template
        try:
            templates[(ref.kind, ref.name)] = ModelCheckTemplateSpec.model_validate(
                body.get("spec") or {}
            )
        except ValidationError as exc:
            # The CRD schema admits most of this; the placeholder rules are ours.
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise TemplateResolutionError(
                f"{ref.kind.value} {ref.name!r} is invalid: {problems}"
            ) from None
    checks = resolve_checks(analysis.checks, templates)
    origins = {
        c.name: f"{c.template_ref.kind.value}/{c.template_ref.name}"
        for c in analysis.checks
        if c.template_ref is not None
    }
    resolved = analysis.model_copy(update={"checks": checks})
    return spec.model_copy(update={"analysis": resolved}), origins


def tag(results: list[CheckResult] | None, origins: Origins) -> list[CheckResult] | None:
    """Each result marked with the template its check came from (status shows it)."""
    if results is None or not origins:
        return results
    return [
        r.model_copy(update={"template": origins[r.name]}) if r.name in origins else r
        for r in results
    ]
