"""The arguments of the offline commands (simulate, backtest, lint); their code is
imported only when one of them runs.

The replay engine, the chart and the Prometheus client they need take a few hundred
milliseconds of CPU to import. Every `modelguard` command builds the whole parser (for
--help and the usage errors), and a `modelguard kill --all` in an incident should not pay
for code it never runs, so the parser gets the arguments from here and the handler is a
stub that imports its module on the call.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def _lazy(module: str, function: str) -> Handler:
    """A handler that imports modelguard.cli.<module> and runs its <function>."""

    def handler(args: argparse.Namespace) -> int:
        run: Handler = getattr(importlib.import_module(f"modelguard.cli.{module}"), function)
        return run(args)

    return handler


def add_simulate(commands: argparse._SubParsersAction[Any]) -> None:
    sim = commands.add_parser(
        "simulate",
        help="replay synthetic series through the operator's decision code",
        description="Replay a scenario's synthetic series (promtool notation) through the "
        "operator's own evaluation and decision code. Exit code 2 when the scenario's "
        "expect: is not met.",
    )
    sim.add_argument("scenario", metavar="SCENARIO.yaml")
    add_policy_options(sim)
    sim.set_defaults(handler=_lazy("simulate", "cmd_simulate"))


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="change one spec field, e.g. analysis.failureThreshold=5 (repeatable)",
    )
    parser.add_argument(
        "--sweep",
        metavar="PATH=V1,V2,...",
        help="compare policy variants: one replay per value, one row each",
    )
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table")
    parser.add_argument("--full", action="store_true", help="every evaluation, no collapsed runs")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="chart of the replay (needs modelguard[plot])"
    )


def add_backtest(commands: argparse._SubParsersAction[Any]) -> None:
    bt = commands.add_parser(
        "backtest",
        help="replay a past window of Prometheus metrics through the operator's decisions",
        description="What would the operator have decided? Replays a past window of "
        "metrics through its own evaluation and decision code. Exit code 2 when --expect "
        "is not met.",
    )
    bt.add_argument("-f", "--file", metavar="MD.yaml", help="the ModelDeployment")
    bt.add_argument("--prometheus", metavar="URL", help="default: spec.analysis.prometheus.url")
    bt.add_argument("--token-file", metavar="PATH", help="a bearer token for Prometheus")
    bt.add_argument("--from", dest="start", metavar="T", help="window start (RFC 3339)")
    bt.add_argument("--to", dest="end", metavar="T", help="window end (RFC 3339)")
    bt.add_argument("--live-at", metavar="T", help="when --version went live (default: --from)")
    bt.add_argument("--version", help="the version that went live")
    bt.add_argument(
        "--from-history",
        metavar="NS/NAME",
        help="the versions a live object's status.history records (and its spec, unless -f)",
    )
    bt.add_argument("--kubeconfig", help="for --from-history (default: $KUBECONFIG)")
    bt.add_argument("--context", help="for --from-history (default: the current one)")
    bt.add_argument(
        "--stable-version",
        metavar="VERSION",
        help="what ran before it (known good: the rollback target)",
    )
    bt.add_argument("--step", metavar="DURATION", help="default: analysis.interval")
    bt.add_argument(
        "--expect", choices=["rollback", "no-rollback"], help="exit 2 unless this happens"
    )
    bt.add_argument("--record", metavar="FILE", help="write the fetched series (JSON)")
    bt.add_argument("--replay", metavar="FILE", help="use a recording, no Prometheus")
    bt.add_argument(
        "--healthy",
        action="append",
        default=[],
        metavar="VERSION",
        help="a version known to be healthy: its rollbacks count as false (repeatable)",
    )
    add_policy_options(bt)
    bt.set_defaults(handler=_lazy("backtest", "cmd_backtest"))


def add_lint(commands: argparse._SubParsersAction[Any]) -> None:
    lint = commands.add_parser(
        "lint",
        help="check a ModelDeployment without a cluster (and its queries, with --prometheus)",
        description="Everything the CRD and the operator would reject, one line per "
        "problem; with --prometheus, each rendered query is run once now. Exit code 1 on "
        "any error.",
    )
    lint.add_argument("-f", "--file", required=True, metavar="MD.yaml")
    lint.add_argument("--prometheus", metavar="URL", help="run each rendered query once now")
    lint.add_argument("--token-file", metavar="PATH", help="a bearer token for Prometheus")
    lint.add_argument("--version", help="{{version}} (default: the spec's version)")
    lint.add_argument("--stable-version", metavar="VERSION", help="{{stableVersion}}")
    lint.set_defaults(handler=_lazy("lint", "cmd_lint"))
