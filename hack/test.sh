#!/usr/bin/env bash
# The whole test suite: static checks, the fast tier, and the end-to-end tier against a
# real kube-apiserver (+ etcd, controller-manager, scheduler, kwok) and a real Prometheus.
# The e2e tier includes tests/e2e/test_image.py, which builds the operator image with
# hack/image.sh (apt: buildah, podman, mmdebstrap; cached) and runs it with podman.
#
#   hack/test.sh                 # everything (installs what is missing first)
#   hack/test.sh -m "not e2e"    # extra arguments go to pytest (here: the fast tier only)
#
# After the static checks it runs hack/test-lowest.sh: the fast tier on the lowest
# dependency versions pyproject.toml declares (MODELGUARD_LOWEST=0 skips it).
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
# The fast tier again on the lowest versions pyproject.toml allows, in its own cached
# venv (built once; MODELGUARD_LOWEST=0 skips it).
lowest=0
if [ "${MODELGUARD_LOWEST:-1}" = 1 ]; then
    echo "== fast tier on the lowest declared dependency versions"
    PYTHON="${PYTHON:-$MODELGUARD_PY}" bash "$repo/hack/test-lowest.sh" || lowest=$?
fi

status=0
"$MODELGUARD_PY" -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
fi
if [ "$lowest" != 0 ]; then
    echo "the fast tier failed on the lowest declared versions (hack/test-lowest.sh)" >&2
    [ "$status" != 0 ] || status=$lowest
fi
exit "$status"
