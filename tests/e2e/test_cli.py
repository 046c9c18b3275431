"""The modelguard CLI against a real kube-apiserver (no operator running).

The CLI only writes ModelDeployments, so the API server is the whole system under test
here: its schema and CEL rules, merge-patch semantics, RBAC, and the identity it reports.
Requests run as "alice@example.com", a certificate user with a namespaced Role, the way
an on-call engineer would, not as cluster admin.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client as k8s

from modelguard.cli import main as cli
from modelguard.core import api
from modelguard.core.metadata import requested_by, requester_annotation
from modelguard_testenv import ControlPlane, UserCredentials, wait_established

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / f"{api.GROUP}_{api.PLURAL}.yaml"
ALICE = "alice@example.com"
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC = f"{RBAC_GROUP}/v1"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def crd(control_plane: ControlPlane) -> ControlPlane:
    """The generated CRD, applied as a user would (idempotent: other modules apply it too)."""
    control_plane.kubectl("apply", "-f", str(CRD_FILE))
    wait_established(control_plane, f"{api.PLURAL}.{api.GROUP}")
    return control_plane


@pytest.fixture(scope="module")
def alice(crd: ControlPlane) -> UserCredentials:
    return crd.user_credentials(ALICE, ["sre"])


def _grant(plane: ControlPlane, name: str, verbs: list[str], namespace: str | None) -> str:
    """Let alice use ModelDeployments: a Role in namespace, or a ClusterRole if None."""
    kind = "Role" if namespace else "ClusterRole"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    rules = [{"apiGroups": [api.GROUP], "resources": [api.PLURAL], "verbs": verbs}]
    role = {"apiVersion": RBAC, "kind": kind, "metadata": meta, "rules": rules}
    binding = {
        "apiVersion": RBAC,
        "kind": f"{kind}Binding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": name},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": ALICE}],
    }
    return plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([role, binding])).stdout


@pytest.fixture
def ns(crd: ControlPlane, namespace: str, alice: UserCredentials) -> str:
    """A namespace where alice may do what the CLI needs: get, list and patch MDs."""
    _grant(crd, "modelguard-oncall", ["get", "list", "patch"], namespace)
    return namespace


@pytest.fixture
def custom(k8s_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    return k8s.CustomObjectsApi(k8s_api)


@pytest.fixture
def kubeconfig(alice: UserCredentials, tmp_path: Path) -> Path:
    """alice's kubeconfig, with the user entry renamed to a local label.

    The CLI must record who the API server says alice is, not the label.
    """
    config = yaml.safe_load(alice.kubeconfig.read_text())
    config["users"][0]["name"] = "local-label"
    for context in config["contexts"]:
        context["context"]["user"] = "local-label"
    path = tmp_path / "alice.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def _md(name: str, labels: dict[str, str] | None = None, fallback: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "targetRef": {"name": name},
        "version": {"modelTag": "v2"},
    }
    if fallback:
        spec["killSwitch"] = {
            "fallback": {"serviceName": name, "selector": {"app": f"{name}-rules"}}
        }
    return {
        "apiVersion": f"{api.GROUP}/{api.VERSION}",
        "kind": api.KIND,
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def _create(custom: k8s.CustomObjectsApi, namespace: str, *objs: dict[str, Any]) -> None:
    for obj in objs:
        custom.create_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, obj)


def _get(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, name)
    return cast(dict[str, Any], obj)


def _all(custom: k8s.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    found = custom.list_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL)
    return cast(list[dict[str, Any]], cast(dict[str, Any], found)["items"])


@pytest.fixture
def run(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run the CLI in-process as alice; returns (exit code, stdout, stderr)."""

    def invoke(*argv: str, config: Path | None = None) -> tuple[int, str, str]:
        code = cli.main(["--kubeconfig", str(config or kubeconfig), *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return invoke


# --------------------------------------------------------------------------- kill / release


def test_fleet_kill_and_release(run: Any, custom: k8s.CustomObjectsApi, ns: str) -> None:
    _create(custom, ns, _md("fraud-a"), _md("fraud-b"), _md("churn", fallback=True))

    code, out, err = run("kill", "--all", "-n", ns, "--reason", "INC-42: bad scores")
    assert code == 0, err
    assert sorted(out.splitlines()) == [
        f"{ns}/{name}: kill switch enabled" for name in ("churn", "fraud-a", "fraud-b")
    ]
    for obj in _all(custom, ns):
        assert obj["spec"]["killSwitch"]["enabled"] is True
        assert obj["spec"]["killSwitch"]["reason"] == "INC-42: bad scores"
        # The annotation describes this very change: the operator credits ALICE for it.
        assert requested_by(obj) == ALICE
        # The merge patch kept what it did not name.
        assert obj["spec"]["version"] == {"modelTag": "v2"}
        managers = {m["manager"] for m in obj["metadata"]["managedFields"]}
        assert "modelguard-cli" in managers
    churn = _get(custom, ns, "churn")
    assert churn["spec"]["killSwitch"]["fallback"]["serviceName"] == "churn"

    code, out, err = run("status", "-n", ns)
    assert code == 0, err
    for name in ("churn", "fraud-a", "fraud-b"):
        assert "requested: INC-42: bad scores" in next(
            line for line in out.splitlines() if line.startswith(name)
        )

    code, out, err = run("release", "--all", "-n", ns)
    assert code == 0, err
    assert len(out.splitlines()) == 3
    for obj in _all(custom, ns):
        assert obj["spec"]["killSwitch"]["enabled"] is False
        assert obj["spec"]["killSwitch"]["reason"] == ""


def _engaged(custom: k8s.CustomObjectsApi, ns: str) -> dict[str, tuple[bool, str, str]]:
    """name -> (enabled, reason, who asked) as stored."""
    return {
        o["metadata"]["name"]: (
            bool(o["spec"].get("killSwitch", {}).get("enabled")),
            o["spec"].get("killSwitch", {}).get("reason", ""),
            requested_by(o),  # the annotation, read by the operator's own rule
        )
        for o in _all(custom, ns)
    }


def test_fleet_kill_keeps_another_incidents_switch_and_release_picks_by_reason(
    run: Any, custom: k8s.CustomObjectsApi, ns: str
) -> None:
    """Trust item 12: a second incident's `kill --all` must not relabel, and its
    `release --all` must not release, a switch pulled earlier for another incident."""
    earlier = _md("payments")
    earlier["spec"]["killSwitch"] = {"enabled": True, "reason": "INC-7: drift"}
    earlier["metadata"]["annotations"] = {  # as the CLI wrote it when bob pulled it
        api.ANNOTATION_REQUESTED_BY: requester_annotation(
            "bob@example.com", earlier["spec"]["killSwitch"]
        )
    }
    _create(custom, ns, earlier, _md("fraud-a"), _md("fraud-b"))

    code, out, err = run("kill", "--all", "-n", ns, "--reason", "INC-42: bad scores")
    assert code == 0, err
    assert sorted(out.splitlines()) == [
        f"{ns}/fraud-a: kill switch enabled",
        f"{ns}/fraud-b: kill switch enabled",
        f'{ns}/payments: already engaged (reason "INC-7: drift", by bob@example.com); left as is',
    ]
    assert "kill: 2 enabled, 1 already engaged, 0 failed (3 in " in err
    incident_42 = (True, "INC-42: bad scores", ALICE)
    incident_7 = (True, "INC-7: drift", "bob@example.com")
    expected = {"payments": incident_7, "fraud-a": incident_42, "fraud-b": incident_42}
    assert _engaged(custom, ns) == expected

    # Two incidents' switches: a bare fleet release is refused and changes nothing.
    code, out, err = run("release", "--all", "-n", ns)
    assert (code, out) == (1, "")
    assert err.startswith("error: nothing released: the engaged kill switches were pulled for 2")
    assert "--reason-match TEXT" in err
    assert _engaged(custom, ns) == expected

    code, _, err = run("release", "--all", "-n", ns, "--reason-match", "INC-4")
    assert code == 1
    assert 'no engaged kill switch has a reason matching "INC-4"' in err

    code, out, err = run("release", "--all", "-n", ns, "--reason-match", "inc-42")
    assert code == 0, err
    assert sorted(out.splitlines()) == [
        f"{ns}/fraud-a: kill switch released",
        f"{ns}/fraud-b: kill switch released",
        f'{ns}/payments: left engaged: reason "INC-7: drift", by bob@example.com '
        'does not match "inc-42"',
    ]
    after = _engaged(custom, ns)
    assert after["payments"] == incident_7
    assert after["fraud-a"] == after["fraud-b"] == (False, "", ALICE)

    # One reason left: a bare release is unambiguous again; --force takes any mix.
    code, out, err = run("release", "--all", "-n", ns, "--force", "--parallel", "1")
    assert code == 0, err
    assert f"{ns}/payments: kill switch released" in out.splitlines()
    assert f"{ns}/fraud-a: not engaged; nothing to release" in out.splitlines()
    assert not any(enabled for enabled, _, _ in _engaged(custom, ns).values())


def test_kill_by_selector_and_by_name(run: Any, custom: k8s.CustomObjectsApi, ns: str) -> None:
    _create(
        custom,
        ns,
        _md("a", {"team": "fraud"}),
        _md("b", {"team": "fraud"}),
        _md("c", {"team": "growth"}),
    )
    code, out, err = run("kill", "-l", "team=fraud", "-n", ns, "--reason", "fraud team stop")
    assert code == 0, err
    assert sorted(out.splitlines()) == [
        f"{ns}/a: kill switch enabled",
        f"{ns}/b: kill switch enabled",
    ]
    killed = {
        o["metadata"]["name"]: o["spec"].get("killSwitch", {}).get("enabled")
        for o in _all(custom, ns)
    }
    assert killed == {"a": True, "b": True, "c": None}

    code, out, err = run("kill", "c", "-n", ns, "--reason", "growth too")
    assert (code, out.strip()) == (0, f"{ns}/c: kill switch enabled")
    # No mode given: none written, so the spec's own (default scaleToZero) applies.
    assert "mode" not in _get(custom, ns, "c")["spec"]["killSwitch"]


def test_kill_across_namespaces_with_a_selector(
    run: Any, custom: k8s.CustomObjectsApi, ns: str, crd: ControlPlane
) -> None:
    """-A lists across namespaces: alice gets a ClusterRole for this test."""
    incident = uuid.uuid4().hex[:8]
    mark = {"incident": incident}
    other = f"{ns}-b"
    role = f"mg-cli-{incident}"
    crd.kubectl("create", "namespace", other)
    _grant(crd, role, ["list", "patch"], None)
    try:
        _create(custom, ns, _md("one", mark), _md("untouched"))
        _create(custom, other, _md("two", mark))
        code, out, err = run("kill", "-A", "-l", f"incident={incident}", "--reason", "all")
        assert code == 0, err
        assert sorted(out.splitlines()) == sorted(
            [f"{ns}/one: kill switch enabled", f"{other}/two: kill switch enabled"]
        )
        assert "killSwitch" not in _get(custom, ns, "untouched")["spec"]
    finally:
        crd.kubectl("delete", "clusterrolebinding,clusterrole", role, "--wait=false")
        crd.kubectl("delete", "namespace", other, "--wait=false")


def test_partial_failure_lists_what_was_not_stopped(
    run: Any, custom: k8s.CustomObjectsApi, ns: str
) -> None:
    """--mode fallback on a resource without fallback settings is refused by the CRD's CEL
    rule; the others are still stopped, and the exit code says something failed."""
    _create(custom, ns, _md("with-fallback", fallback=True), _md("no-fallback"))
    code, out, err = run("kill", "--all", "-n", ns, "--mode", "fallback", "--reason", "x")
    assert code == 1
    assert out.strip() == f"{ns}/with-fallback: kill switch enabled"
    assert f"{ns}/no-fallback: error: rejected by the API server:" in err
    assert "mode fallback needs fallback.serviceName" in err
    lines = err.strip().splitlines()
    assert lines[-1] == f"error: 1 of 2 ModelDeployments failed: {ns}/no-fallback"
    # The summary, then every failure again with its reason (they may have scrolled away).
    summary = next(line for line in lines if line.startswith("kill: "))
    assert summary.startswith("kill: 1 enabled, 0 already engaged, 1 failed (2 in ")
    failed_at = lines.index("failed:")
    assert lines[failed_at + 1].startswith(f"  {ns}/no-fallback: rejected by the API server:")
    assert _get(custom, ns, "with-fallback")["spec"]["killSwitch"]["mode"] == "fallback"
    assert "enabled" not in _get(custom, ns, "no-fallback")["spec"].get("killSwitch", {})


# --------------------------------------------------------------------------- status / history


def _write_status(custom: k8s.CustomObjectsApi, ns: str, name: str) -> None:
    """Stand in for the operator: a status with history, quarantine and a failed check."""
    status = api.ModelDeploymentStatus.model_validate(
        {
            "phase": "Degraded",
            "currentVersion": {"modelTag": "v2", "since": "2026-11-20T11:00:00Z"},
            "stableVersion": {"modelTag": "v1", "since": "2026-11-19T11:00:00Z"},
            "knownGoodVersions": [{"modelTag": "v1"}],
            "quarantinedVersions": [
                {"modelTag": "v0", "since": "2026-11-18T11:00:00Z", "reason": "drift"}
            ],
            "history": [
                {"version": "v0", "since": "2026-11-18T10:00:00Z", "outcome": "RolledBack"},
                {"version": "v1", "since": "2026-11-19T11:00:00Z", "outcome": "Promoted"},
                {"version": "v2", "since": "2026-11-20T11:00:00Z", "outcome": "Live"},
            ],
            "consecutiveFailures": 1,
            "lastEvaluation": {
                "time": "2026-11-20T11:30:00Z",
                "version": "v2",
                "verdict": "Failed",
                "checks": [{"name": "accuracy", "query": "q", "value": 0.81, "verdict": "Failed"}],
            },
            "conditions": [
                {
                    "type": "Degraded",
                    "status": "True",
                    "reason": "ChecksFailing",
                    "message": "accuracy below 0.92",
                    "lastTransitionTime": "2026-11-20T11:30:00Z",
                }
            ],
        }
    )
    custom.patch_namespaced_custom_object_status(
        api.GROUP, api.VERSION, ns, api.PLURAL, name, {"status": status.to_wire()}
    )


def _analysed(name: str) -> dict[str, Any]:
    obj = _md(name)
    obj["spec"]["analysis"] = {
        "prometheus": {"url": "http://prometheus:9090"},
        "checks": [{"name": "accuracy", "query": "model_accuracy", "min": 0.92}],
    }
    return obj


def test_status_and_history_read_what_the_operator_wrote(
    run: Any, custom: k8s.CustomObjectsApi, ns: str
) -> None:
    _create(custom, ns, _analysed("fraud"), _md("fresh"))
    _write_status(custom, ns, "fraud")

    code, out, err = run("status", "-n", ns)
    assert code == 0, err
    fraud = next(line for line in out.splitlines() if line.startswith("fraud"))
    assert fraud.split()[:7] == ["fraud", "Degraded", "v2", "v1", "v2", "no", "1/3"]
    assert fraud.endswith("Failed (accuracy=0.81<0.92 Failed)")
    assert next(line for line in out.splitlines() if line.startswith("fresh")).split()[1] == "-"

    code, out, err = run("status", "fraud", "-n", ns)
    assert code == 0, err
    assert "Phase:        Degraded" in out
    assert "ChecksFailing" in out
    assert "drift" in out

    code, out, err = run("history", "fraud", "-n", ns)
    assert code == 0, err
    versions = [line.split()[0] for line in out.splitlines()[1:4]]
    assert versions == ["v0", "v1", "v2"]
    assert "Known good versions: v1" in out

    code, out, err = run("history", "fraud", "-n", ns, "-o", "json")
    assert code == 0, err
    assert [h["version"] for h in json.loads(out)["history"]] == ["v0", "v1", "v2"]

    code, out, err = run("status", "-n", ns, "-o", "json")
    assert code == 0, err
    assert {i["name"] for i in json.loads(out)["items"]} == {"fraud", "fresh"}


# --------------------------------------------------------------------------- rollback


def test_rollback_request_is_validated_and_written(
    run: Any, custom: k8s.CustomObjectsApi, ns: str
) -> None:
    _create(custom, ns, _analysed("fraud"))
    _write_status(custom, ns, "fraud")

    code, _, err = run("rollback", "fraud", "-n", ns, "--to", "v9")
    assert code == 1
    assert err.strip() == (
        f'error: {ns}/fraud: version "v9" is unknown here; known versions: v1, v2, v0'
    )
    assert api.ANNOTATION_ROLLBACK_REQUEST not in (
        _get(custom, ns, "fraud")["metadata"].get("annotations") or {}
    )

    code, out, err = run("rollback", "fraud", "-n", ns, "--to", "v1", "--reason", "accuracy")
    assert code == 0, err
    annotations = _get(custom, ns, "fraud")["metadata"]["annotations"]
    request = api.RollbackRequest.model_validate_json(annotations[api.ANNOTATION_ROLLBACK_REQUEST])
    assert (request.to, request.reason, request.requested_by) == ("v1", "accuracy", ALICE)
    assert len(request.id) == 32
    assert f"(id {request.id})" in out
    assert api.ANNOTATION_REQUESTED_BY not in annotations  # the request names ALICE

    # A second request before the operator handled the first replaces it, and says so.
    code, _, err = run("rollback", "fraud", "-n", ns)
    assert code == 0
    assert f"replacing rollback request {request.id}" in err
    again = _get(custom, ns, "fraud")["metadata"]["annotations"][api.ANNOTATION_ROLLBACK_REQUEST]
    assert json.loads(again)["id"] != request.id
    assert "to" not in json.loads(again)


# --------------------------------------------------------------------------- errors


def test_missing_resource(run: Any, ns: str) -> None:
    for argv in (("status", "nope"), ("kill", "nope", "--reason", "x"), ("history", "nope")):
        code, _, err = run(*argv, "-n", ns)
        assert code == 1
        assert err.strip() == f'error: modeldeployment "nope" not found in namespace "{ns}"'


def test_missing_reason_is_a_usage_error(run: Any, ns: str) -> None:
    code, _, err = run("kill", "--all", "-n", ns)
    assert code == 2
    assert "the following arguments are required: --reason" in err


def test_forbidden_says_which_verb(crd: ControlPlane, run: Any, ns: str) -> None:
    """bob is authenticated but has no Role: every request is refused, and says why."""
    bob = crd.user_credentials("bob", [])
    code, _, err = run("kill", "x", "-n", ns, "--reason", "r", config=bob.kubeconfig)
    assert code == 1
    # A kill reads the object first: an engaged switch is never overwritten.
    assert err.startswith(
        f'error: forbidden: you may not get modeldeployments.modelguard.io "x" in namespace "{ns}"'
    )
    assert 'User "bob"' in err
    code, _, err = run("status", "-n", ns, config=bob.kubeconfig)
    assert code == 1
    assert err.startswith(
        f'error: forbidden: you may not list modeldeployments.modelguard.io in namespace "{ns}"'
    )


def test_namespace_defaults_to_the_contexts(
    run: Any, custom: k8s.CustomObjectsApi, ns: str, kubeconfig: Path, tmp_path: Path
) -> None:
    _create(custom, ns, _md("m"))
    config = yaml.safe_load(kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = ns
    path = tmp_path / "with-namespace.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    code, out, err = run("kill", "m", "--reason", "r", config=path)
    assert (code, out.strip()) == (0, f"{ns}/m: kill switch enabled"), err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_cluster(run: Any, kubeconfig: Path, tmp_path: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{_closed_port()}"
    path = tmp_path / "closed.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    code, _, err = run("kill", "--all", "-n", "x", "--reason", "r", config=path)
    assert code == 1
    assert err.startswith("error: cannot reach the cluster at https://127.0.0.1:")
    assert "connection refused" in err
    assert len(err.strip().splitlines()) == 1


def test_console_entry_point_as_a_subprocess(
    custom: k8s.CustomObjectsApi, ns: str, kubeconfig: Path
) -> None:
    """The installed command, with KUBECONFIG from the environment as users run it."""
    _create(custom, ns, _md("sub"))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    result = subprocess.run(
        [sys.executable, "-m", "modelguard.cli", "kill", "sub", "-n", ns, "--reason", "r"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{ns}/sub: kill switch enabled"
    assert _get(custom, ns, "sub")["spec"]["killSwitch"]["enabled"] is True
    result = subprocess.run(
        [sys.executable, "-m", "modelguard.cli", "status", "sub", "-n", ns],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Name:         sub" in result.stdout


def test_requester_is_who_the_api_server_says(kubeconfig: Path, crd: ControlPlane) -> None:
    """SelfSubjectReview answers, not the kubeconfig: a wrong local guess is overridden."""
    args = cli.parse_args(["--kubeconfig", str(kubeconfig), "status"])
    session = cli.connect(args)
    assert session.target.user == ALICE  # the certificate's CN, read locally
    session.target = dataclasses.replace(session.target, user="local guess")
    assert session.requester() == ALICE
