"""Live traffic for the synthetic exporter: what a model server counts while it serves.

``serving(exporter, model, traffic)`` counts, every 0.1 s and for every version in
``traffic``, that version's confusion-matrix cells, prediction scores and request
latencies: the metrics the check library (deploy/checks/) reads. ``traffic`` is read
afresh at every tick, so a caller changes a version's behaviour at run time by assigning
a new ``Traffic`` to it (the demo's "v2's F1 drops"), with no restart and no gap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from modelguard_testenv.exporter import SyntheticModelExporter, ticking

__all__ = ["TICK_SECONDS", "Traffic", "serving"]

TICK_SECONDS = 0.1


@dataclass(frozen=True)
class Traffic:
    """One version's counts per tick. ``scores`` and ``latencies`` map an observed value
    to how many predictions (requests) had it."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    scores: Mapping[float, int] = field(default_factory=dict)
    latencies: Mapping[float, int] = field(default_factory=dict)

    @property
    def f1(self) -> float:
        """2tp / (2tp + fp + fn): what the library's f1-score template reads."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    @property
    def labelled(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def _count(exporter: SyntheticModelExporter, model: str, version: str, t: Traffic) -> None:
    exporter.add_confusion(model, version, tp=t.tp, fp=t.fp, fn=t.fn, tn=t.tn)
    exporter.observe_scores(model, version, t.scores)
    exporter.observe_latencies(model, version, t.latencies)


@contextlib.contextmanager
def serving(
    exporter: SyntheticModelExporter, model: str, traffic: Mapping[str, Traffic]
) -> Iterator[None]:
    """While in the ``with``: every version of ``traffic`` counted every TICK_SECONDS.

    Every series is created at 0 before the first tick (inside the ``with``, the first
    scrape already sees them): a series that first appears with counts in it loses those
    counts to ``increase()``. Every version all along, live or not, as in ``feeding``:
    which span a query sees is its window's business (``{{sinceStart}}``).
    """
    for version in list(traffic):
        _count(exporter, model, version, Traffic())

    def feed() -> None:
        for version, t in list(traffic.items()):
            _count(exporter, model, version, t)

    with ticking(feed, f"traffic-{model}", TICK_SECONDS):
        yield
