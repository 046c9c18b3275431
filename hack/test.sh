#!/usr/bin/env bash
# The whole test suite: static checks, the fast tier, and the end-to-end tier against a
# real kube-apiserver (+ etcd, controller-manager, scheduler, kwok) and a real Prometheus.
#
#   hack/test.sh                 # everything (installs what is missing first)
#   hack/test.sh -m "not e2e"    # extra arguments go to pytest (here: the fast tier only)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/setup.sh
source "$repo/hack/setup.sh"
cd "$repo"
bin=$(dirname "$MODELGUARD_PY")

echo "== static checks"
"$bin/ruff" check operator testenv tests benchmarks hack
"$bin/ruff" format --check operator testenv tests benchmarks hack
"$bin/mypy"
"$bin/lint-imports"
"$MODELGUARD_PY" -m modelguard.crdgen --check

echo "== tests"
status=0
"$MODELGUARD_PY" -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
