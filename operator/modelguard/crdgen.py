"""Generate the ModelDeployment CRD from the pydantic models in modelguard.core.api.

    python -m modelguard.crdgen            # rewrite crds/modelguard.io_modeldeployments.yaml
    python -m modelguard.crdgen --check    # exit 1 if the committed file is stale

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


def build_crd() -> dict[str, Any]:
    spec = schema_of(api.ModelDeploymentSpec, "validation")
    status = schema_of(api.ModelDeploymentStatus, "serialization")
    # Fields that kopf may keep in status must survive pruning.
    status["x-kubernetes-preserve-unknown-fields"] = True
    status.pop("required", None)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{api.PLURAL}.{api.GROUP}"},
        "spec": {
            "group": api.GROUP,
            "names": {
                "kind": api.KIND,
                "listKind": f"{api.KIND}List",
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "shortNames": api.SHORT_NAMES,
                "categories": ["modelguard"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        _column("Phase", ".status.phase"),
                        _column("Current", ".status.currentVersion.name"),
                        _column("Stable", ".status.stableVersion.name"),
                        _column("Killed", ".status.killSwitch.engaged", "boolean"),
                        _column("Canary", ".status.canary.version.name"),
                        _column("Weight", ".status.canary.desiredWeight", "integer", 1),
                        _column("Failures", ".status.consecutiveFailures", "integer", 1),
                        _column("Age", ".metadata.creationTimestamp", "date"),
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "description": "A model Deployment guarded by modelguard.",
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def _column(name: str, path: str, kind: str = "string", priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


def render() -> str:
    header = "# GENERATED by `python -m modelguard.crdgen` from operator/modelguard/core/api/.\n"
    header += "# Do not edit: change the models and regenerate.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=CRD_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m modelguard.crdgen", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
