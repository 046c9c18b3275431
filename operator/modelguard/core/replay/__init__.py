"""Replaying recorded or synthetic metrics through the operator's own decision code:
the engine behind `modelguard backtest` and `modelguard simulate`.

engine: the replay loop (scenario in, timeline and outcomes out); recorded: the
MetricsSource over recorded series (and the --record/--replay fixture); notation:
promtool's expanding notation for synthetic series; variants: --set/--sweep overrides;
report: the summary lines and caveats.
"""

from modelguard.core.replay.engine import (
    Replay,
    Rollout,
    Scenario,
    SimClock,
    Step,
    VersionOutcome,
    replay,
    version_spec,
)
from modelguard.core.replay.recorded import Recorded, RecordedMetrics, Series

__all__ = [
    "Recorded",
    "RecordedMetrics",
    "Replay",
    "Rollout",
    "Scenario",
    "Series",
    "SimClock",
    "Step",
    "VersionOutcome",
    "replay",
    "version_spec",
]
