"""modelguard: the command line for ModelDeployments (also `kubectl modelguard`).

    modelguard kill NAME --reason TEXT [--mode scaleToZero|fallback]
    modelguard kill --all [-A] --reason TEXT        # every ModelDeployment in the namespace
    modelguard kill -l team=fraud --reason TEXT     # those matching a label selector
    modelguard release NAME | --all | -l SELECTOR
    modelguard status [NAME] [-A] [-o json]
    modelguard history NAME [-o json]
    modelguard rollback NAME [--to VERSION] [--reason TEXT]

Every command only writes the ModelDeployment (spec.killSwitch, or an annotation); the
operator does the rest and reports in the status, so the CLI needs no more RBAC than
`kubectl patch` on modeldeployments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from modelguard import __version__
from modelguard.cli import render as cli_render
from modelguard.cli.errors import (
    Attempt,
    CliError,
    explain_api_error,
    explain_unreachable,
)
from modelguard.cli.kubeconfig import KubeconfigError, Target, discover
from modelguard.cli.requests import (
    RequestError,
    check_rollback,
    kill_patch,
    release_patch,
    rollback_patch,
    rollback_request,
)
from modelguard.core import api

MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "modelguard-cli"
DEFAULT_TIMEOUT = 30.0

Obj = dict[str, Any]


# --------------------------------------------------------------------------- cluster access


@dataclass
class Session:
    """An API client for the chosen context, and what the kubeconfig says about it."""

    target: Target
    # kubernetes.client.CustomObjectsApi and AuthenticationV1Api; Any because custom
    # objects come back as plain dicts that the client annotates as `object`.
    custom: Any
    authn: Any
    server: str | None
    timeout: float

    def call(self, attempt: Attempt, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one API call, turning every failure into a CliError that explains it."""
        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            raise CliError(explain_api_error(exc.status, exc.reason, exc.body, attempt)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise CliError(explain_unreachable(self.server, self.target.context, exc)) from exc

    def get(self, namespace: str, name: str) -> Obj:
        return dict(
            self.call(
                Attempt("get", namespace, name),
                self.custom.get_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                name,
            )
        )

    def list(self, namespace: str | None, selector: str | None) -> list[Obj]:
        kwargs = {"label_selector": selector} if selector else {}
        if namespace is None:
            result = self.call(
                Attempt("list", None),
                self.custom.list_cluster_custom_object,
                api.GROUP,
                api.VERSION,
                api.PLURAL,
                **kwargs,
            )
        else:
            result = self.call(
                Attempt("list", namespace),
                self.custom.list_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                **kwargs,
            )
        return [dict(item) for item in result.get("items", [])]

    def patch(self, namespace: str, name: str, body: Obj) -> Obj:
        return dict(
            self.call(
                Attempt("patch", namespace, name),
                self.custom.patch_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                name,
                body,
                # Merge patch: the body only names the fields it changes, and custom
                # resources do not support strategic merge.
                _content_type=MERGE_PATCH,
                # Named in managedFields, so GitOps tools and audits can tell who set what.
                field_manager=FIELD_MANAGER,
            )
        )

    def requester(self) -> str:
        """Who is asking, as the API server knows them; else as the kubeconfig says.

        A SelfSubjectReview (`kubectl auth whoami`) names OIDC and exec-plugin users
        correctly, where the kubeconfig only has a local label. Clusters that do not
        serve it, or forbid it, get the kubeconfig's answer (a certificate's CN).
        """
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            result = self.call(
                Attempt("create", None, None), self.authn.create_self_subject_review, review
            )
        except CliError as exc:
            if isinstance(exc.__cause__, ApiException):
                return self.target.user
            raise
        try:
            username = result.status.user_info.username
        except AttributeError:
            username = None
        return str(username) if username else self.target.user


def connect(args: argparse.Namespace) -> Session:
    try:
        target = discover(
            getattr(args, "kubeconfig", None),
            getattr(args, "context", None),
            getattr(args, "namespace", None),
            os.environ,
        )
        configuration = k8s.Configuration()
        if target.config_files:
            # The kubernetes client's config loaders carry no annotations.
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(target.config_files),
                context=target.context,
                client_configuration=configuration,
                # Never rewrite the user's kubeconfig (token refreshes would do that).
                persist_config=False,
            )
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except KubeconfigError as exc:
        raise CliError(str(exc)) from exc
    except ConfigException as exc:
        raise CliError(f"cannot use the kubeconfig: {' '.join(str(exc).split())}") from exc
    api_client = k8s.ApiClient(configuration)
    api_client.user_agent = f"modelguard-cli/{__version__}"
    return Session(
        target=target,
        custom=k8s.CustomObjectsApi(api_client),
        authn=k8s.AuthenticationV1Api(api_client),
        server=configuration.host or target.server,
        timeout=float(getattr(args, "request_timeout", None) or DEFAULT_TIMEOUT),
    )


