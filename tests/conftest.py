"""Shared pytest wiring for the real-component tiers (see DESIGN.md, "Tests on real components").

Fixtures (all lazy: a unit test that asks for none of them starts nothing):

- ``control_plane`` (session): a started ``modelguard_testenv.ControlPlane``.
- ``k8s_api`` (session): an admin ``kubernetes.client.ApiClient`` for it.
- ``namespace`` (function): a fresh namespace name, deleted after the test.
- ``exporter`` (session): a started ``SyntheticModelExporter``.
- ``prometheus`` (session): a started ``PrometheusServer`` already scraping ``exporter``.

A component that cannot start FAILS the tests that need it (``pytest.fail``), never skips
them: a missing tier must be loud in CI.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from modelguard_testenv import (
    ComponentStartError,
    ControlPlane,
    PrometheusServer,
    SyntheticModelExporter,
)

# Folders of logs kept because something failed, reported at the end of the run.
_KEPT_LOGS = pytest.StashKey[list[str]]()


def _keep_logs(request: pytest.FixtureRequest) -> bool | None:
    # Keep the component logs if any test of the session failed; None lets
    # MODELGUARD_KEEP_LOGS=1 decide after a clean run.
    return True if request.session.testsfailed else None


def _remember(request: pytest.FixtureRequest, kept: object) -> None:
    if kept is not None:
        request.config.stash.setdefault(_KEPT_LOGS, []).append(str(kept))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for folder in terminalreporter.config.stash.get(_KEPT_LOGS, []):
        terminalreporter.write_line(f"modelguard-testenv: logs kept in {folder}")


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """The local Kubernetes control plane, started once per session."""
    plane = ControlPlane()
    try:
        plane.start()
    except ComponentStartError as exc:
        _remember(request, plane.kept_logs_dir)
        pytest.fail(f"local control plane did not start:\n{exc}", pytrace=False)
    try:
        yield plane
    finally:
        plane.stop(keep_logs=_keep_logs(request))
        _remember(request, plane.kept_logs_dir)


@pytest.fixture(scope="session")
def k8s_api(control_plane: ControlPlane) -> Iterator[k8s.ApiClient]:
    """An admin ApiClient (system:masters) for the local control plane."""
    with control_plane.api_client() as api:
        yield api


@pytest.fixture
def namespace(request: pytest.FixtureRequest, k8s_api: k8s.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, named after it; deleted (not awaited) afterwards."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    stem = stem or "test"  # a DNS label must start with a letter or digit
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        # Not awaited: the namespace controller finishes it in the background, and no later
        # test reuses the name.
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture(scope="session")
def exporter() -> Iterator[SyntheticModelExporter]:
    """The synthetic model-metrics exporter. Use model names unique to your test."""
    try:
        server = SyntheticModelExporter().start()
    except ComponentStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prometheus(
    request: pytest.FixtureRequest, exporter: SyntheticModelExporter
) -> Iterator[PrometheusServer]:
    """Prometheus scraping ``exporter`` every second, with its first scrape done.

    A test may ``stop()`` it to simulate an outage; it is restarted for the next test.
    """
    server = PrometheusServer([exporter.target])
    try:
        server.start()
        server.wait_for_targets()
    except ComponentStartError as exc:
        server.close(keep_logs=True)
        _remember(request, server.kept_logs_dir)
        pytest.fail(f"Prometheus did not start:\n{exc}", pytrace=False)
    try:
        yield server
    finally:
        server.close(keep_logs=_keep_logs(request))
        _remember(request, server.kept_logs_dir)


@pytest.fixture(autouse=True)
def _prometheus_back_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """Restart Prometheus after a test that left it stopped (an outage test).

    Only for tests that use it: looking the fixture up in ``fixturenames`` first keeps
    tests that never asked for Prometheus from starting one.
    """
    yield
    if "prometheus" not in request.fixturenames:
        return
    try:
        server: PrometheusServer = request.getfixturevalue("prometheus")
    except pytest.fail.Exception:
        return  # it never started; that failure is already reported
    if not server.running:
        server.start()
        server.wait_for_targets()
