#!/usr/bin/env python3
"""Write deploy/monitoring/prometheusrule.yaml from deploy/monitoring/modelguard.rules.yaml.

The rules file is the one source of truth: promtool checks and tests it as it is, and the
PrometheusRule embeds it verbatim (comments included) as its spec, so the two cannot say
different things. `--check` exits 1 if the committed PrometheusRule is not what this
writes (the fast tier runs it).

    python hack/gen-prometheusrule.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
RULES = MONITORING / "modelguard.rules.yaml"
TARGET = MONITORING / "prometheusrule.yaml"

HEADER = """\
# GENERATED from modelguard.rules.yaml by hack/gen-prometheusrule.py: edit that file and
# run the script again (a fast test fails when this one is stale).
# kube-prometheus-stack picks a PrometheusRule up only if it matches its ruleSelector; by
# default (ruleSelectorNilUsesHelmValues: true) that is the label release: <its release>.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: modelguard
  labels:
    app.kubernetes.io/name: modelguard
    app.kubernetes.io/component: operator
spec:
"""


def render() -> str:
    body = "".join(
        f"  {line}" if line.strip() else line
        for line in RULES.read_text().splitlines(keepends=True)
    )
    return HEADER + body


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.is_file() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run python hack/gen-prometheusrule.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
