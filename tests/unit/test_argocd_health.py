"""deploy/argocd's health check for ModelDeployment, run as Argo CD runs it (Lua 5.1, no
string library) on health_test.yaml's cases, and its testdata kept honest: every file
is a ModelDeployment the e2e tier recorded, and each still reads, field for field, as
the current status and spec models (a renamed or removed field fails here, so the
testdata cannot go stale silently; re-record with MODELGUARD_RECORD_ARGOCD=1)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError

from modelguard.core.api import ModelDeploymentSpec, ModelDeploymentStatus, Phase
from tests.argocd import ACTIONS, HEALTH, REPO, act, discover, health, run

CASES = yaml.safe_load((HEALTH / "health_test.yaml").read_text())["tests"]
ACTION_TESTS = yaml.safe_load((ACTIONS / "action_test.yaml").read_text())
TESTDATA = sorted((HEALTH / "testdata").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("case", CASES, ids=[c["inputPath"] for c in CASES])
def test_health_lua_gives_the_expected_status_and_message(case: dict[str, Any]) -> None:
    assert health(load(HEALTH / case["inputPath"])) == case["healthStatus"]


def test_every_phase_and_both_not_yet_judged_cases_have_a_recorded_object() -> None:
    phases = {load(p).get("status", {}).get("phase") for p in TESTDATA}
    assert {p.value for p in Phase} <= phases
    names = {p.name for p in TESTDATA}
    assert {"stale-generation.yaml", "no-status.yaml"} <= names
    assert {c["inputPath"] for c in CASES} == {f"testdata/{n}" for n in names}


def test_the_upstream_test_format() -> None:
    for case in CASES:
        assert set(case) == {"healthStatus", "inputPath"}
        assert set(case["healthStatus"]) == {"status", "message"}
        assert case["healthStatus"]["status"] in {"Healthy", "Progressing", "Degraded", "Suspended"}


@pytest.mark.parametrize("path", TESTDATA, ids=[p.name for p in TESTDATA])
def test_testdata_reads_as_the_current_models(path: Path) -> None:
    obj = load(path)
    assert (obj["apiVersion"], obj["kind"]) == ("modelguard.io/v1alpha1", "ModelDeployment")
    ModelDeploymentSpec.model_validate(obj["spec"])
    if "status" in obj:
        # Field for field: the model ignores unknown fields, so validation alone would
        # not notice one that was renamed.
        assert ModelDeploymentStatus.model_validate(obj["status"]).to_wire() == obj["status"]


def test_the_degraded_verdicts_name_the_known_good_version() -> None:
    for case in CASES:
        if case["healthStatus"]["status"] == "Degraded":
            stable = load(HEALTH / case["inputPath"])["status"]["stableVersion"]["name"]
            assert case["healthStatus"]["message"].endswith(f"known-good version {stable}")


def test_a_phase_a_newer_operator_adds_is_progressing_not_an_error() -> None:
    obj = load(HEALTH / "testdata" / "healthy.yaml")
    obj["status"]["phase"] = "Canarying"
    assert health(obj)["status"] == "Progressing"
    del obj["status"]["conditions"]
    assert health(obj) == {"status": "Progressing", "message": "Canarying: analysing"}


def test_the_runner_withholds_the_libraries_argo_cd_withholds(tmp_path: Path) -> None:
    """Else a script using string.format would pass here and fail in Argo CD."""
    script = tmp_path / "x.lua"
    script.write_text('return string.format("%d", 1)')
    with pytest.raises(LuaError):
        run(script, {})
    script.write_text('return tostring(#obj.items) .. table.concat({"a", "b"})')
    assert run(script, {"items": [1, 2]}) == "2ab"


# ------------------------------------------------------------------ kill/release actions


@pytest.mark.parametrize(
    "case",
    ACTION_TESTS["discoveryTests"],
    ids=[c["inputPath"] for c in ACTION_TESTS["discoveryTests"]],
)
def test_discovery_offers_kill_or_release(case: dict[str, Any]) -> None:
    assert discover(load(ACTIONS / case["inputPath"])) == case["result"]


@pytest.mark.parametrize(
    "case", ACTION_TESTS["actionTests"], ids=[c["action"] for c in ACTION_TESTS["actionTests"]]
)
def test_an_action_changes_the_kill_switch_and_nothing_else(case: dict[str, Any]) -> None:
    before = load(ACTIONS / case["inputPath"])
    expected = load(ACTIONS / case["expectedOutputPath"])
    assert act(case["action"], before) == expected
    assert {k: v for k, v in expected["spec"].items() if k != "killSwitch"} == {
        k: v for k, v in before["spec"].items() if k != "killSwitch"
    }
    # What the action writes passes the spec model, the CRD's rules included (a kill
    # needs a reason).
    ModelDeploymentSpec.model_validate(expected["spec"])


def test_a_kill_keeps_the_fallback_mode() -> None:
    obj = load(HEALTH / "testdata" / "healthy.yaml")
    fallback = {"serviceName": "fraud", "selector": {"app": "rules"}}
    obj["spec"]["killSwitch"] = {"mode": "fallback", "fallback": fallback}
    killed = act("kill", obj)["spec"]["killSwitch"]
    assert killed["mode"] == "fallback" and killed["fallback"] == fallback
    assert killed["enabled"] is True and killed["reason"]


# ------------------------------------------------------------------ the README's install


def test_the_readme_snippet_puts_the_scripts_into_argocd_cm(tmp_path: Path) -> None:
    """The argocd-cm patch the README shows, run with a kubectl that keeps what it gets:
    the keys Argo CD reads hold the committed scripts, byte for byte."""
    readme = (REPO / "README.md").read_text()
    match = re.search(r"```sh\n(  d=deploy/argocd/.*?)  ```", readme, re.DOTALL)
    assert match is not None
    snippet = "\n".join(line.removeprefix("  ") for line in match.group(1).splitlines())
    fake = tmp_path / "kubectl"
    fake.write_text(f'#!/bin/sh\ncat > "{tmp_path}/patch.yaml"\n')
    fake.chmod(0o755)
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", snippet],
        cwd=REPO,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        check=True,
    )
    data = yaml.safe_load((tmp_path / "patch.yaml").read_text())["data"]
    health_key = "resource.customizations.health.modelguard.io_ModelDeployment"
    assert data[health_key] == (HEALTH / "health.lua").read_text()
    actions = yaml.safe_load(data["resource.customizations.actions.modelguard.io_ModelDeployment"])
    assert actions["discovery.lua"] == (ACTIONS / "discovery.lua").read_text()
    assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
        name: (ACTIONS / name / "action.lua").read_text() for name in ("kill", "release")
    }
