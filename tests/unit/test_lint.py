"""`modelguard lint`: every invalid example is caught with the operator's own rules, and
with --prometheus each rendered query is judged as a check would judge its answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from modelguard.cli.lint import static_problems
from modelguard.cli.main import main
from modelguard.core.specparse import parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# example -> what lint must say about it (field, then message)
INVALID = {
    "min-above-max": "error: spec.analysis.checks.0: min must be less than or equal to max",
    "unknown-placeholder": "error: spec.analysis.checks.0.query: check 'accuracy': unknown "
    "placeholder(s) verison",
    "drop-without-baseline": "error: spec.analysis.checks.0: maxDrop/maxIncrease and "
    "baselineQuery go together",
    "interval-too-short": "error: spec.analysis.interval: must be at least 1s",
    "reserved-check-name": "error: spec.analysis.checks: check name 'rollout' is reserved",
    "kill-switch-without-reason": "error: spec.killSwitch: reason is required when the kill "
    "switch is enabled",
}


def test_every_invalid_example_is_in_the_table() -> None:
    assert {p.stem for p in (EXAMPLES / "invalid").glob("*.yaml")} == set(INVALID)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_lint_finds_each_invalid_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "invalid" / f"{name}.yaml")
    assert main(["lint", "-f", path]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{path}: {INVALID[name]}" in [
        line[: len(path) + 2 + len(INVALID[name])] for line in lines
    ]


@pytest.mark.parametrize("name", ["fraud-scorer", "kill-switch-only"])
def test_valid_examples_lint_clean(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / f"{name}.yaml")
    assert main(["lint", "-f", path]) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith("ok (3 checks)" if name == "fraud-scorer" else "ok (0 checks)")
    )


def test_an_httproute_canary_lints_clean(capsys: pytest.CaptureFixture[str]) -> None:
    # httpRoute mode was an error ("not supported yet") before it was built.
    assert main(["lint", "-f", str(EXAMPLES / "canary-httproute.yaml")]) == 0
    assert capsys.readouterr().out.strip().endswith("ok (2 checks)")


class Answers:
    """A Prometheus query API answering each query with the series `vectors` gives."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)["query"][0]
                outer.asked.append(query)
                values = next((v for k, v in vectors.items() if k in query), [])
                result = [
                    {"metric": {"pod": str(i)}, "value": [0, str(v)]} for i, v in enumerate(values)
                ]
                body = json.dumps(
                    {"status": "success", "data": {"resultType": "vector", "result": result}}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def answers() -> Iterator[Answers]:
    server = Answers(
        {
            "model_accuracy": [0.95],  # one series: fine
            "model_labeled_samples_total": [120.0],  # below minSamples 500
            "model_latency_seconds_bucket": [0.1, 0.2],  # two series: an error
        }
    )
    yield server
    server.httpd.shutdown()


def test_lint_runs_each_rendered_query_once(
    answers: Answers, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(EXAMPLES / "fraud-scorer.yaml")
    args = ["lint", "-f", path, "--prometheus", answers.url, "--stable-version", "2026-11-01"]
    assert main(args) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(answers.asked) == 5  # accuracy; vs-stable: query, baseline, samples; latency
    assert all('version="2026-11-20"' in q or 'version="2026-11-01"' in q for q in answers.asked)
    errors = [line for line in out if ": error: " in line]
    assert len(errors) == 1
    assert (
        "spec.analysis.checks.2.query: returns 2 series now; a check needs exactly one" in errors[0]
    )
    assert any(
        "spec.analysis.checks.1.samplesQuery: minSamples would see 120 now, needs 500" in line
        for line in out
    )


def test_lint_warns_that_a_template_check_is_not_checked_without_a_cluster() -> None:
    doc = {
        "spec": {
            "targetRef": {"name": "fraud"},
            "analysis": {
                "prometheus": {"url": "http://prometheus:9090"},
                "checks": [{"name": "f1", "templateRef": {"name": "f1-score"}}],
            },
        }
    }
    spec, problems = static_problems(doc)
    assert spec is not None
    [problem] = problems
    assert (problem.level, problem.where) == ("warning", "spec.analysis.checks.0.templateRef")
    assert "ClusterModelCheckTemplate 'f1-score'" in problem.message
    assert "not checked without a cluster" in problem.message


def test_lint_lists_every_bad_template_the_operator_refuses_the_first_of() -> None:
    bad = "m{{version}}{{nope}}"
    spec = {
        "targetRef": {"name": "fraud"},
        "analysis": {
            "prometheus": {"url": "http://prometheus:9090"},
            "checks": [
                {
                    "name": "gauge",
                    "query": "m{{version}}",
                    "min": 0.9,
                    "samplesQuery": bad,
                    "minSamples": 10,
                },
                {
                    "name": "ab",
                    "proportion": {"successQuery": bad, "totalQuery": bad, "margin": 0.02},
                },
            ],
        },
    }
    _, problems = static_problems({"spec": spec})
    assert [(p.level, p.where) for p in problems] == [
        ("error", "spec.analysis.checks.0.samplesQuery"),
        ("error", "spec.analysis.checks.1.proportion.successQuery"),
        ("error", "spec.analysis.checks.1.proportion.totalQuery"),
    ]
    # One rule list: the operator refuses the spec with lint's first message.
    with pytest.raises(ValueError, match="unknown placeholder") as refused:
        parse_spec(spec)
    assert str(refused.value) == problems[0].message
