#!/usr/bin/env bash
# Regenerates deploy/requirements.lock: the image's runtime dependencies (pyproject.toml's
# [project] dependencies, not the dev extra) and the build backend (setuptools, so that
# `pip install --no-build-isolation .` downloads nothing unlocked) at exact versions, with
# the hashes of every file PyPI has for each version, so `pip install --require-hashes`
# in the Dockerfile installs the same bytes on every build and on every architecture.
#
#   hack/lock.sh                 # after changing [project] dependencies, or to take updates
#
# pip-tools runs from a throw-away venv, never the project's: the lock must not depend on
# what happens to be installed there. Resolve with the image's Python (3.11, the default
# BASE_IMAGE), because environment markers can pick different packages per version.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || { echo "lock.sh: need Python 3.11 as '$python' (the image's); set PYTHON=" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip pip-tools

cd "$repo"
# The build backend, with the floor of pyproject.toml's [build-system] requires.
backend=$(sed -n 's/^requires = \["\(setuptools[^"]*\)"\]$/\1/p' pyproject.toml)
[ -n "$backend" ] || { echo "lock.sh: no setuptools in [build-system] requires" >&2; exit 1; }
echo "$backend" > "$tmp/build.in"
# --no-emit-find-links/--no-emit-index-url: a local pip configuration must not leak into
# the lock. The header names this script as the command that regenerates the file.
CUSTOM_COMPILE_COMMAND="hack/lock.sh" "$tmp/venv/bin/pip-compile" \
    --quiet --generate-hashes --strip-extras --no-emit-find-links --no-emit-index-url \
    --no-emit-trusted-host --resolver=backtracking --cache-dir "$tmp/cache" \
    --allow-unsafe --output-file deploy/requirements.lock pyproject.toml "$tmp/build.in"
# pip-compile names the temporary input in its "via" comments; name its source instead.
sed -i "s|-r $tmp/build.in|pyproject.toml [build-system]|" deploy/requirements.lock
echo "wrote deploy/requirements.lock" >&2
