"""scale.{md,json}: one row per (label, N), kept across runs (a "before" run and an
"after" run each replace only their own rows), with the targets of issue 12."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# size -> figure -> the most it may be (issue 12's "done when").
TARGETS: dict[int, dict[str, float]] = {
    1000: {
        "operator_cores": 0.1,
        "rss_peak_mb": 150,
        "api_per_eval": 1.0,
        "lag_p95": 2.0,
        "kill_p95": 0.25,
    },
    5000: {"operator_cores": 0.5, "rss_peak_mb": 400, "lag_p95": 5.0, "kill_p95": 0.25},
}


def judge(row: dict[str, Any]) -> dict[str, str]:
    """figure -> "yes" / "NO" / "n/a" (not measured) against the size's targets."""
    verdicts = {}
    for key, limit in TARGETS.get(row["size"], {}).items():
        value = row.get(key)
        verdicts[key] = "n/a" if value is None else ("yes" if value <= limit else "NO")
    return verdicts


def merge(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows already in ``path``'s JSON, those of the same (label, size) replaced."""
    old: list[dict[str, Any]] = []
    if path.exists():
        old = json.loads(path.read_text()).get("rows", [])
    fresh = {(r["label"], r["size"]) for r in rows}
    kept = [r for r in old if (r["label"], r["size"]) not in fresh]
    return sorted([*kept, *rows], key=lambda r: (r["size"], r["label"] != "before", r["label"]))


def _f(value: float | None, digits: int = 2, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def _top(requests: dict[str, float], evaluations: float) -> str:
    if not evaluations:
        return "-"
    ordered = sorted(requests.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / evaluations:.3f}" for k, v in ordered[:6])


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# A large fleet: operator cost per evaluation (`benchmarks/scale.py`)",
        "",
        "Real local control plane (etcd, kube-apiserver, KCM, scheduler, kwok) and real",
        "Prometheus; N ModelDeployments (30 s interval unless the run says otherwise),",
        "each guarding a 1-replica Deployment on kwok, each with ONE absolute check on a",
        "query of its own",
        '(`model_accuracy{model="<name>"}` from the synthetic exporter), so that no query',
        "dedupe can answer two models at once. The operator is a fresh process per N,",
        "started after the objects exist. Steady window: after every ModelDeployment was",
        "evaluated once, and a warm-up of at least one interval.",
        "",
        "- cores: operator CPU seconds (/proc utime+stime) over the window / its length.",
        "- RSS: peak = the kernel's VmHWM at the window's end (startup included);",
        "  steady = median VmRSS sampled each second in the window.",
        "- API/eval: the operator's requests in the window, counted by the API server",
        "  (audit log, Metadata level, the operator's ServiceAccount only; lease renewals",
        "  and watches included) / evaluations; `w/o kills` leaves out the requests on the",
        "  killed models while their kill and release ran.",
        '- Prom/eval: Prometheus\' own `prometheus_http_requests_total{handler="/api/v1/query"}`',
        "  delta / evaluations (`modelguard_evaluations_total` delta from the operator).",
        '- lag: `modelguard_evaluation_lag_seconds{stage="done"}` (due -> done), quantiles',
        "  interpolated linearly in the histogram's buckets as histogram_quantile does, max =",
        "  the upper bound of the highest bucket hit; n/a: the operator exports no such",
        "  metric (main before issue 12).",
        "- kill: PATCH of spec.killSwitch returned -> Deployment watch event with",
        "  spec.replicas == 0, kills spread over the window, each released before the next",
        "  (nearest-rank percentiles).",
        "",
        "| label | N | cores | RSS peak / steady MB | API/eval (w/o kills) | Prom/eval |"
        " evals (expected) | lag p50 / p95 / max s | kill p50 / p95 / max ms | met |",
        "|-------|--:|------:|---------------------:|---------------------:|----------:|"
        "-----------------:|----------------------:|------------------------:|-----|",
    ]
    for r in rows:
        met = judge(r)
        shown = ", ".join(f"{k} {v}" for k, v in met.items()) or "-"
        lines.append(
            f"| {r['label']} | {r['size']} | {_f(r['operator_cores'], 3)} |"
            f" {_f(r['rss_peak_mb'], 0)} / {_f(r['rss_steady_mb'], 0)} |"
            f" {_f(r['api_per_eval'])} ({_f(r['api_per_eval_without_kills'])}) |"
            f" {_f(r['prometheus_queries_per_eval'])} |"
            f" {r['evaluations']:.0f} ({r['evaluations_expected']:.0f}) |"
            f" {_f(r['lag_p50'])} / {_f(r['lag_p95'])} / {_f(r['lag_max'])} |"
            f" {_f(r['kill_p50'], 0, 1000)} / {_f(r['kill_p95'], 0, 1000)} /"
            f" {_f(r['kill_max'], 0, 1000)} | {shown} |"
        )
    lines += ["", "## Per run", ""]
    for r in rows:
        run = r["run"]
        lines += [
            f"### {r['label']}, N = {r['size']}",
            "",
            f"- command: `{run['command']}`",
            f"- operator code: `{run['operator_src']}` at {run['operator_commit']}",
            f"- {run['date']}; load average (1/5/15 min) at start {run['loadavg_start']},"
            f" end {run['loadavg_end']}; {run['nproc']} CPUs",
            "- phases (s): "
            + ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in r["phases"].items()),
            f"- startup (operator start -> every ModelDeployment evaluated once):"
            f" {r['startup_seconds']:.1f} s, {r['startup_cpu_seconds']:.1f} CPU s",
            f"- window {r['window_seconds']:.0f} s after a {r['warmup_seconds']:.0f} s warm-up;"
            f" {r['evaluations_per_second']:.1f} evaluations/s;"
            f" interval {r['interval_seconds']} s;"
            f" kills {r['kills']} ({r['kill_timeouts']} timed out)",
            f"- reconciles in the window: {r['reconciles']:.0f},"
            f" mean {_f(r['reconcile_seconds_mean'], 3)} s each"
            " (modelguard_reconcile_duration_seconds)"
            if "reconciles" in r
            else "- reconciles: not recorded by this run",
            f"- API requests per evaluation, top: {_top(r['api_requests'], r['evaluations'])}",
            f"- API requests in the window: {r['api_requests_total']:.0f}"
            f" (of them the kills' {r['api_requests_kills']:.0f})",
            "",
        ]
    return "\n".join(lines) + "\n"


def write(stem: Path, rows: list[dict[str, Any]], run: dict[str, Any]) -> str:
    json_path = stem.with_suffix(".json")
    merged = merge(json_path, rows)
    stem.parent.mkdir(parents=True, exist_ok=True)
    data = {"last_run": run, "targets": TARGETS, "rows": merged}
    json_path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    text = markdown(merged)
    stem.with_suffix(".md").write_text(text)
    return text
