"""The committed CRD is generated from the models, and it is a structural schema the API
server accepts (no anyOf/$ref, nothing pruned by accident, defaults left to the operator)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modelguard import crdgen
from modelguard.core import api

Node = dict[str, Any]


def test_committed_crd_is_up_to_date() -> None:
    committed = crdgen.CRD_PATH.read_text() if crdgen.CRD_PATH.exists() else ""
    assert committed == crdgen.render(), (
        f"{crdgen.CRD_PATH} is stale: run `python -m modelguard.crdgen` and commit the result"
    )


def test_check_mode_agrees(tmp_path: Any) -> None:
    """`python -m modelguard.crdgen --check` is what CI runs: stale -> 1, fresh -> 0."""
    target = tmp_path / "crd.yaml"
    target.write_text("stale\n")
    assert crdgen.main(["--check", "--output", str(target)]) == 1
    assert crdgen.main(["--output", str(target)]) == 0
    assert crdgen.main(["--check", "--output", str(target)]) == 0
    assert target.read_text() == crdgen.render()


@pytest.fixture(scope="module")
def crd() -> Node:
    loaded = yaml.safe_load(crdgen.render())
    assert loaded == crdgen.build_crd()  # the YAML says what build_crd() says
    return dict(loaded)


@pytest.fixture(scope="module")
def version(crd: Node) -> Node:
    versions = crd["spec"]["versions"]
    assert [v["name"] for v in versions] == [api.VERSION]
    return dict(versions[0])


def schemas(node: Any, path: str = "") -> Iterator[tuple[str, Node]]:
    """Every schema node: the root, properties, items, additionalProperties."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, prop in node.get("properties", {}).items():
        yield from schemas(prop, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schemas(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schemas(node["additionalProperties"], f"{path}{{}}")


def all_keys(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key
            yield from all_keys(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from all_keys(item, f"{path}/{i}")


def test_names_scope_and_group(crd: Node) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "modeldeployments.modelguard.io"
    spec = crd["spec"]
    assert spec["group"] == "modelguard.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "ModelDeployment"
    assert spec["names"]["plural"] == "modeldeployments"
    assert "mdep" in spec["names"]["shortNames"]


def test_status_subresource_enabled(version: Node) -> None:
    assert version["subresources"] == {"status": {}}
    assert version["served"] is True
    assert version["storage"] is True


def test_printer_columns(version: Node) -> None:
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert columns["Phase"]["jsonPath"] == ".status.phase"
    assert columns["Current"]["jsonPath"] == ".status.currentVersion.name"
    assert columns["Stable"]["jsonPath"] == ".status.stableVersion.name"
    assert columns["Killed"]["jsonPath"] == ".status.killSwitch.engaged"
    assert columns["Killed"]["type"] == "boolean"
    assert columns["Canary"]["jsonPath"] == ".status.canary.version.name"
    assert columns["Weight"] == {
        "name": "Weight",
        "type": "integer",
        "jsonPath": ".status.canary.desiredWeight",
        "priority": 1,
    }
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }


def test_printer_columns_point_at_fields_the_status_writes(version: Node) -> None:
    """A column on a path the schema does not have would be empty forever (or pruned)."""
    root = version["schema"]["openAPIV3Schema"]
    paths = {path for path, _ in schemas(root)}
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".status."):
            assert column["jsonPath"] in paths, column


@pytest.mark.parametrize("forbidden", ["anyOf", "oneOf", "allOf", "not", "$ref", "$defs"])
def test_no_non_structural_keywords(version: Node, forbidden: str) -> None:
    found = [p for p, key in all_keys(version["schema"]) if key == forbidden]
    assert not found, f"{forbidden} at {found}"


@pytest.mark.parametrize("dropped", ["default", "title", "readOnly", "examples", "const"])
def test_no_pydantic_only_keywords(version: Node, dropped: str) -> None:
    """Defaults stay out of the CRD: the API server would write them into objects and a
    GitOps tool would then see drift. The operator applies them when it parses."""
    root = version["schema"]["openAPIV3Schema"]
    found = [path for path, node in schemas(root) if dropped in node]
    assert not found, f"{dropped} at {found}"


def test_additional_properties_never_beside_properties(version: Node) -> None:
    root = version["schema"]["openAPIV3Schema"]
    for path, node in schemas(root):
        if "properties" in node:
            assert "additionalProperties" not in node, path
        assert node.get("additionalProperties") is not False, path


def test_every_node_has_a_type(version: Node) -> None:
    root = version["schema"]["openAPIV3Schema"]
    for path, node in schemas(root):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path


def test_every_object_says_what_it_keeps(version: Node) -> None:
    """An object with neither properties nor additionalProperties nor
    preserve-unknown-fields loses everything to pruning. (Root metadata is special:
    the API server owns its schema.)"""
    root = version["schema"]["openAPIV3Schema"]
    for path, node in schemas(root):
        if node.get("type") != "object" or path == ".metadata":
            continue
        assert (
            "properties" in node
            or "additionalProperties" in node
            or node.get("x-kubernetes-preserve-unknown-fields") is True
        ), path


def test_spec_is_closed_and_status_is_open(version: Node) -> None:
    """Unknown spec fields are pruned (and rejected by pydantic); status keeps what kopf
    writes beside the operator's own fields."""
    props = version["schema"]["openAPIV3Schema"]["properties"]
    assert "x-kubernetes-preserve-unknown-fields" not in props["spec"]
    assert props["status"]["x-kubernetes-preserve-unknown-fields"] is True
    assert "required" not in props["status"]
    assert version["schema"]["openAPIV3Schema"]["required"] == ["spec"]


def test_spec_schema_mirrors_the_models(version: Node) -> None:
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(spec["properties"]) == {
        "targetRef",
        "version",
        "analysis",
        "rollback",
        "killSwitch",
        "notifications",
        "canary",
    }
    assert spec["required"] == ["targetRef"]
    checks = spec["properties"]["analysis"]["properties"]["checks"]
    assert checks["x-kubernetes-list-type"] == "map"
    assert checks["x-kubernetes-list-map-keys"] == ["name"]
    assert "name" in checks["items"]["required"]  # a list-map key must be required
    selector = spec["properties"]["killSwitch"]["properties"]["fallback"]["properties"]["selector"]
    assert selector["additionalProperties"] == {"type": "string"}
    assert selector["minProperties"] == 1
    assert "minItems" not in selector
    steps = spec["properties"]["canary"]["properties"]["steps"]
    assert steps["x-kubernetes-list-type"] == "set"  # the API server refuses repeats
    assert (steps["items"]["minimum"], steps["items"]["maximum"]) == (1, 99)


def test_notification_receivers_are_a_list_map_of_known_formats_and_decisions(
    version: Node,
) -> None:
    """The API server refuses two receivers of one name, a repeated decision, an unknown
    format or decision, and a receiver without its URL's Secret."""
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    receivers = spec["properties"]["notifications"]["properties"]["receivers"]
    assert receivers["x-kubernetes-list-type"] == "map"
    assert receivers["x-kubernetes-list-map-keys"] == ["name"]
    assert (receivers["minItems"], receivers["maxItems"]) == (1, 8)
    item = receivers["items"]
    assert set(item["required"]) == {"name", "urlSecretRef"}
    assert item["properties"]["format"]["enum"] == ["cloudevents", "slack"]
    decisions = item["properties"]["decisions"]
    assert decisions["x-kubernetes-list-type"] == "set"
    assert set(decisions["items"]["enum"]) == {d.value for d in api.Decision}
    assert "default" not in decisions  # defaults are the operator's (see crdgen)
    assert set(item["properties"]["urlSecretRef"]["required"]) == {"name", "key"}


def test_strings_under_cel_rules_have_a_max_length(version: Node) -> None:
    """The API server estimates each CEL rule's cost from maxLength: unbounded strings
    under a rule can push it over the budget and get the CRD rejected."""
    root = version["schema"]["openAPIV3Schema"]
    for path, node in schemas(root):
        if "x-kubernetes-validations" not in node:
            continue
        if node.get("type") == "string":
            assert "maxLength" in node, path
        for name, prop in node.get("properties", {}).items():
            if prop.get("type") == "string" and name in str(node["x-kubernetes-validations"]):
                assert "maxLength" in prop or "enum" in prop, f"{path}.{name}"


def test_proportion_schema_is_structural_and_bounded(version: Node) -> None:
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    check = spec["properties"]["analysis"]["properties"]["checks"]["items"]
    assert check["required"] == ["name"]  # query or proportion, CEL says which
    p = check["properties"]["proportion"]
    assert p["required"] == ["successQuery", "totalQuery", "margin"]
    props = p["properties"]
    # OpenAPI v3 spells gt/lt as a bound with a boolean, not JSON Schema 2020's number.
    assert (props["margin"]["minimum"], props["margin"]["exclusiveMinimum"]) == (0, True)
    assert props["alpha"]["exclusiveMaximum"] is True
    assert props["alpha"]["maximum"] == 0.5
    assert props["test"]["enum"] == ["sequential", "fixed"]
    assert props["direction"]["enum"] == ["decrease", "increase"]
    rule = props["successQuery"]["x-kubernetes-validations"][0]["rule"]
    assert rule == "self.matches('[{][{][ ]*version[ ]*[}][}]')"
