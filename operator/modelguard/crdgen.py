"""Generate the CRDs from the pydantic models in modelguard.core.api.

    python -m modelguard.crdgen            # rewrite crds/modelguard.io_*.yaml
    python -m modelguard.crdgen --check    # exit 1 if a committed file is stale

(the ModelDeployment, and the check templates: ModelCheckTemplate, ClusterModelCheckTemplate).

pydantic's JSON Schema is close to, but not, a Kubernetes structural schema: refs are
inlined, Optional[X] becomes X (absent, not null), titles go, and defaults go too, so the
API server never rewrites objects that GitOps tools then see as drifted (the operator
applies the same defaults when it parses the object).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from modelguard.core import api
from modelguard.core.api.templates import (
    CLUSTER_TEMPLATE_KIND,
    TEMPLATE_KIND,
    ModelCheckTemplateSpec,
)

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / f"{api.GROUP}_{api.PLURAL}.yaml"

# Keys of pydantic's output that mean nothing to the API server or are not allowed there.
_DROP = {"title", "default", "readOnly", "examples"}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    variants = node.pop("anyOf", None)
    if variants is not None:
        kept = [v for v in variants if v.get("type") != "null"]
        if len(kept) != 1:
            raise ValueError(f"cannot express anyOf {variants!r} in a structural schema")
        node = {**kept[0], **node}
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
    # JSON Schema 2020 (pydantic's gt/lt) says exclusiveMinimum: 0; the API server's
    # OpenAPI v3 wants minimum: 0 with exclusiveMinimum: true.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), int | float) and not isinstance(node[exclusive], bool):
            node[bound] = node.pop(exclusive)
            node[exclusive] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
        node.setdefault("type", "string")
    if node.get("type") == "object" and "properties" in node:
        node.pop("additionalProperties", None)  # forbidden beside properties
    if (
        node.get("type") == "object"
        and isinstance(node.get("additionalProperties"), dict)
        and "minItems" in node
    ):
        node["minProperties"] = node.pop("minItems")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _structural(prop) for name, prop in value.items()}
        else:
            out[key] = _structural(value)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def schema_of(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode=mode)
    return dict(_structural(_inline(raw, raw.get("$defs", {}))))


def _crd(
    names: tuple[str, str, list[str]],
    scope: str,
    version: dict[str, Any],
    description: str,
    properties: dict[str, Any],
) -> dict[str, Any]:
    """A CRD of our group: (kind, plural, short names), one served version."""
    kind, plural, short_names = names
    schema = {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            **properties,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{api.GROUP}"},
        "spec": {
            "group": api.GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["modelguard"],
            },
            "scope": scope,
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    **version,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def build_crd() -> dict[str, Any]:
    spec = schema_of(api.ModelDeploymentSpec, "validation")
    status = schema_of(api.ModelDeploymentStatus, "serialization")
    # Fields that kopf may keep in status must survive pruning.
    status["x-kubernetes-preserve-unknown-fields"] = True
    status.pop("required", None)
    assert api.KIND.lower() == api.SINGULAR  # _crd derives the singular from the kind
    columns = [
        _column("Phase", ".status.phase"),
        _column("Current", ".status.currentVersion.name"),
        _column("Stable", ".status.stableVersion.name"),
        _column("Killed", ".status.killSwitch.engaged", "boolean"),
        _column("Canary", ".status.canary.version.name"),
        _column("Weight", ".status.canary.desiredWeight", "integer", 1),
        _column("Failures", ".status.consecutiveFailures", "integer", 1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ]
    return _crd(
        (api.KIND, api.PLURAL, api.SHORT_NAMES),
        "Namespaced",
        {"subresources": {"status": {}}, "additionalPrinterColumns": columns},
        "A model Deployment guarded by modelguard.",
        {"spec": spec, "status": status},
    )


def _column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


# kind -> (scope, short name) of the check-template CRDs.
TEMPLATE_CRDS = {
    CLUSTER_TEMPLATE_KIND: ("Cluster", "cmct"),
    TEMPLATE_KIND: ("Namespaced", "mct"),
}


def template_crd_path(kind: str) -> Path:
    return CRD_PATH.parent / f"{api.GROUP}_{kind.lower()}s.yaml"


def build_template_crd(kind: str) -> dict[str, Any]:
    scope, short = TEMPLATE_CRDS[kind]
    where = "every namespace" if scope == "Cluster" else "its namespace"
    columns = [
        _column("Metric", ".spec.metric"),
        _column("Min", ".spec.defaults.min", "number"),
        _column("Max", ".spec.defaults.max", "number"),
        _column("MinSamples", ".spec.defaults.minSamples", "integer"),
        _column("Margin", ".spec.proportion.margin", "number"),
        _column("Description", ".spec.description", "string", 1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ]
    return _crd(
        (kind, f"{kind.lower()}s", [short]),
        scope,
        {"additionalPrinterColumns": columns},
        f"One check's queries, for ModelDeployments of {where}.",
        {"spec": schema_of(ModelCheckTemplateSpec, "validation")},
    )


_HEADER = (
    "# GENERATED by `python -m modelguard.crdgen` from operator/modelguard/core/api/.\n"
    "# Do not edit: change the models and regenerate.\n"
)


def _text(crd: dict[str, Any]) -> str:
    return _HEADER + yaml.safe_dump(crd, sort_keys=False, width=100)


def render() -> str:
    return _text(build_crd())


def rendered_files() -> dict[Path, str]:
    """Every generated CRD file and its text."""
    files = {CRD_PATH: render()}
    for kind in TEMPLATE_CRDS:
        files[template_crd_path(kind)] = _text(build_template_crd(kind))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument(
        "--output", type=Path, default=None, help="only the ModelDeployment CRD, to this file"
    )
    args = parser.parse_args(argv)
    files = {args.output: render()} if args.output is not None else rendered_files()
    stale = 0
    for path, text in files.items():
        if args.check:
            current = path.read_text() if path.exists() else ""
            if current != text:
                print(f"{path} is stale: run python -m modelguard.crdgen", file=sys.stderr)
                stale = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return stale


if __name__ == "__main__":
    sys.exit(main())
