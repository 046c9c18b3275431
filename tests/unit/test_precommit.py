"""The pre-commit hooks run exactly the static checks of hack/test.sh, and download nothing."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ENV_PREFIX = ["env", "PYTHONPATH=operator:testenv"]


def _static_checks() -> list[list[str]]:
    """hack/test.sh's static section, as commands with the venv's paths taken off."""
    script = (REPO / "hack" / "test.sh").read_text()
    section = script.split('echo "== static checks"', 1)[1].split('echo "== tests"', 1)[0]
    commands = []
    for line in section.strip().splitlines():
        words = shlex.split(line)
        words[0] = {"$MODELGUARD_PY": "python"}.get(words[0], words[0].removeprefix("$bin/"))
        commands.append(words)
    return commands


def _hooks() -> list[dict[str, object]]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    hooks = repo["hooks"]
    assert isinstance(hooks, list)
    return hooks


def test_hooks_are_local_system_tools() -> None:
    for hook in _hooks():
        assert hook["language"] == "system", hook["id"]
        assert hook["pass_filenames"] is False, f"{hook['id']} checks the whole project"


def test_hooks_run_the_static_checks_of_the_test_script() -> None:
    checks = _static_checks()
    assert len(checks) == 5, checks  # ruff check, ruff format, mypy, lint-imports, crdgen
    entries = []
    for hook in _hooks():
        words = shlex.split(str(hook["entry"]))
        assert words[:2] == ENV_PREFIX, hook["id"]
        entries.append(words[2:])
    assert entries == checks


def test_the_crd_hook_watches_the_models_and_the_crds() -> None:
    (crdgen,) = [h for h in _hooks() if h["id"] == "crdgen"]
    pattern = re.compile(str(crdgen["files"]))
    assert pattern.search("operator/modelguard/core/api/spec.py")
    assert pattern.search("crds/modelguard.io_modeldeployments.yaml")
    assert not pattern.search("README.md")
