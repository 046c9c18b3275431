"""Reading a ModelDeployment from a file for lint, backtest and simulate, and the
--set / --sweep overrides on its spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from modelguard.cli.errors import CliError
from modelguard.core import api
from modelguard.core.replay.variants import override, parse_assignment
from modelguard.core.specparse import parse_offline_spec, spec_errors


@dataclass(frozen=True)
class SpecFile:
    path: str
    raw_spec: dict[str, Any]
    namespace: str
    name: str


def read_yaml(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not YAML: {' '.join(str(exc).split())}") from exc


def read_spec_file(path: str) -> SpecFile:
    """The first ModelDeployment in the file (kind checked when given)."""
    for doc in read_yaml(path):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind", api.KIND) != api.KIND:
            continue
        meta = doc.get("metadata") or {}
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            raise CliError(f"{path}: the {api.KIND} has no spec")
        return SpecFile(
            path=path,
            raw_spec=spec,
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta.get("name") or "model"),
        )
    raise CliError(f"{path}: no {api.KIND} in the file")


def value_of(text: str) -> Any:
    """A --set value read as YAML: 5 is a number, fail a string, [a, b] a list."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_sets(raw: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    for assignment in assignments:
        try:
            path, value = parse_assignment(assignment)
            raw = override(raw, path, value_of(value))
        except ValueError as exc:
            raise CliError(f"--set {assignment}: {exc}") from exc
    return raw


def sweep_variants(raw: dict[str, Any], sweep: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(label, raw spec) per variant: PATH=V1,V2,... or the spec itself."""
    if sweep is None:
        return [("as given", raw)]
    try:
        path, values = parse_assignment(sweep)
        return [(f"{path}={v}", override(raw, path, value_of(v))) for v in values.split(",") if v]
    except ValueError as exc:
        raise CliError(f"--sweep {sweep}: {exc}") from exc


def parsed(raw: dict[str, Any], where: str) -> api.ModelDeploymentSpec:
    """The spec as the operator parses it, or a CliError listing each problem."""
    try:
        return parse_offline_spec(raw)
    except (ValidationError, ValueError) as exc:
        raise CliError(f"{where}: invalid spec: " + "; ".join(spec_errors(exc))) from exc
