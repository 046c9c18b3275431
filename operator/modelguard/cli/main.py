"""modelguard: the command line for ModelDeployments (also `kubectl modelguard`).

    modelguard kill NAME --reason TEXT [--mode scaleToZero|fallback]
    modelguard kill --all [-A] --reason TEXT        # every ModelDeployment in the namespace
    modelguard kill -l team=fraud --reason TEXT     # those matching a label selector
    modelguard release NAME | --all | -l SELECTOR [--reason-match TEXT | --force]
    modelguard status [NAME] [-A] [-o json]
    modelguard history NAME [-o json]
    modelguard rollback NAME [--to VERSION] [--reason TEXT]
    modelguard simulate SCENARIO.yaml [--set PATH=VALUE] [--sweep PATH=V1,V2]
    modelguard backtest -f MD.yaml --prometheus URL --from T --to T --version V ...
    modelguard lint -f MD.yaml [--prometheus URL]

Every command only writes the ModelDeployment (spec.killSwitch, or an annotation); the
operator does the rest and reports in the status, so the CLI needs no more RBAC than
get, list and patch on modeldeployments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from modelguard import __version__
from modelguard.cli import offline, switches
from modelguard.cli import render as cli_render
from modelguard.cli.errors import CliError
from modelguard.cli.requests import (
    RequestError,
    check_rollback,
    rollback_patch,
    rollback_request,
)
from modelguard.cli.session import DEFAULT_TIMEOUT, Session, connect, namespace_scope
from modelguard.core import api

__all__ = ["Session", "build_parser", "connect", "main", "parse_args"]


# --------------------------------------------------------------------------- commands


def _out(line: str = "") -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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
    scope = namespace_scope(args, session)
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


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = _Parser(
        prog="modelguard",
        description="Kill switch, status and manual rollback for modelguard ModelDeployments.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, epilog: str | None = None) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=help_text, epilog=epilog, parents=[common]
        )
        return sub

    kill = command("kill", "stop models now: engage the kill switch", switches.KILL_EPILOG)
    switches.add_selection_options(kill, "stop")
    kill.add_argument("--reason", required=True, help="why (recorded on the resource)")
    kill.add_argument(
        "--mode",
        choices=[m.value for m in api.KillSwitchMode],
        help="scaleToZero, or fallback (needs spec.killSwitch.fallback); default: the spec's",
    )
    kill.set_defaults(handler=switches.cmd_kill, selection=True)

    release = command(
        "release", "release the kill switch and restore what was running", switches.RELEASE_EPILOG
    )
    switches.add_selection_options(release, "release")
    switches.add_release_options(release)
    release.set_defaults(handler=switches.cmd_release, selection=True)

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

    offline.add_simulate(commands)
    offline.add_backtest(commands)
    offline.add_lint(commands)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "selection", False):
        switches.check_selection(parser, args)
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
