#!/usr/bin/env bash
# The local demo: installs what is missing (see hack/setup.sh), then runs hack/demo.py.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/setup.sh
source "$repo/hack/setup.sh"
exec "$MODELGUARD_PY" "$repo/hack/demo.py"
