"""deploy/monitoring/: promtool checks and unit-tests the alert rules, the PrometheusRule is
the rules file and nothing else, every query of the dashboard and of the rules names a
metric the operator exports (read from its registry), and the overlay's manifests agree
with deploy/ (the Service they scrape, its port, the job name the rules select)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from modelguard.runtime import telemetry

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "modelguard.rules.yaml"
DASHBOARD = MONITORING / "dashboards" / "modelguard.json"
ALERTS = {
    "ModelGuardRolledBack",
    "ModelGuardKillSwitchEngaged",
    "ModelGuardMetricsUnavailable",
    "ModelGuardReconcileErrors",
    "ModelGuardOperatorDown",
    "ModelGuardNoLeader",
}
# Series the rules may name that this registry does not export: Prometheus' own scrape
# health, and the leader gauge that leader election adds to runtime/telemetry.py.
NOT_OURS = {"up", "modelguard_leader"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def promtool() -> str:
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").is_file() else None
    )
    if found is None:
        pytest.fail(
            "promtool not found: it comes with Debian's prometheus package, which "
            "hack/setup.sh installs (apt-get install prometheus)",
            pytrace=False,
        )
    return found


def exported() -> set[str]:
    """Every series name the operator's registry can expose, children or not yet."""
    assert telemetry.RECONCILE_SECONDS is not None  # the module registered its metrics
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("modelguard_"):
            names.update(family.name + s for s in SUFFIXES[family.type])
    return names


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (functions, keywords, label names in
    by/on/... and Grafana's $__ variables are not)."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    code = re.sub(r"\{[^}]*\}", " ", code)  # label matchers
    code = re.sub(r"\[[^\]]*\]", " ", code)  # ranges ([5m], [$__rate_interval])
    code = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", code)
    names = set()
    for match in re.finditer(r"(?<![\w$.])([A-Za-z_:][\w:]*)\b(?!\s*\()", code):
        if match.group(1).lower() not in KEYWORDS:
            names.add(match.group(1))
    return names


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text())
    assert isinstance(loaded, dict)
    return loaded


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every panel target, rows' nested panels included."""
    stack = list(board["panels"])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# ------------------------------------------------------------------ promtool


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "modelguard.rules.test.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=MONITORING,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load((MONITORING / "modelguard.rules.test.yaml").read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    for alert in ALERTS:
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert} never expected to fire"
        assert any(not c["exp_alerts"] for c in mine), f"{alert} never expected silent"


# ------------------------------------------------------------------ the rules


def test_the_prometheusrule_is_the_rules_file() -> None:
    generated = subprocess.run(
        [sys.executable, str(REPO / "hack" / "gen-prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    (rule,) = docs(MONITORING / "prometheusrule.yaml")
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())


def test_the_alerts_follow_the_mixin_conventions() -> None:
    found = rules()
    assert {r["alert"] for r in found} == ALERTS
    for rule in found:
        assert re.fullmatch(r"ModelGuard[A-Z][A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


def test_every_rule_names_a_metric_the_operator_exports() -> None:
    ours = exported()
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= ours | NOT_OURS, (rule["alert"], names - ours - NOT_OURS)


def test_the_rules_select_the_job_the_servicemonitor_scrapes() -> None:
    """Prometheus Operator names the job after the Service the ServiceMonitor selects."""
    service = next(
        d for d in docs(REPO / "deploy" / "operator" / "operator.yaml") if d["kind"] == "Service"
    )
    for rule in rules():
        jobs = set(re.findall(r'job="([^"]+)"', rule["expr"]))
        assert jobs == {service["metadata"]["name"]}, rule["alert"]


# ------------------------------------------------------------------ the dashboard


def test_every_dashboard_query_names_a_metric_the_operator_exports() -> None:
    ours = exported()
    seen = 0
    for title, expr in queries(dashboard()):
        names = metric_names(expr)
        assert names, f"panel {title!r} names no metric: {expr}"
        assert names <= ours, f"panel {title!r}: {sorted(names - ours)} not exported"
        seen += 1
    assert seen >= 8
    # The per-object metrics the dashboard exists for are all on it.
    shown = {n for _, expr in queries(dashboard()) for n in metric_names(expr)}
    assert {"modelguard_info", "modelguard_check_value", "modelguard_kill_switch_engaged"} <= shown


def test_the_metric_name_parser_is_not_fooled() -> None:
    """The test above is only as good as this: names, not functions, labels or keywords."""
    expr = (
        'sum by (le, namespace) (rate(modelguard_x_bucket{job="a", name=~"$name"}'
        "[$__rate_interval])) / on (namespace) group_left max(up) > bool 0 or vector(0)"
    )
    assert metric_names(expr) == {"modelguard_x_bucket", "up"}
    assert metric_names('absent(up{job="x"} == 1)') == {"up"}


def test_the_dashboard_has_its_variables_and_a_stable_uid() -> None:
    board = dashboard()
    assert board["uid"] == "modelguard-overview"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "name"):
        assert variables[name]["type"] == "query"
        assert "modelguard_info" in variables[name]["definition"]
    for title, expr in queries(board):
        if "modelguard_info" in expr or "modelguard_check_value" in expr:
            assert 'namespace=~"$namespace"' in expr and 'name=~"$name"' in expr, title
    stack = list(board["panels"])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel


# ------------------------------------------------------------------ the overlay


def test_the_overlay_lists_files_that_parse() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "modelguard-system"
    kinds = set()
    for resource in kustomization["resources"]:
        for doc in docs(MONITORING / resource):
            kinds.add(doc["kind"])
            assert doc["metadata"]["name"] == "modelguard"
    assert kinds == {"ServiceMonitor", "PrometheusRule"}
    (generator,) = kustomization["configMapGenerator"]
    assert generator["options"]["labels"]["grafana_dashboard"] == "1"
    assert generator["options"]["disableNameSuffixHash"] is True
    for file in generator["files"]:
        json.loads((MONITORING / file.split("=")[-1]).read_text())


def test_the_servicemonitor_scrapes_the_operators_metrics_port() -> None:
    (monitor,) = docs(MONITORING / "servicemonitor.yaml")
    service = next(
        d for d in docs(REPO / "deploy" / "operator" / "operator.yaml") if d["kind"] == "Service"
    )
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["honorLabels"] is True  # else our namespace label is renamed
