"""A synthetic model-metrics exporter whose values tests set directly.

It stands in for a model server's metrics endpoint: per (model, version) it exposes the
quality signals a ModelDeployment's checks query. It uses its own CollectorRegistry so it
never mixes with the process-wide registry (where the operator exports its own metrics when
it runs in the test process).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Self
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import Metric

from modelguard_testenv._process import ComponentStartError, StartStop

__all__ = ["SyntheticModelExporter"]

LABELS = ("model", "version")
# Latency buckets around what an online model serves: 5 ms .. 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Score buckets of a classifier's [0, 1] score: ten bins of 0.1 (the last is le="+Inf").
# The library's PSI template names exactly these boundaries (see deploy/checks/).
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CONFUSION_CELLS = ("tp", "fp", "fn", "tn")


@contextlib.contextmanager
def ticking(each_tick: Callable[[], None], name: str, seconds: float = 0.1) -> Iterator[None]:
    """While in the ``with``: ``each_tick()`` every ``seconds`` in a thread of its own."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(seconds):
            each_tick()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


class _AtomicRegistry(CollectorRegistry):
    """A registry whose scrape waits for the exporter's lock: a change made under the lock
    (several counters of one version at once) is seen by a scrape whole or not at all.
    The library tests need that: series first scraped together share their sample
    timestamps, so Prometheus' increase() extrapolates them alike and their ratios are exact.
    """

    def __init__(self, lock: threading.RLock) -> None:
        super().__init__(auto_describe=True)
        self._scrape_lock = lock

    def collect(self) -> Iterable[Metric]:
        with self._scrape_lock:
            return list(super().collect())


