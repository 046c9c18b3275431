#!/usr/bin/env bash
# Installs everything the demo and the tests need, cached outside the repo, and exports
# MODELGUARD_PY (the venv's python) and MODELGUARD_K8S_BIN. Sourced by hack/demo.sh and
# hack/test.sh; safe to run again (each step is skipped when already done).
#
#   MODELGUARD_CACHE    cache root (default $HOME/.cache/modelguard)
#   KUBEBUILDER_ASSETS  use these envtest binaries instead of building from Go
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MODELGUARD_CACHE=${MODELGUARD_CACHE:-$HOME/.cache/modelguard}
mkdir -p "$MODELGUARD_CACHE"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- Python 3.11+ and a venv with the project and its dev tools -----------------------
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "Python 3.11 or newer is needed as '$python' (set PYTHON=/path/to/python3.11)"
venv="$MODELGUARD_CACHE/venv"
[ -x "$venv/bin/python" ] || { say "creating $venv"; "$python" -m venv "$venv"; }
stamp="$venv/.modelguard-deps"
want=$(cat "$repo/pyproject.toml" "$repo/testenv/pyproject.toml" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python dependencies"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "$repo[dev]" -e "$repo/testenv"
    echo "$want" > "$stamp"
fi
export MODELGUARD_PY="$venv/bin/python"
# The venv is shared by every checkout on this machine; its editable install points at
# whichever one installed it last. This checkout's sources come first on the path, for
# everything started from here (pytest, kopf run, the CLI, mypy, import-linter).
export PYTHONPATH="$repo/operator:$repo/testenv${PYTHONPATH:+:$PYTHONPATH}"

# --- Prometheus (Debian's package) --------------------------------------------------
# The package ships promtool too: the backtest e2e test and benchmark backfill a TSDB
# with `promtool tsdb create-blocks-from openmetrics` (MODELGUARD_PROMTOOL_BIN overrides).
if { [ -z "${MODELGUARD_PROMETHEUS_BIN:-}" ] && ! command -v prometheus >/dev/null; } ||
   { [ -z "${MODELGUARD_PROMTOOL_BIN:-}" ] && ! command -v promtool >/dev/null; }; then
    say "installing Debian's prometheus"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    command -v apt-get >/dev/null || die "no apt-get: install Prometheus 2.x and set MODELGUARD_PROMETHEUS_BIN"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# --- the local control plane (etcd, kube-apiserver, ..., kwok), built once --------------
MODELGUARD_K8S_BIN=$(bash "$repo/hack/build-control-plane.sh" | tail -n 1)
export MODELGUARD_K8S_BIN
say "ready: python $("$MODELGUARD_PY" --version 2>&1 | cut -d' ' -f2), control plane in $MODELGUARD_K8S_BIN"
