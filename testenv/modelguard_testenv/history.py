"""Metric history written as OpenMetrics and backfilled into a fresh Prometheus TSDB
with ``promtool tsdb create-blocks-from openmetrics``: a week of past data in seconds,
for the backtest e2e test and benchmark (a scraped exporter only makes data from now on).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelguard_testenv.binaries import find_promtool

__all__ = ["HistorySeries", "backfill", "openmetrics"]


@dataclass(frozen=True)
class HistorySeries:
    """One gauge series: its samples as (Unix seconds, value)."""

    name: str
    labels: Mapping[str, str]
    samples: Sequence[tuple[float, float]]


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + ",".join(escaped) + "}"


def openmetrics(series: Iterable[HistorySeries]) -> str:
    """OpenMetrics text: one gauge family per name, its series' samples in time order."""
    families: dict[str, list[HistorySeries]] = {}
    for s in series:
        families.setdefault(s.name, []).append(s)
    lines: list[str] = []
    for name, members in families.items():
        lines.append(f"# TYPE {name} gauge")
        for s in members:
            labels = _labels(s.labels)
            lines.extend(f"{name}{labels} {v!r} {t:.3f}" for t, v in sorted(s.samples))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(series: Iterable[HistorySeries], data_dir: Path, workdir: Path) -> Path:
    """Write the series into a new TSDB at data_dir (blocks Prometheus loads on start)."""
    source = workdir / "history.om"
    source.write_text(openmetrics(series), encoding="utf-8")
    data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            str(find_promtool()),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"promtool backfill failed: {done.stderr.strip() or done.stdout.strip()}"
        )
    return data_dir
