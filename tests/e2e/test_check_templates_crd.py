"""The check-template CRDs on a real API server: the library applies with kustomize and
lists with readable columns, CEL rejects a bad template, and the ModelDeployment schema
takes a templateRef check (its CEL rules compile and say what they should)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelguard_testenv import ControlPlane, wait_established

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CRDS = ("clustermodelchecktemplates", "modelchecktemplates", "modeldeployments")


@pytest.fixture
def crds(control_plane: ControlPlane) -> ControlPlane:
    control_plane.kubectl("apply", "-f", str(REPO / "crds"))
    for plural in CRDS:
        wait_established(control_plane, f"{plural}.modelguard.io")
    return control_plane


def test_the_library_applies_and_lists_with_columns(crds: ControlPlane) -> None:
    crds.kubectl("apply", "-k", str(REPO / "deploy" / "checks"))
    table = crds.kubectl("get", "clustermodelchecktemplates").stdout
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "METRIC", "MIN", "MAX", "MINSAMPLES", "MARGIN", "AGE"]
    # An unset column prints blank, so a row splits into fewer words: F1 has no max.
    by_name = {row.split()[0]: row.split() for row in rows}
    assert by_name["f1-score"][1:4] == ["F1", "0.8", "200"]
    assert by_name["latency-p99"][1:4] == ["LatencyP99", "0.5", "100"]
    # ... and the 0.5 of p99 sits under MAX, not MIN.
    p99 = next(r for r in rows if r.startswith("latency-p99 "))
    assert p99[header.index("MAX") :].split()[0] == "0.5"
    assert {p.stem for p in (REPO / "deploy" / "checks").glob("*.yaml")} - {"kustomization"} <= set(
        by_name
    )


def _apply(plane: ControlPlane, doc: Any, namespace: str | None = None) -> str:
    ns = ["-n", namespace] if namespace else []
    result = plane.kubectl("apply", *ns, "-f", "-", input=json.dumps(doc), check=False)
    return result.stdout + result.stderr if result.returncode else ""


def test_cel_rejects_a_parameter_named_like_a_placeholder(crds: ControlPlane) -> None:
    bad = {
        "apiVersion": "modelguard.io/v1alpha1",
        "kind": "ClusterModelCheckTemplate",
        "metadata": {"name": "bad-param"},
        "spec": {"metric": "M", "query": "up", "params": [{"name": "version"}]},
    }
    assert "a parameter cannot be named like an operator placeholder" in _apply(crds, bad)


def test_cel_takes_one_form_of_template(crds: ControlPlane) -> None:
    arms = {"successQuery": 'a{v="{{version}}"}', "totalQuery": 'b{v="{{version}}"}'}

    def template(**spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "modelguard.io/v1alpha1",
            "kind": "ClusterModelCheckTemplate",
            "metadata": {"name": "ab"},
            "spec": {"metric": "AB", **spec},
        }

    proportion = {**arms, "margin": 0.02}
    both = template(query="up", proportion=proportion)
    assert "exactly one of query and proportion" in _apply(crds, both)
    assert "exactly one of query and proportion" in _apply(crds, template())
    with_samples = template(proportion=proportion, samplesQuery="up")
    assert "a proportion template takes no" in _apply(crds, with_samples)
    no_version = template(proportion={**proportion, "totalQuery": "b"})
    assert "must use {{version}}" in _apply(crds, no_version)
    assert _apply(crds, template(proportion=proportion)) == ""
    row = crds.kubectl("get", "clustermodelchecktemplates", "ab").stdout.splitlines()[1]
    assert row.split()[1:3] == ["AB", "0.02"]  # under MARGIN; min/max blank


def test_a_model_deployment_may_name_a_template(crds: ControlPlane, namespace: str) -> None:
    docs = yaml.safe_load_all((REPO / "examples" / "fraud-scorer.yaml").read_text())
    (md,) = [d for d in docs if d and d["kind"] == "ModelDeployment"]
    md["metadata"].pop("namespace", None)
    md["spec"]["analysis"]["checks"] = [
        {"name": "f1", "templateRef": {"name": "f1-score"}, "args": {"model": "fraud"}, "min": 0.85}
    ]
    assert _apply(crds, md, namespace) == ""
    md["spec"]["analysis"]["checks"] = [{"name": "f1", "query": "up", "min": 1, "args": {"a": "b"}}]
    assert "args need a templateRef" in _apply(crds, md, namespace)
    md["spec"]["analysis"]["checks"] = [
        {"name": "f1", "templateRef": {"name": "f1-score"}, "samplesQuery": "up", "minSamples": 1}
    ]
    assert "takes its queries from the template" in _apply(crds, md, namespace)
    md["spec"]["analysis"]["checks"] = [{"name": "ab", "query": "up", "min": 1, "margin": 0.1}]
    assert "margin is for a templateRef check" in _apply(crds, md, namespace)
