"""The wheel holds the product and nothing else: no test harness, no tests.

It is built from a copy of exactly what the Dockerfile copies (pyproject.toml, README.md,
LICENSE, operator/), so a file the image build needs but the context lacks fails here too.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelguard

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a real build: a few seconds


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "operator",
        src / "operator",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    out = tmp_path_factory.mktemp("dist")
    # No build isolation and no index: the build uses the venv's setuptools (dev extra)
    # and never downloads anything, so it is as fast and offline as the rest of the tier.
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*pip_wheel, "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("modelguard-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_the_wheel_carries_every_layer_and_the_type_marker(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for expected in (
        "modelguard/core/api/spec.py",
        "modelguard/adapters/kube.py",
        "modelguard/runtime/handlers.py",
        "modelguard/cli/main.py",
        "modelguard/crdgen.py",
        "modelguard/py.typed",
    ):
        assert expected in names, expected
    # No module of the source tree is left behind by the package discovery rules.
    source = {
        str(p.relative_to(REPO / "operator"))
        for p in (REPO / "operator" / "modelguard").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert source <= names, sorted(source - names)


def test_the_wheel_carries_no_harness_and_no_tests(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert top == {"modelguard", f"modelguard-{modelguard.__version__}.dist-info"}
    leaked = [
        name
        for name in names
        if "modelguard_testenv" in name
        or name.startswith(("tests/", "benchmarks/", "hack/"))
        or Path(name).name.startswith("test_")
        or Path(name).name == "conftest.py"
    ]
    assert not leaked


def test_the_wheel_metadata(wheel: zipfile.ZipFile) -> None:
    info = f"modelguard-{modelguard.__version__}.dist-info"
    metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
    assert metadata["Name"] == "modelguard"
    assert metadata["Version"] == modelguard.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert f"{info}/licenses/LICENSE" in wheel.namelist()
    scripts = wheel.read(f"{info}/entry_points.txt").decode()
    assert "modelguard = modelguard.cli.main:main" in scripts
    assert "kubectl-modelguard = modelguard.cli.main:main" in scripts