class SyntheticModelExporter(StartStop):
    """Serves ``/metrics`` on 127.0.0.1 with per-(model, version) series:

    - gauges ``model_accuracy``, ``model_precision``, ``model_recall``, ``model_up``;
    - histogram ``model_latency_seconds``;
    - counters ``model_labeled_samples_total`` and ``model_correct_predictions_total``
      (labelled predictions and the correct ones among them: a proportion check's
      totalQuery and successQuery);
    - the conventional names the check library (deploy/checks/) reads: counter
      ``model_confusion_matrix_total{cell="tp|fp|fn|tn"}``, counter
      ``model_predictions_total`` (all predictions, labelled or not), histogram
      ``model_prediction_score`` (buckets SCORE_BUCKETS), counter
      ``model_requests_total{code="200|500"}``.

    A series exists only after a value was set for it, and ``remove()`` drops all series of
    a (model, version): Prometheus then sees absent data, as when a model stops reporting.
    Values may be NaN (``float("nan")``) to simulate broken metrics.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        latency_buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self._requested_port = port
        # Each metric is thread-safe on its own; the lock makes a change to several metrics
        # atomic with respect to each other and to a scrape (see _AtomicRegistry).
        self._lock = threading.RLock()
        self.registry = _AtomicRegistry(self._lock)
        reg = self.registry
        self._accuracy = Gauge("model_accuracy", "Model accuracy (0..1)", LABELS, registry=reg)
        self._precision = Gauge("model_precision", "Model precision (0..1)", LABELS, registry=reg)
        self._recall = Gauge("model_recall", "Model recall (0..1)", LABELS, registry=reg)
        self._up = Gauge("model_up", "1 if the model version serves", LABELS, registry=reg)
        self._latency = Histogram(
            "model_latency_seconds",
            "Inference latency",
            LABELS,
            buckets=list(latency_buckets),
            registry=reg,
        )
        self._labeled = Counter(
            "model_labeled_samples",
            "Predictions that received a ground-truth label",
            LABELS,
            registry=reg,
        )
        self._correct = Counter(
            "model_correct_predictions",
            "Labelled predictions that were correct",
            LABELS,
            registry=reg,
        )
        self._confusion = Counter(
            "model_confusion_matrix",
            "Labelled predictions by confusion-matrix cell (tp, fp, fn, tn)",
            (*LABELS, "cell"),
            registry=reg,
        )
        self._predictions = Counter(
            "model_predictions", "Predictions served, labelled or not", LABELS, registry=reg
        )
        self._score = Histogram(
            "model_prediction_score",
            "Score the model gave each prediction (0..1)",
            LABELS,
            buckets=list(SCORE_BUCKETS),
            registry=reg,
        )
        self._requests = Counter(
            "model_requests",
            "Inference requests by HTTP status code",
            (*LABELS, "code"),
            registry=reg,
        )
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            return self
        try:
            server, thread = start_http_server(
                self._requested_port, addr="127.0.0.1", registry=self.registry
            )
        except OSError as exc:
            raise ComponentStartError(
                "exporter", f"cannot listen on 127.0.0.1:{self._requested_port}: {exc}"
            ) from exc
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving (a scrape then fails: the target is down). Restartable."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SyntheticModelExporter.port is only known after start()")
        return int(self._server.server_port)

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus static_config."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    # ---------------------------------------------------------------- values

    def set(
        self,
        model: str,
        version: str,
        *,
        accuracy: float | None = None,
        precision: float | None = None,
        recall: float | None = None,
        up: bool | float | None = None,
    ) -> None:
        """Set the given gauges; omitted ones keep their value (or stay absent)."""
        with self._lock:
            for gauge, value in (
                (self._accuracy, accuracy),
                (self._precision, precision),
                (self._recall, recall),
                (self._up, up),
            ):
                if value is not None:
                    gauge.labels(model, version).set(float(value))

    def add_labeled(self, model: str, version: str, n: float) -> None:
        """Count ``n`` more labeled samples (the evidence behind sample-size gating)."""
        with self._lock:
            self._labeled.labels(model, version).inc(n)

    def add_outcomes(self, model: str, version: str, labeled: float, correct: float) -> None:
        """Count ``labeled`` more labelled predictions, ``correct`` of them correct. The
        total first: a scrape between the two sees too few correct, never too many."""
        if not 0 <= correct <= labeled:
            raise ValueError(f"need 0 <= correct <= labeled, got {correct} of {labeled}")
        with self._lock:
            self._labeled.labels(model, version).inc(labeled)
            self._correct.labels(model, version).inc(correct)

    @contextlib.contextmanager
    def feeding(
        self, model: str, accuracy: Mapping[str, float], per_tick: float = 40
    ) -> Iterator[None]:
        """While in the ``with``: ``per_tick`` labelled outcomes for every version every
        0.1 s, the share ``accuracy[version]`` of them correct, as live model servers
        would count them. Every version all along: which span a query sees is its
        window's business (a proportion check's ``{{sinceStart}}``)."""

        def feed() -> None:
            for version, share in accuracy.items():
                self.add_outcomes(model, version, per_tick, per_tick * share)

        with ticking(feed, "outcomes"):
            yield

    def observe_latency(self, model: str, version: str, seconds: float, count: int = 1) -> None:
        """Record ``count`` requests that each took ``seconds``."""
        with self._lock:
            child = self._latency.labels(model, version)
            for _ in range(count):
                child.observe(seconds)

    def add_confusion(
        self,
        model: str,
        version: str,
        *,
        tp: float = 0,
        fp: float = 0,
        fn: float = 0,
        tn: float = 0,
    ) -> None:
        """Count labelled predictions per confusion-matrix cell. All four cells are created
        (at 0 if not given) in one scrape-atomic step."""
        with self._lock:
            for cell, n in zip(CONFUSION_CELLS, (tp, fp, fn, tn), strict=True):
                self._confusion.labels(model, version, cell).inc(n)

    def add_predictions(self, model: str, version: str, total: float, labeled: float = 0) -> None:
        """Count ``total`` more predictions, ``labeled`` of them labelled (label coverage)."""
        if not 0 <= labeled <= total:
            raise ValueError(f"need 0 <= labeled <= total, got {labeled} of {total}")
        with self._lock:
            self._predictions.labels(model, version).inc(total)
            self._labeled.labels(model, version).inc(labeled)

    def add_requests(self, model: str, version: str, ok: float = 0, errors: float = 0) -> None:
        """Count requests answered 200 and 500 (both series created together)."""
        with self._lock:
            self._requests.labels(model, version, "200").inc(ok)
            self._requests.labels(model, version, "500").inc(errors)

    def observe_scores(self, model: str, version: str, counts: Mapping[float, int]) -> None:
        """Record ``counts[score]`` predictions with each score, in one atomic step (an
        empty mapping creates the histogram's series at 0)."""
        with self._lock:
            child = self._score.labels(model, version)
            for score, n in counts.items():
                for _ in range(n):
                    child.observe(score)

    def observe_latencies(self, model: str, version: str, counts: Mapping[float, int]) -> None:
        """Record ``counts[seconds]`` requests that each took ``seconds``, atomically."""
        with self._lock:
            child = self._latency.labels(model, version)
            for seconds, n in counts.items():
                for _ in range(n):
                    child.observe(seconds)

    def remove(self, model: str, version: str) -> None:
        """Drop every series of (model, version): queries then return no data."""
        with self._lock:
            for metric in (
                self._accuracy,
                self._precision,
                self._recall,
                self._up,
                self._latency,
                self._labeled,
                self._correct,
                self._predictions,
                self._score,
            ):
                # KeyError: that metric was never set for this pair; nothing to drop.
                with contextlib.suppress(KeyError):
                    metric.remove(model, version)
            for cell in CONFUSION_CELLS:
                with contextlib.suppress(KeyError):
                    self._confusion.remove(model, version, cell)
            for code in ("200", "500"):
                with contextlib.suppress(KeyError):
                    self._requests.remove(model, version, code)

    def exposition(self) -> str:
        """The current /metrics text, for debugging a test."""
        return generate_latest(self.registry).decode("utf-8")
