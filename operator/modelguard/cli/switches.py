"""`modelguard kill` and `modelguard release`, for one ModelDeployment or a fleet.

A kill never overwrites a switch that is already engaged: the first reason and requester
stay on record (an incident's kill does not relabel another incident's), and the object
is reported as left alone. A fleet-wide release releases switches pulled for one reason
only: `--reason-match TEXT` picks an incident's, `--force` takes all, and without either
it refuses when the engaged switches were pulled for different reasons.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial

from modelguard.cli import fleet
from modelguard.cli.errors import CliError
from modelguard.cli.requests import (
    RequestError,
    Step,
    kill_patch,
    kill_step,
    mixed_reasons,
    reason_matches,
    release_step,
    switch_of,
)
from modelguard.cli.session import Obj, Session, connect, namespace_scope
from modelguard.core import api

KILL_EPILOG = (
    "A switch that is already engaged is left as it is: its first reason and requester "
    "stay on record, and the object is reported as already engaged. With --all or -l the "
    "patches go out --parallel at a time; each object is reported as it is done, failures "
    "are listed again at the end with their reasons, and the exit status is 1 if any failed."
)
RELEASE_EPILOG = (
    "With --all or -l, switches pulled for different reasons are not released together "
    "(another incident's may still be needed): pick one with --reason-match TEXT, or take "
    "all with --force. Named ModelDeployments are released whatever their reason, unless "
    "--reason-match is given."
)


def add_selection_options(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"ModelDeployments to {verb}")
    parser.add_argument(
        "--all", action="store_true", help=f"{verb} every ModelDeployment in the namespace"
    )
    parser.add_argument("-l", "--selector", help="label selector, e.g. team=fraud")
    parser.add_argument(
        "-A", "--all-namespaces", action="store_true", help="with --all or -l: every namespace"
    )
    parser.add_argument(
        "--parallel",
        type=_positive,
        default=fleet.DEFAULT_PARALLEL,
        metavar="N",
        help=f"patch up to N ModelDeployments at once (default: {fleet.DEFAULT_PARALLEL})",
    )


def add_release_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reason-match",
        metavar="TEXT",
        help="release only switches whose reason contains TEXT as a whole word, "
        'ignoring case (e.g. an incident id: INC-42 matches "INC-42: bad scores", '
        "not INC-421); the others stay engaged",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --all or -l: release every engaged switch, whatever its reason "
        "(without --force or --reason-match, switches pulled for different reasons "
        "are refused)",
    )


def check_selection(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    fleet_wide = args.all or args.selector is not None
    if args.names and fleet_wide:
        parser.error("give NAMEs or --all/-l, not both")
    if not args.names and not fleet_wide:
        parser.error("name a ModelDeployment, or use --all or -l SELECTOR")
    if args.all_namespaces and not fleet_wide:
        parser.error("-A/--all-namespaces needs --all or -l SELECTOR")
    if getattr(args, "force", False) and getattr(args, "reason_match", None) is not None:
        parser.error("give --reason-match or --force, not both")
    if getattr(args, "reason_match", None) is not None and not args.reason_match.strip():
        parser.error("--reason-match must not be empty")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def _select(args: argparse.Namespace, session: Session) -> list[fleet.Task]:
    """Every ModelDeployment the command applies to; listed ones come with their object."""
    if args.names:
        return [fleet.Task(session.target.namespace, name, None) for name in args.names]
    scope = namespace_scope(args, session)
    items = session.list(scope, args.selector)
    if not items:
        where = f'in namespace "{scope}"' if scope else "in any namespace"
        matching = f" matching {args.selector!r}" if args.selector else ""
        raise CliError(f"no ModelDeployments found {where}{matching}")
    tasks = [
        fleet.Task(str(o["metadata"]["namespace"]), str(o["metadata"]["name"]), o) for o in items
    ]
    return sorted(tasks, key=lambda t: (t.namespace, t.name))


def _run(
    args: argparse.Namespace,
    session: Session,
    tasks: list[fleet.Task],
    decide: Callable[[Obj], Step],
    words: tuple[str, str, str],
) -> int:
    verb, changed, unchanged = words
    work = partial(fleet.apply, session, decide=decide)
    if len(tasks) == 1:
        # One object: its error is the whole story, told on one line.
        outcome = work(tasks[0])
        print(f"{outcome.ref}: {outcome.message}", flush=True)
        return 0
    began = time.monotonic()
    progress = fleet.Progress(verb, len(tasks), sys.stderr)
    outcomes = fleet.run(tasks, work, args.parallel, progress)
    seconds = time.monotonic() - began
    print(fleet.summarize(verb, outcomes, seconds, changed, unchanged), file=sys.stderr)
    failed = fleet.failures(outcomes)
    if failed:
        print("failed:", file=sys.stderr)
        for outcome in failed:
            print(f"  {outcome.ref}: {outcome.message}", file=sys.stderr)
        names = ", ".join(o.ref for o in failed)
        raise CliError(f"{len(failed)} of {len(tasks)} ModelDeployments failed: {names}")
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    mode = api.KillSwitchMode(args.mode) if args.mode else None
    try:
        kill_patch(args.reason, mode, "")  # validate before touching the cluster
    except RequestError as exc:
        raise CliError(str(exc)) from exc
    session = connect(args)
    tasks = _select(args, session)
    requester = session.requester()
    decide = partial(kill_step, reason=args.reason, mode=mode, requested_by=requester)
    code = _run(args, session, tasks, decide, ("kill", "enabled", "already engaged"))
    print(
        "The operator enforces it; confirm with `modelguard status` or "
        f"`kubectl wait --for=condition=KillSwitchEngaged {api.SINGULAR}/NAME`.",
        file=sys.stderr,
    )
    return code


def cmd_release(args: argparse.Namespace) -> int:
    session = connect(args)
    tasks = _select(args, session)
    if not args.names and args.reason_match is None and not args.force:
        refused = mixed_reasons(t.obj for t in tasks if t.obj is not None)
        if refused is not None:
            raise CliError(f"nothing released: {refused}")
    if not args.names and args.reason_match is not None:
        _check_some_match(tasks, args.reason_match)
    decide = partial(release_step, requested_by=session.requester(), reason_match=args.reason_match)
    return _run(args, session, tasks, decide, ("release", "released", "left as they were"))


def _check_some_match(tasks: list[fleet.Task], text: str) -> None:
    """A --reason-match that matches nothing is most likely a mistyped incident id: say
    so, with the reasons there are, rather than report success having released nothing."""
    engaged = [switch_of(t.obj) for t in tasks if t.obj is not None]
    reasons = sorted({s.reason for s in engaged if s.enabled})
    if any(reason_matches(reason, text) for reason in reasons):
        return
    listed = "; ".join(f'"{r}"' for r in reasons) or "none is engaged"
    raise CliError(f'no engaged kill switch has a reason matching "{text.strip()}" ({listed})')
