"""`--plot FILE.png`: each check's value against its threshold over the replay, the
verdicts marked, the versions' go-live and the decisions drawn as vertical lines.

matplotlib is an optional extra (`pip install 'modelguard[plot]'`): the operator image
and a plain CLI install do without it, so it is imported here only, and its absence is
a one-line error, not an ImportError.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from modelguard.cli.errors import CliError
from modelguard.core.api import Verdict
from modelguard.core.durations import format_duration
from modelguard.core.replay import Replay
from modelguard.core.rollout import ROLLOUT_CHECK

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLORS = {Verdict.PASSED: "tab:green", Verdict.FAILED: "tab:red", Verdict.INCONCLUSIVE: "grey"}


def write(replay: Replay, path: str) -> None:
    # Imported here, not with the module: matplotlib takes seconds to import, and every
    # CLI command (status, kill) would pay for it.
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")  # files only: no display, no GUI toolkit
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise CliError("--plot needs matplotlib: pip install 'modelguard[plot]'") from exc
    spec = replay.scenario.spec
    assert spec.analysis is not None
    checks = spec.analysis.checks
    fig, axes = plt.subplots(
        len(checks), 1, figsize=(11, 3.2 * len(checks)), sharex=True, squeeze=False
    )
    for ax, check in zip(axes[:, 0], checks, strict=True):
        points = [
            (s.time, c)
            for s in replay.steps
            for c in s.checks
            if c.name == check.name and c.name != ROLLOUT_CHECK
        ]
        for version in dict.fromkeys(s.version for s in replay.steps):
            # One line per version: a rollback is a jump to another series, not a slope.
            mine = [(s.time, c) for s in replay.steps if s.version == version for c in s.checks]
            mine = [(t, c) for t, c in mine if c.name == check.name]
            times = [t for t, _ in mine]
            ax.plot(
                times,
                [c.value if c.value is not None else float("nan") for _, c in mine],
                linewidth=1,
                label=f"{version}",
            )
            if any(c.baseline is not None for _, c in mine):
                ax.plot(
                    times,
                    [c.baseline if c.baseline is not None else float("nan") for _, c in mine],
                    color="tab:purple",
                    linewidth=1,
                    linestyle=":",
                    label=f"baseline of {version}",
                )
        for verdict, color in COLORS.items():
            marked = [
                (t, c.value) for t, c in points if c.verdict is verdict and c.value is not None
            ]
            if marked:
                ax.scatter(
                    [t for t, _ in marked],
                    [v for _, v in marked],
                    s=12,
                    color=color,
                    label=verdict.value,
                    zorder=3,
                )
        for bound, name in ((check.min, "min"), (check.max, "max")):
            if bound is not None:
                ax.axhline(bound, color="tab:orange", linestyle="--", linewidth=1, label=name)
        _events(ax, replay)
        ax.set_ylabel(check.name)
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(_title(replay))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _events(ax: Axes, replay: Replay) -> None:
    lines: Sequence[tuple[datetime, str, str]] = [
        *(
            (o.live_at, f"{o.version} {'asked (quarantined)' if o.quarantined else 'live'}", "grey")
            for o in replay.outcomes
        ),
        *(
            (o.rolled_back_at, f"rollback {o.version}", "tab:red")
            for o in replay.outcomes
            if o.rolled_back_at is not None
        ),
        *(
            (o.promoted_at, f"{o.version} promoted", "tab:green")
            for o in replay.outcomes
            if o.promoted_at is not None
        ),
    ]
    for when, text, color in lines:
        # matplotlib converts datetimes (its units registry); its stubs say float only.
        ax.axvline(when, color=color, linewidth=1.2, alpha=0.7)  # type: ignore[arg-type]
        ax.annotate(
            text,
            (when, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize="small",
            color=color,
        )


def _title(replay: Replay) -> str:
    rolled = [o for o in replay.outcomes if o.rolled_back_at is not None]
    if rolled:
        return "; ".join(
            f"{o.version} rolled back {format_duration(o.time_to_rollback)} after going live"
            for o in rolled
            if o.time_to_rollback is not None
        )
    return "no rollback"