# --------------------------------------------------------------------------- commands


def _out(line: str = "") -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _namespace_scope(args: argparse.Namespace, session: Session) -> str | None:
    return None if getattr(args, "all_namespaces", False) else session.target.namespace


def _select(args: argparse.Namespace, session: Session) -> list[tuple[str, str]]:
    """(namespace, name) of every ModelDeployment the command applies to."""
    if args.names:
        return [(session.target.namespace, name) for name in args.names]
    scope = _namespace_scope(args, session)
    items = session.list(scope, args.selector)
    found = sorted((str(o["metadata"]["namespace"]), str(o["metadata"]["name"])) for o in items)
    if not found:
        where = f'in namespace "{scope}"' if scope else "in any namespace"
        matching = f" matching {args.selector!r}" if args.selector else ""
        raise CliError(f"no ModelDeployments found {where}{matching}")
    return found


def _apply_to_each(session: Session, targets: list[tuple[str, str]], body: Obj, done: str) -> int:
    """Patch every target, carrying on past failures so one bad object never stops a
    fleet-wide kill; but stop at once when the cluster is unreachable."""
    if len(targets) == 1:
        # One object: its error is the whole story, told on one line.
        namespace, name = targets[0]
        session.patch(namespace, name, body)
        _out(f"{namespace}/{name}: {done}")
        return 0
    failed = []
    for namespace, name in targets:
        try:
            session.patch(namespace, name, body)
        except CliError as exc:
            if not isinstance(exc.__cause__, ApiException):
                raise
            failed.append(f"{namespace}/{name}")
            _err(f"{namespace}/{name}: error: {exc}")
            continue
        _out(f"{namespace}/{name}: {done}")
    if failed:
        raise CliError(
            f"{len(failed)} of {len(targets)} ModelDeployments failed: {', '.join(failed)}"
        )
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    mode = api.KillSwitchMode(args.mode) if args.mode else None
    try:
        kill_patch(args.reason, mode, "")  # validate before touching the cluster
    except RequestError as exc:
        raise CliError(str(exc)) from exc
    session = connect(args)
    targets = _select(args, session)
    body = kill_patch(args.reason, mode, session.requester())
    code = _apply_to_each(session, targets, body, "kill switch enabled")
    _err(
        "The operator enforces it; confirm with `modelguard status` or "
        f"`kubectl wait --for=condition=KillSwitchEngaged {api.SINGULAR}/NAME`."
    )
    return code


def cmd_release(args: argparse.Namespace) -> int:
    session = connect(args)
    targets = _select(args, session)
    body = release_patch(session.requester())
    return _apply_to_each(session, targets, body, "kill switch released")


def _print_json(data: Any) -> None:
    _out(json.dumps(data, indent=2, sort_keys=True))


