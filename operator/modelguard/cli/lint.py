"""`modelguard lint -f MD.yaml [--prometheus URL]`: what the CRD and the operator would
reject, without a cluster, and with --prometheus, whether each query answers as a check
needs (exactly one series, a number, enough samples).

Without a cluster means: the same pydantic models the CRD is generated from (its schema
and the CEL rules' pydantic twins, kept in step by a test) and the operator's own
template rules (core.specparse, core.promql), every problem reported rather than the
first. One line per problem, `FILE: error|warning: WHERE: WHAT`; exit 1 on any error.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelguard.cli.errors import CliError
from modelguard.cli.prometheus import PrometheusClient, read_token
from modelguard.cli.specfile import read_yaml
from modelguard.core import api
from modelguard.core.decision import resolve
from modelguard.core.promql import placeholders_in, render
from modelguard.core.specparse import check_templates, spec_errors, template_problems


@dataclass(frozen=True)
class Problem:
    level: str  # error | warning
    where: str
    message: str


def _document(path: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    docs = [d for d in read_yaml(path) if isinstance(d, dict)]
    ours = [d for d in docs if d.get("kind") == api.KIND]
    if not ours:
        return None, [Problem("error", "kind", f"no {api.KIND} in the file")]
    doc, problems = ours[0], []
    if doc.get("apiVersion") != f"{api.GROUP}/{api.VERSION}":
        wanted = f"{api.GROUP}/{api.VERSION}"
        problems.append(
            Problem("error", "apiVersion", f"{doc.get('apiVersion')!r}: the CRD serves {wanted}")
        )
    if not (doc.get("metadata") or {}).get("name"):
        problems.append(Problem("error", "metadata.name", "required"))
    return doc, problems


def static_problems(doc: dict[str, Any]) -> tuple[api.ModelDeploymentSpec | None, list[Problem]]:
    """The schema, the cross-field rules and the templates, every problem listed."""
    try:
        spec = api.ModelDeploymentSpec.model_validate(doc.get("spec") or {})
    except ValidationError as exc:
        return None, [Problem("error", *_split(line)) for line in spec_errors(exc)]
    problems = []
    for i, check in enumerate(spec.analysis.checks if spec.analysis else []):
        # The operator's own template rules (core.specparse): lint cannot drift from them.
        problems += [Problem("error", *found) for found in template_problems(i, check)]
        if check.template_ref is not None:
            # The operator reads the template from the cluster; lint has none.
            ref = check.template_ref
            problems.append(
                Problem(
                    "warning",
                    f"spec.analysis.checks.{i}.templateRef",
                    f"check {check.name!r}: {ref.kind.value} {ref.name!r} and its args are "
                    "not checked without a cluster",
                )
            )
        if check.query is not None and "version" not in placeholders_in(check.query):
            problems.append(
                Problem(
                    "warning",
                    f"spec.analysis.checks.{i}.query",
                    f"check {check.name!r} has no {{{{version}}}}: it judges every version "
                    "on the same series",
                )
            )
    return spec, problems


def _split(line: str) -> tuple[str, str]:
    where, sep, message = line.partition(": ")
    if not (sep and where.startswith("spec")):
        where, message = "spec", line
    return where, message.removeprefix("Value error, ")


def live_problems(
    spec: api.ModelDeploymentSpec,
    client: PrometheusClient,
    values: dict[str, str],
) -> list[Problem]:
    """Each rendered query run once now, judged as a check would judge its answer."""
    problems = []
    assert spec.analysis is not None
    # No version went live here: a {{sinceStart}} window is run over the last hour, enough
    # to see whether the query answers one series with a number.
    values = {"sinceStart": "3600s", **values}
    for i, check in enumerate(spec.analysis.checks):
        for field, template in check_templates(check):
            where = f"spec.analysis.checks.{i}.{field}"
            if "stableVersion" in placeholders_in(template) and "stableVersion" not in values:
                problems.append(
                    Problem(
                        "warning", where, "not run: needs --stable-version for {{stableVersion}}"
                    )
                )
                continue
            query = render(template, values)
            result = client.query(query)
            if result.error is not None:
                problems.append(Problem("error", where, f"{result.error} (query: {query})"))
            elif result.series > 1:
                problems.append(
                    Problem(
                        "error",
                        where,
                        f"returns {result.series} series now; a check needs exactly one: "
                        f"aggregate it (sum, avg, max by nothing) (query: {query})",
                    )
                )
            elif result.series == 0 or result.value is None:
                problems.append(
                    Problem(
                        "warning",
                        where,
                        f"no series now for {values.get('version')} (query: {query})",
                    )
                )
            elif not math.isfinite(result.value):
                problems.append(
                    Problem(
                        "warning",
                        where,
                        f"returns {result.value} now: Inconclusive (query: {query})",
                    )
                )
            elif (
                field == "samplesQuery"
                and check.min_samples is not None
                and result.value < check.min_samples
            ):
                problems.append(
                    Problem(
                        "warning",
                        where,
                        f"minSamples would see {result.value:g} now, needs "
                        f"{check.min_samples}: Inconclusive (TooFewSamples)",
                    )
                )
    return problems


def cmd_lint(args: argparse.Namespace) -> int:
    path = args.file
    doc, problems = _document(path)
    spec = None
    if doc is not None:
        spec, found = static_problems(doc)
        problems += found
    if args.prometheus and spec is not None and spec.analysis is not None and not problems:
        meta = (doc or {}).get("metadata") or {}
        values = {"namespace": str(meta.get("namespace") or "default"), "name": str(meta["name"])}
        version = args.version or (resolve(spec.version, None).name if spec.version else None)
        if version is None:
            raise CliError(f"{path}: the spec names no version: give --version")
        values["version"] = version
        if args.stable_version:
            values["stableVersion"] = args.stable_version
        client = PrometheusClient(args.prometheus, read_token(args.token_file))
        try:
            problems += live_problems(spec, client, values)
        finally:
            client.close()
    for p in problems:
        print(f"{path}: {p.level}: {p.where}: {p.message}")
    errors = sum(1 for p in problems if p.level == "error")
    if not problems:
        checks = len(spec.analysis.checks) if spec and spec.analysis else 0
        print(f"{path}: ok ({checks} checks)")
    return 1 if errors else 0
