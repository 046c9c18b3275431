"""The check templates as the watch last delivered them, and who refers to which.

runtime.handlers feeds every ModelCheckTemplate and ClusterModelCheckTemplate event
into a TemplateIndex; a reconcile reads templates from it, so resolving a templateRef
check costs no API request (issue 12: at most one request per evaluation), and an
edited template counts at the next evaluation because the watch has already replaced
the stored body.

A template not in the index is read once from the API server (the fallback): kopf
gives no "initial listing complete" signal, so right after a start an empty index
cannot tell "not listed yet" from "does not exist", and a missing template must be an
InvalidSpec only when it really is missing. That read costs only the reconciles of
objects whose template is missing (or not yet listed), never those that resolve.

The index also remembers which ModelDeployments named which templates at their last
resolution: when a template appears, those objects are kicked and resolved again at
once rather than at their next resync (a missing template is not re-read on a timer).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from modelguard.core.api.checks import TemplateKind
from modelguard.core.api.spec import ModelDeploymentSpec
from modelguard.core.ports import Workloads

# (kind, namespace or "" for a cluster-scoped template, name)
TemplateKey = tuple[str, str, str]
ObjectKey = tuple[str, str]  # a ModelDeployment's (namespace, name)


def template_key(kind: str, namespace: str, name: str) -> TemplateKey:
    return (kind, "" if kind == TemplateKind.CLUSTER.value else namespace, name)


def named_by(namespace: str, spec: ModelDeploymentSpec) -> set[TemplateKey]:
    """The templates a spec's checks name, keyed as the index keys them."""
    if spec.analysis is None:
        return set()
    return {
        template_key(c.template_ref.kind.value, namespace, c.template_ref.name)
        for c in spec.analysis.checks
        if c.template_ref is not None
    }


class TemplateIndex:
    """Template bodies by key, fed by watch events; readable like Workloads'
    read_check_template (runtime.templates.resolve_spec takes either)."""

    def __init__(self, fallback: Workloads) -> None:
        self._fallback = fallback
        self._bodies: dict[TemplateKey, dict[str, Any]] = {}
        self._referrers: dict[TemplateKey, set[ObjectKey]] = {}
        self._refers: dict[ObjectKey, set[TemplateKey]] = {}

    # ------------------------------------------------------------ fed by the watch

    def put(self, kind: str, namespace: str, name: str, body: Mapping[str, Any]) -> set[ObjectKey]:
        """Store a template as delivered; return the objects to kick: those that named it
        while it was absent (an edit needs no kick: the next evaluation reads it)."""
        key = template_key(kind, namespace, name)
        appeared = key not in self._bodies
        # A copy of what resolving reads: kopf's body is a view of its own event.
        self._bodies[key] = {"spec": copy.deepcopy(dict(body.get("spec") or {}))}
        return set(self._referrers.get(key, ())) if appeared else set()

    def remove(self, kind: str, namespace: str, name: str) -> None:
        self._bodies.pop(template_key(kind, namespace, name), None)

    def __len__(self) -> int:
        return len(self._bodies)

    # ------------------------------------------------------------ read by reconciles

    async def read_check_template(
        self, namespace: str, kind: str, name: str
    ) -> dict[str, Any] | None:
        body = self._bodies.get(template_key(kind, namespace, name))
        if body is not None:
            return body
        return await self._fallback.read_check_template(namespace, kind, name)

    def refer(self, obj: ObjectKey, templates: Iterable[TemplateKey]) -> None:
        """Record the templates `obj` names now (replacing what it named before)."""
        self.forget(obj)
        named = set(templates)
        if named:
            self._refers[obj] = named
        for key in named:
            self._referrers.setdefault(key, set()).add(obj)

    def forget(self, obj: ObjectKey) -> None:
        """`obj` is gone: it refers to nothing any more."""
        for key in self._refers.pop(obj, set()):
            holders = self._referrers.get(key)
            if holders is not None:
                holders.discard(obj)
                if not holders:
                    del self._referrers[key]
