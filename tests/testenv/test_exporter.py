"""The synthetic exporter's outcome and traffic feeds (no Prometheus needed: its /metrics
is read)."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from modelguard_testenv import SyntheticModelExporter, Traffic, serving


def counts(exporter: SyntheticModelExporter) -> dict[tuple[str, str], float]:
    """(metric, version) -> the counter's value."""
    with urllib.request.urlopen(exporter.url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, s.labels["version"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.endswith("_total")
    }


def test_feeding_counts_outcomes_per_version_at_their_accuracy_until_it_ends() -> None:
    with SyntheticModelExporter() as exporter:
        with exporter.feeding("m", {"v1": 0.9, "v2": 0.5}, per_tick=10):
            time.sleep(0.55)
        stopped = counts(exporter)
        time.sleep(0.3)
        assert counts(exporter) == stopped  # nothing is fed after the `with`
    for version, accuracy in (("v1", 0.9), ("v2", 0.5)):
        labeled = stopped[("model_labeled_samples_total", version)]
        assert labeled >= 30 and labeled % 10 == 0
        assert stopped[("model_correct_predictions_total", version)] == labeled * accuracy


def test_serving_counts_each_versions_traffic_and_follows_a_change_at_run_time() -> None:
    healthy = Traffic(tp=9, fp=1, fn=0, tn=10, latencies={0.02: 2})
    degraded = Traffic(tp=1, fp=4, fn=5, tn=10)
    traffic = {"v1": healthy, "v2": healthy}
    with SyntheticModelExporter() as exporter:
        with serving(exporter, "m", traffic):
            time.sleep(0.35)
            before = cells(exporter, "v2")
            traffic["v2"] = degraded
            time.sleep(0.35)
        after = cells(exporter, "v2")
        v1 = cells(exporter, "v1")
    ticks = before["tp"] / healthy.tp
    assert ticks >= 2 and before == {c: ticks * getattr(healthy, c) for c in before}
    added = {c: after[c] - before[c] for c in after}
    # tn is 10 a tick either way, fn only in the degraded traffic: at most the one tick
    # that raced the change counted healthy.
    degraded_ticks, all_ticks = added["fn"] / degraded.fn, added["tn"] / 10
    assert degraded_ticks >= 2 and all_ticks - degraded_ticks in (0, 1)
    assert v1["fp"] * 9 == v1["tp"]  # v1 kept its own traffic
    assert degraded.f1 == 2 / 11


def cells(exporter: SyntheticModelExporter, version: str) -> dict[str, float]:
    with urllib.request.urlopen(exporter.url, timeout=5) as response:
        text = response.read().decode()
    return {
        s.labels["cell"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "model_confusion_matrix_total" and s.labels["version"] == version
    }