def cmd_status(args: argparse.Namespace) -> int:
    session = connect(args)
    now = datetime.now(UTC)
    if args.name:
        obj = session.get(session.target.namespace, args.name)
        if args.output == "json":
            _print_json(cli_render.status_json([obj])["items"][0])
        else:
            _out(cli_render.status_detail(obj, now))
        return 0
    scope = _namespace_scope(args, session)
    items = session.list(scope, args.selector)
    if args.output == "json":
        _print_json(cli_render.status_json(items))
    elif not items:
        where = f'in namespace "{scope}"' if scope else "in any namespace"
        _err(f"No ModelDeployments found {where}.")
    else:
        _out(cli_render.status_table(items, all_namespaces=scope is None))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    session = connect(args)
    obj = session.get(session.target.namespace, args.name)
    if args.output == "json":
        _print_json(cli_render.history_json(obj))
    else:
        _out(cli_render.history_view(obj))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    session = connect(args)
    namespace = session.target.namespace
    obj = session.get(namespace, args.name)
    try:
        warnings = check_rollback(obj, args.to)
    except RequestError as exc:
        raise CliError(f"{namespace}/{args.name}: {exc}") from exc
    for warning in warnings:
        _err(f"warning: {warning}")
    request = rollback_request(args.to, args.reason, session.requester())
    session.patch(namespace, args.name, rollback_patch(request))
    target = f"version {args.to}" if args.to else "the last known good version"
    _out(f"{namespace}/{args.name}: rollback to {target} requested (id {request.id})")
    _err(f"The operator acts on it once; follow with `modelguard status {args.name}`.")
    return 0


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line and the usage hint, not the whole usage block: the message matters.
        self.exit(2, f"{self.prog}: error: {message}\n(see `{self.prog} --help`)\n")


def _connection_options() -> _Parser:
    # SUPPRESS lets the options go before or after the command, kubectl-style, without
    # a subcommand's default overwriting a value given before it.
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    common.add_argument(
        "-n", "--namespace", help="namespace (default: the context's, else 'default')"
    )
    common.add_argument(
        "--request-timeout",
        type=float,
        metavar="SECONDS",
        help=f"timeout of each API request (default: {DEFAULT_TIMEOUT:g})",
    )
    return common


def _selection_options(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"ModelDeployments to {verb}")
    parser.add_argument(
        "--all", action="store_true", help=f"{verb} every ModelDeployment in the namespace"
    )
    parser.add_argument("-l", "--selector", help="label selector, e.g. team=fraud")
    parser.add_argument(
        "-A", "--all-namespaces", action="store_true", help="with --all or -l: every namespace"
    )


def _check_selection(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    fleet = args.all or args.selector is not None
    if args.names and fleet:
        parser.error("give NAMEs or --all/-l, not both")
    if not args.names and not fleet:
        parser.error("name a ModelDeployment, or use --all or -l SELECTOR")
    if args.all_namespaces and not fleet:
        parser.error("-A/--all-namespaces needs --all or -l SELECTOR")


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = _Parser(
        prog="modelguard",
        description="Kill switch, status and manual rollback for modelguard ModelDeployments.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=help_text, parents=[common]
        )
        return sub

    kill = command("kill", "stop models now: engage the kill switch")
    _selection_options(kill, "stop")
    kill.add_argument("--reason", required=True, help="why (recorded on the resource)")
    kill.add_argument(
        "--mode",
        choices=[m.value for m in api.KillSwitchMode],
        help="scaleToZero, or fallback (needs spec.killSwitch.fallback); default: the spec's",
    )
    kill.set_defaults(handler=cmd_kill, selection=True)

    release = command("release", "release the kill switch and restore what was running")
    _selection_options(release, "release")
    release.set_defaults(handler=cmd_release, selection=True)

    status = command("status", "phase, versions, kill switch and last verdict")
    status.add_argument("name", nargs="?", metavar="NAME")
    status.add_argument("-l", "--selector", help="label selector, e.g. team=fraud")
    status.add_argument("-A", "--all-namespaces", action="store_true")
    status.add_argument("-o", "--output", choices=["text", "json"], default="text")
    status.set_defaults(handler=cmd_status)

    history = command("history", "versions that went live, and what became of them")
    history.add_argument("name", metavar="NAME")
    history.add_argument("-o", "--output", choices=["text", "json"], default="text")
    history.set_defaults(handler=cmd_history)

    rollback = command("rollback", "ask the operator to roll back now")
    rollback.add_argument("name", metavar="NAME")
    rollback.add_argument("--to", metavar="VERSION", help="default: the last known good")
    rollback.add_argument("--reason", default="", help="why (recorded with the request)")
    rollback.set_defaults(handler=cmd_rollback)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "selection", False):
        _check_selection(parser, args)
    if args.command == "status" and args.name and (args.all_namespaces or args.selector):
        parser.error("status NAME takes no -A or -l")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CliError as exc:
        _err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
