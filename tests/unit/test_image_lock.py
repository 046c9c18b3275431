"""The image installs from deploy/requirements.lock; the lock must match pyproject.toml.

The lock is written by hack/lock.sh (pip-compile). These tests catch the ways it goes
stale without anyone noticing: a dependency added to pyproject.toml but not locked, a floor
raised above the locked version, an entry without hashes, or a Dockerfile that stops
installing from the lock.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "deploy" / "requirements.lock"
SHA256 = re.compile(r"--hash=sha256:[0-9a-f]{64}")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
# The image's Python; the default BASE_IMAGE and the lock's resolution must both say it.
MARKER_ENV = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}


def _locked() -> dict[NormalizedName, tuple[Version, str]]:
    """Each locked package: its version and its whole entry (pin line, hashes, comments)."""
    entries: dict[NormalizedName, tuple[Version, str]] = {}
    blocks = re.split(r"\n(?=\S)", LOCK.read_text())
    for block in blocks:
        if block.startswith("#") or not block.strip():
            continue
        pin = PIN.match(block)
        assert pin, f"not an exact pin: {block.splitlines()[0]}"
        name = canonicalize_name(pin.group(1))
        assert name not in entries, f"{name} is locked twice"
        entries[name] = (Version(pin.group(2)), block)
    return entries


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _requirements(section: str, key: str) -> list[Requirement]:
    table = _pyproject()[section]
    assert isinstance(table, dict)
    return [Requirement(r) for r in table[key]]


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text().replace("\\\n", " ")


def test_every_locked_package_is_pinned_with_hashes() -> None:
    locked = _locked()
    assert locked
    for name, (_, entry) in locked.items():
        assert SHA256.search(entry), f"{name} has no sha256 hash"


def test_the_lock_covers_every_runtime_dependency_within_its_bounds() -> None:
    locked = _locked()
    for requirement in _requirements("project", "dependencies"):
        if requirement.marker and not requirement.marker.evaluate(MARKER_ENV):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is a dependency but is not locked: run hack/lock.sh"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside pyproject.toml's {requirement.specifier}"
        )


def test_the_lock_carries_the_build_backend_and_no_dev_tools() -> None:
    locked = _locked()
    for requirement in _requirements("build-system", "requires"):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"the build backend {name} is not locked"
        assert requirement.specifier.contains(locked[name][0])
    dev = _pyproject()["project"]["optional-dependencies"]["dev"]  # type: ignore[index]
    dev_only = {canonicalize_name(Requirement(r).name) for r in dev} - {"setuptools"}
    assert not dev_only & locked.keys(), "the image lock holds dev tools"


def test_the_lock_is_resolved_for_the_default_base_image() -> None:
    header = re.search(r"pip-compile with Python (\d+\.\d+)", LOCK.read_text())
    assert header is not None
    assert header.group(1) == MARKER_ENV["python_version"]
    base = re.search(r"^ARG BASE_IMAGE=python:(\d+\.\d+)-slim$", _dockerfile(), re.MULTILINE)
    assert base is not None, "the default base image is python:X.Y-slim"
    assert base.group(1) == header.group(1)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", _dockerfile(), re.MULTILINE)


def test_the_dockerfile_installs_only_from_the_lock() -> None:
    dockerfile = _dockerfile()
    runs = re.findall(r"^RUN (.*)$", dockerfile, re.MULTILINE)
    installs = [r for r in runs if "pip install" in r]
    assert len(installs) == 2, installs
    assert re.search(r"pip install --require-hashes -r requirements\.lock\b", installs[0])
    assert "--no-deps" in installs[1]
    assert "--no-build-isolation" in installs[1]
    assert re.search(r"^COPY deploy/requirements\.lock \./$", dockerfile, re.MULTILINE)


def test_the_build_context_admits_everything_the_dockerfile_copies() -> None:
    # .dockerignore excludes everything ("*") and re-admits what the image needs.
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    admitted = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = [
        source.rstrip("/")
        for sources in re.findall(r"^COPY (.+) \S+$", _dockerfile(), re.MULTILINE)
        for source in sources.split()
    ]
    assert copied
    for source in copied:
        assert source in admitted, f"{source} is copied but .dockerignore leaves it out"
        assert (REPO / source).exists(), source


# The python3 each Debian suite ships: the local base hack/image.sh builds (for machines
# without python:3.11-slim) must run the Python the lock is resolved for.
DEBIAN_PYTHON = {"bookworm": "3.11", "trixie": "3.13"}


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_the_local_debian_base_has_the_locks_python_and_no_build_tools() -> None:
    script = (REPO / "hack" / "image.sh").read_text()
    suite = re.search(r"^suite=(\w+)", script, re.MULTILINE)
    packages = re.search(r"^packages=(\S+)$", script, re.MULTILINE)
    assert suite is not None and packages is not None
    assert DEBIAN_PYTHON[suite.group(1)] == MARKER_ENV["python_version"]
    # What python:3.11-slim gives the Dockerfile, and nothing to compile with.
    assert set(packages.group(1).split(",")) == {
        "python3",
        "python3-pip",
        "ca-certificates",
        "passwd",
    }
    assert re.search(r'--build-arg "BASE_IMAGE=\$base"', script)
    assert re.search(r"--file Dockerfile \.", script), "the repository's Dockerfile, as is"


def test_the_dockerfile_installs_no_build_tools_and_ends_unprivileged() -> None:
    dockerfile = _without_comments(_dockerfile())
    assert not re.search(r"apt-get|apk add|gcc|build-essential|python3?-dev", dockerfile)
    instructions = [line.split()[0] for line in dockerfile.splitlines() if line.strip()]
    last_run = max(i for i, word in enumerate(instructions) if word == "RUN")
    assert instructions.index("USER") > last_run, "something runs as root after USER"
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
