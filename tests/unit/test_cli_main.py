"""Argument parsing and error messages of the CLI, without a cluster."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

import modelguard
from modelguard.cli import main as cli
from modelguard.cli.errors import Attempt, connection_cause, explain_api_error


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        cli.parse_args(argv)
    code = info.value.code
    assert isinstance(code, int)
    return code


# --------------------------------------------------------------------------- parsing


def test_kill_requires_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["kill", "fraud-scorer"]) == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: --reason" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 2  # the message and where help is


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["kill", "--reason", "x"], "name a ModelDeployment, or use --all or -l"),
        (["kill", "a", "--all", "--reason", "x"], "not both"),
        (["release", "-A", "a"], "-A/--all-namespaces needs --all or -l"),
        (["kill", "a", "--mode", "off", "--reason", "x"], "invalid choice"),
        (["status", "a", "-A"], "status NAME takes no -A or -l"),
        (["history"], "required: NAME"),
        (["bogus"], "invalid choice"),
        ([], "required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_one_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code(argv) == 2
    assert message in capsys.readouterr().err


def test_connection_options_work_before_and_after_the_command() -> None:
    before = cli.parse_args(["-n", "risk", "--context", "prod", "kill", "a", "--reason", "x"])
    after = cli.parse_args(["kill", "a", "--reason", "x", "-n", "risk", "--context", "prod"])
    for args in (before, after):
        assert (args.namespace, args.context, args.names) == ("risk", "prod", ["a"])
    assert not hasattr(cli.parse_args(["status"]), "namespace")


def test_fleet_selection_parses() -> None:
    args = cli.parse_args(["kill", "--all", "-A", "--reason", "outage", "--mode", "fallback"])
    assert (args.all, args.all_namespaces, args.mode, args.names) == (True, True, "fallback", [])
    args = cli.parse_args(["release", "-l", "team=fraud"])
    assert args.selector == "team=fraud"


# --------------------------------------------------------------------------- errors


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None) -> str:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return json.dumps(body)


def test_not_found_names_the_object_and_namespace() -> None:
    body = _status(
        404,
        "NotFound",
        'modeldeployments.modelguard.io "x" not found',
        {"name": "x", "group": "modelguard.io", "kind": "modeldeployments"},
    )
    message = explain_api_error(404, "Not Found", body, Attempt("get", "ml", "x"))
    assert message == 'modeldeployment "x" not found in namespace "ml"'


def test_not_found_without_details_means_the_crd_is_missing() -> None:
    body = _status(404, "NotFound", "the server could not find the requested resource", {})
    message = explain_api_error(404, "Not Found", body, Attempt("list", "ml"))
    assert "not installed in this cluster" in message
    assert "404 page not found" not in explain_api_error(
        404, "Not Found", "404 page not found", Attempt("get", "ml", "x")
    )


def test_forbidden_says_which_verb_and_resource() -> None:
    server = (
        'modeldeployments.modelguard.io "x" is forbidden: User "bob" cannot patch resource '
        '"modeldeployments" in API group "modelguard.io" in the namespace "ml"'
    )
    body = _status(403, "Forbidden", server, {"name": "x"})
    message = explain_api_error(403, "Forbidden", body, Attempt("patch", "ml", "x"))
    assert message.startswith(
        'forbidden: you may not patch modeldeployments.modelguard.io "x" in namespace "ml"'
    )
    assert 'User "bob"' in message
    bare = explain_api_error(403, "Forbidden", None, Attempt("list", None))
    assert bare == "forbidden: you may not list modeldeployments.modelguard.io in any namespace"


def test_invalid_shows_the_servers_validation_message() -> None:
    server = 'ModelDeployment.modelguard.io "x" is invalid: spec.killSwitch.fallback: mode fallback'
    body = _status(422, "Invalid", server, {"name": "x"})
    message = explain_api_error(422, "Unprocessable Entity", body, Attempt("patch", "ml", "x"))
    assert message == f"rejected by the API server: {server}"


def test_other_statuses_and_tls() -> None:
    assert "credentials" in explain_api_error(401, "Unauthorized", "", Attempt("get", "n", "x"))
    assert explain_api_error(500, "Internal", "{}", Attempt("get", "n", "x")) == (
        "the API server answered 500: Internal"
    )
    tls = explain_api_error(0, "SSLError\nbad cert", None, Attempt("get", "n", "x"))
    assert tls == "cannot talk to the cluster: SSLError bad cert"


def test_connection_cause_reads_the_urllib3_chain() -> None:
    refused = urllib3.exceptions.MaxRetryError(
        None,  # type: ignore[arg-type]
        "/apis",
        urllib3.exceptions.NewConnectionError(
            None,  # type: ignore[arg-type]
            "Failed to establish a new connection: [Errno 111] Connection refused",
        ),
    )
    assert connection_cause(refused) == "connection refused"
    assert connection_cause(ConnectionRefusedError()) == "connection refused"
    assert connection_cause(TimeoutError()) == "timed out"
    assert connection_cause(OSError("Name or service not known")) == "unknown host"


# --------------------------------------------------------------------------- main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_closed_port_gives_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{_closed_port()}"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert cli.main(["kill", "m", "--reason", "x", "--request-timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the cluster at https://127.0.0.1:")
    assert '(kubeconfig context "ctx"): connection refused' in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_no_kubeconfig_says_how_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no kubeconfig found")
    assert "--kubeconfig" in err


def test_empty_reason_is_refused_before_any_connection(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    assert cli.main(["kill", "m", "--reason", "  "]) == 1
    assert "--reason must not be empty" in capsys.readouterr().err


def test_main_returns_usage_errors_instead_of_raising(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["kill", "m"]) == 2
    assert "--reason" in capsys.readouterr().err
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"modelguard {modelguard.__version__}"


# --------------------------------------------------------------------------- start-up

# What `modelguard kill` must not import: the offline commands' replay engine, chart and
# Prometheus client (a few hundred ms of CPU at every start, mid-incident).
OFFLINE_ONLY = (
    "modelguard.cli.backtest",
    "modelguard.cli.simulate",
    "modelguard.cli.lint",
    "modelguard.cli.plot",
    "modelguard.core.replay",
)


def test_the_cli_imports_the_offline_commands_only_when_one_runs() -> None:
    probe = (
        "import sys\n"
        "from modelguard.cli import main\n"
        "main.build_parser()\n"
        f"print(sorted(m for m in sys.modules if m.startswith({OFFLINE_ONLY!r})))\n"
    )
    # A fresh interpreter (this test process has imported them all already), on the
    # modelguard this test imported, whatever else the interpreter has installed.
    source = str(Path(modelguard.__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": source},
    )
    assert result.stdout.strip() == "[]"


def test_offline_commands_still_parse_and_run(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli.parse_args(["lint", "-f", "/nonexistent/md.yaml"])
    assert args.command == "lint"
    assert cli.main(["lint", "-f", "/nonexistent/md.yaml"]) != 0  # its handler ran
    assert "md.yaml" in capsys.readouterr().err
