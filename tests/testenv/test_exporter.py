"""The synthetic exporter's outcome feed (no Prometheus needed: its /metrics is read)."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from modelguard_testenv import SyntheticModelExporter


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
