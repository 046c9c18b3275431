"""One version: ``modelguard.__version__``. Everything that repeats it must agree with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import modelguard

REPO = Path(__file__).resolve().parents[2]
# Image tags are written out where a person copies a command (README, Dockerfile, the kind
# config) and where Kubernetes needs a literal (deploy/). They may repeat the version; they
# may not drift from it.
IMAGE_TAG = re.compile(r"\bmodelguard:(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)")
TAGGED_FILES = [
    "README.md",
    "CONTRIBUTING.md",
    "Dockerfile",
    "kind-config.yaml",
    *sorted(str(p.relative_to(REPO)) for p in (REPO / "deploy").glob("**/*.yaml")),
]


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_version_is_a_release_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", modelguard.__version__)


def test_pyproject_reads_the_version_from_the_package() -> None:
    data = _pyproject()
    project = data["project"]
    assert isinstance(project, dict)
    assert "version" not in project, "the version lives in modelguard/__init__.py only"
    assert "version" in project["dynamic"]
    tool = data["tool"]
    assert isinstance(tool, dict)
    assert tool["setuptools"]["dynamic"]["version"] == {"attr": "modelguard.__version__"}


def test_every_image_tag_is_the_package_version() -> None:
    found: dict[str, list[str]] = {}
    for name in TAGGED_FILES:
        path = REPO / name
        if path.exists():
            found[name] = IMAGE_TAG.findall(path.read_text())
    # The manifests must name an image at all, or this test could pass on nothing.
    assert found["deploy/operator/operator.yaml"], (
        "deploy/operator/operator.yaml names no modelguard:X.Y.Z image"
    )
    wrong = {name: tags for name, tags in found.items() if set(tags) - {modelguard.__version__}}
    assert not wrong, f"image tags differ from modelguard.__version__ {modelguard.__version__}"


def test_the_changelog_has_a_section_for_the_version() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)
    assert released, "CHANGELOG.md has no released version"
    assert released[0] == modelguard.__version__, "the newest released section is the version"
    assert re.search(r"^## \[Unreleased\]", changelog, re.MULTILINE)
