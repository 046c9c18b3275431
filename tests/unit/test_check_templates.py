"""Check templates: the API models, the pure resolver, the library in deploy/checks/,
and the generated CRDs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from modelguard import crdgen
from modelguard.core.api import Check
from modelguard.core.api.checks import TemplateKind
from modelguard.core.api.templates import (
    CLUSTER_TEMPLATE_KIND,
    TEMPLATE_KIND,
    ClusterModelCheckTemplate,
    ModelCheckTemplateSpec,
)
from modelguard.core.evaluation import render_check
from modelguard.core.specparse import parse_offline_spec, parse_spec
from modelguard.core.templates import TemplateResolutionError, resolve_check, resolve_checks

LIBRARY = Path(__file__).resolve().parents[2] / "deploy" / "checks"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LIBRARY_FILES = sorted(p for p in LIBRARY.glob("*.yaml") if p.name != "kustomization.yaml")


def library(name: str) -> ModelCheckTemplateSpec:
    raw = yaml.safe_load((LIBRARY / f"{name}.yaml").read_text())
    return ClusterModelCheckTemplate.model_validate(raw).spec


def templated(**fields: Any) -> Check:
    return Check.model_validate({"name": "quality", "templateRef": {"name": "t"}, **fields})


TEMPLATE = ModelCheckTemplateSpec.model_validate(
    {
        "metric": "Accuracy",
        "params": [{"name": "model"}, {"name": "window", "default": "10m"}],
        "query": 'avg_over_time(acc{model="{{model}}",version="{{version}}"}[{{window}}])',
        "defaults": {"min": 0.9},
    }
)

# --------------------------------------------------------------------------- library


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_library_templates_are_valid_and_named_after_their_file(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    template = ClusterModelCheckTemplate.model_validate(raw)
    assert template.metadata["name"] == path.stem
    # Usable as it stands: every parameter has a default, the defaults make a valid check.
    check = resolve_check(
        Check.model_validate({"name": "c", "templateRef": {"name": path.stem}}), template.spec
    )
    rendered = render_check(
        check,
        {"version": "v2", "stableVersion": "v1", "namespace": "ml", "name": "fraud"},
        now=NOW,
    )
    assert "{{" not in rendered.query
    assert 'model="fraud"' in rendered.query  # the model label defaults to the MD's name


def test_the_kustomization_lists_the_whole_library() -> None:
    kustomization = yaml.safe_load((LIBRARY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in LIBRARY_FILES)


# --------------------------------------------------------------------------- resolver


def test_resolving_fills_args_and_defaults_and_keeps_operator_placeholders() -> None:
    check = resolve_check(templated(args={"model": "fraud"}, minSamples=None), TEMPLATE)
    assert check.query == 'avg_over_time(acc{model="fraud",version="{{version}}"}[10m])'
    assert check.min == 0.9
    assert check.template_ref is None  # a concrete check


def test_a_check_s_own_threshold_overrides_the_default() -> None:
    check = resolve_check(templated(args={"model": "m"}, min=0.95, max=1.0), TEMPLATE)
    assert (check.min, check.max) == (0.95, 1.0)


def test_args_are_escaped_like_placeholders() -> None:
    check = resolve_check(templated(args={"model": 'x"} or up{a="'}), TEMPLATE)
    assert check.query is not None
    assert 'model="x\\"} or up{a=\\""' in check.query


@pytest.mark.parametrize(
    ("check", "template", "message"),
    [
        (
            templated(args={"model": "m"}),
            None,
            "check 'quality': ClusterModelCheckTemplate 't' not found",
        ),
        (templated(), TEMPLATE, "needs argument 'model'"),
        (templated(args={"model": "m", "windw": "5m"}), TEMPLATE, "no parameter(s) windw"),
        (
            templated(args={"model": "m"}, maxDrop=0.1),
            TEMPLATE,
            "maxDrop/maxIncrease and baselineQuery go together",
        ),
    ],
    ids=["missing-template", "missing-arg", "unknown-arg", "bad-result"],
)
def test_problems_name_what_is_wrong(
    check: Check, template: ModelCheckTemplateSpec | None, message: str
) -> None:
    with pytest.raises(TemplateResolutionError) as caught:
        resolve_check(check, template)
    assert message in str(caught.value)


def test_resolve_checks_looks_templates_up_by_kind_and_name() -> None:
    namespaced = Check.model_validate(
        {
            "name": "q",
            "templateRef": {"name": "t", "kind": "ModelCheckTemplate"},
            "args": {"model": "m"},
        }
    )
    plain = Check.model_validate({"name": "p", "query": "up", "min": 1})
    resolved = resolve_checks([namespaced, plain], {(TemplateKind.NAMESPACED, "t"): TEMPLATE})
    assert [c.query for c in resolved] == [
        'avg_over_time(acc{model="m",version="{{version}}"}[10m])',
        "up",
    ]
    with pytest.raises(TemplateResolutionError, match="ModelCheckTemplate 't' not found"):
        resolve_checks([namespaced], {(TemplateKind.CLUSTER, "t"): TEMPLATE})


TEMPLATE_SPEC = {
    "targetRef": {"name": "fraud"},
    "analysis": {
        "prometheus": {"url": "http://prometheus:9090"},
        "checks": [{"name": "f1", "templateRef": {"name": "f1-score"}}],
    },
}


def test_parse_spec_leaves_a_template_check_for_the_operator_to_resolve() -> None:
    [check] = parse_spec(TEMPLATE_SPEC).analysis.checks  # type: ignore[union-attr]
    assert check.template_ref is not None and check.template_ref.name == "f1-score"


# --------------------------------------------------------------------------- template API


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"query": 'x{m="{{modl}}"}'}, "query uses undeclared placeholder(s) modl"),
        ({"params": [{"name": "version"}]}, "cannot be named like an operator placeholder"),
        ({"params": [{"name": "a"}, {"name": "a"}]}, "parameter names must be unique"),
        ({"query": ""}, "at least 1 character"),
    ],
)
def test_bad_templates_are_rejected(change: dict[str, Any], message: str) -> None:
    raw = {"metric": "M", "query": "up", **change}
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ModelCheckTemplateSpec.model_validate(raw)


# --------------------------------------------------------------------------- CRDs


def test_template_crds_are_committed_and_listed() -> None:
    for path, text in crdgen.rendered_files().items():
        assert path.read_text() == text, f"{path} is stale: run python -m modelguard.crdgen"
    listed = yaml.safe_load((crdgen.CRD_PATH.parent / "Kustomization").read_text())["resources"]
    assert {p.name for p in crdgen.rendered_files()} == set(listed)


@pytest.mark.parametrize(
    ("kind", "scope"), [(CLUSTER_TEMPLATE_KIND, "Cluster"), (TEMPLATE_KIND, "Namespaced")]
)
def test_template_crd_scope_and_columns(kind: str, scope: str) -> None:
    crd = crdgen.build_template_crd(kind)
    assert crd["spec"]["scope"] == scope
    assert crd["metadata"]["name"] == f"{kind.lower()}s.modelguard.io"
    (version,) = crd["spec"]["versions"]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Metric"] == ".spec.metric"
    assert columns["Min"] == ".spec.defaults.min"
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert columns["Margin"] == ".spec.proportion.margin"
    assert set(spec["required"]) == {"metric"}  # query or proportion: CEL says which
    assert [r["message"] for r in spec["x-kubernetes-validations"]] == [
        "a template holds exactly one of query and proportion",
        "a proportion template takes no baselineQuery, samplesQuery or defaults "
        "(its margin and minSamples are in proportion)",
    ]
    rules = spec["properties"]["params"]["items"]["x-kubernetes-validations"]
    assert [r["message"] for r in rules] == [
        "a parameter cannot be named like an operator placeholder"
    ]


def test_readers_without_a_cluster_refuse_a_template_check() -> None:
    with pytest.raises(ValueError, match="check 'f1': templateRef needs a cluster to resolve"):
        parse_offline_spec(TEMPLATE_SPEC)


# --------------------------------------------------------------------------- proportion form


def _counter(name: str) -> str:
    labels = 'model="{{model}}",version="{{version}}"'
    return f"sum(increase({name}{{{labels}}}[{{{{sinceStart}}}}]))"


PROPORTION_TEMPLATE = ModelCheckTemplateSpec.model_validate(
    {
        "metric": "AccuracyVsStable",
        "params": [{"name": "model"}],
        "proportion": {
            "successQuery": _counter("correct_total"),
            "totalQuery": _counter("labelled_total"),
            "margin": 0.02,
            "alpha": 0.01,
            "minSamples": 200,
        },
    }
)


@pytest.mark.parametrize(
    ("own", "margin", "min_samples"),
    [({}, 0.02, 200), ({"margin": 0.05}, 0.05, 200), ({"minSamples": 500}, 0.02, 500)],
    ids=["template-defaults", "own-margin", "own-min-samples"],
)
def test_a_proportion_template_resolves_into_a_proportion_check(
    own: dict[str, Any], margin: float, min_samples: int
) -> None:
    check = resolve_check(templated(args={"model": 'm"x'}, **own), PROPORTION_TEMPLATE)
    assert check.query is None and check.template_ref is None
    arms = check.proportion
    assert arms is not None
    assert (arms.margin, arms.min_samples, arms.alpha) == (margin, min_samples, 0.01)
    # The arg escaped, the operator's placeholders left for each arm's rendering.
    assert arms.success_query == (
        'sum(increase(correct_total{model="m\\"x",version="{{version}}"}[{{sinceStart}}]))'
    )
    assert arms.total_query.startswith('sum(increase(labelled_total{model="m\\"x"')


@pytest.mark.parametrize(
    ("check", "template", "message"),
    [
        (
            templated(args={"model": "m"}, min=0.9, maxDrop=0.1),
            PROPORTION_TEMPLATE,
            "is a proportion template: it takes margin and minSamples, not min, maxDrop",
        ),
        (templated(args={"model": "m"}, margin=0.1), TEMPLATE, "margin is for proportion"),
        (templated(margin=0.1), PROPORTION_TEMPLATE, "needs argument 'model'"),
    ],
    ids=["bounds-on-proportion", "margin-on-query", "missing-arg"],
)
def test_proportion_template_problems_name_what_is_wrong(
    check: Check, template: ModelCheckTemplateSpec, message: str
) -> None:
    with pytest.raises(TemplateResolutionError, match=message):
        resolve_check(check, template)


ARMS = {"successQuery": 'a{v="{{version}}"}', "totalQuery": 'b{v="{{version}}"}', "margin": 0.1}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"query": "up", "proportion": ARMS}, "exactly one of query and proportion"),
        ({}, "exactly one of query and proportion"),
        ({"proportion": ARMS, "samplesQuery": "up"}, "a proportion template takes no"),
        ({"proportion": ARMS, "defaults": {"min": 0.9}}, "a proportion template takes no"),
        (
            {"proportion": {**ARMS, "totalQuery": 'b{v="{{version}}",m="{{mdl}}"}'}},
            "proportion.totalQuery uses undeclared placeholder",
        ),
        ({"proportion": {**ARMS, "totalQuery": "b"}}, "must use {{version}}"),
    ],
    ids=["both", "neither", "samples-query", "defaults", "undeclared", "no-version"],
)
def test_bad_proportion_templates_are_rejected(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        ModelCheckTemplateSpec.model_validate({"metric": "M", **raw})


def test_a_margin_needs_a_template_ref() -> None:
    with pytest.raises(ValidationError, match="margin is for a templateRef check"):
        Check.model_validate({"name": "c", "query": "up", "min": 1, "margin": 0.1})
