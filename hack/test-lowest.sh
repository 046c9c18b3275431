#!/usr/bin/env bash
# The fast tier on the LOWEST versions pyproject.toml declares: proves every `>=` floor is
# honest (a floor that is too low lets `pip install modelguard` pick a version the code
# cannot run on). Separate venv, never the shared one:
#
#   hack/test-lowest.sh                  # build $MODELGUARD_CACHE/venv-lowest once, run the fast tier
#   hack/test-lowest.sh tests/unit/x.py  # extra arguments go to pytest (default: -m "not e2e and not typecheck and not plot")
#
# Each runtime dependency and each test-running dev tool (pytest, pytest-asyncio,
# hypothesis, kmock, lupa) is pinned to its floor (`pkg>=X` -> `pkg==X`); their own
# dependencies resolve normally. The static tools (ruff, mypy, import-linter) are left out: they judge
# the source, not the runtime, and hack/test.sh runs them from the main venv. The venv is
# rebuilt only when pyproject.toml or this script changes, so a warm run costs the tests.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${MODELGUARD_CACHE:-$HOME/.cache/modelguard}
venv="$cache/venv-lowest"
python=${PYTHON:-python3}
say() { printf '\033[1m[lowest]\033[0m %s\n' "$*" >&2; }

# The floors, as `name==version` lines, read with tomllib (Python 3.11+, no extra package).
pins=$("$python" - "$repo/pyproject.toml" <<'EOF'
import re
import sys
import tomllib

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
TEST_TOOLS = {"pytest", "pytest-asyncio", "hypothesis", "kmock", "lupa"}
# The build backend the packaging test builds the wheel with: tooling, not a dependency
# under test, so it is installed as declared rather than at its floor (a floor release
# may be yanked, as setuptools 77.0.0 was).
BUILD_TOOLS = {"setuptools"}
def base(d): return re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower()
wanted = list(project["dependencies"])
wanted += [d for d in project["optional-dependencies"]["dev"] if base(d) in TEST_TOOLS]
for spec in project["optional-dependencies"]["dev"]:
    if base(spec) in BUILD_TOOLS:
        print(spec.replace(" ", ""))
for spec in wanted:
    match = re.fullmatch(r"([A-Za-z0-9._-]+)\s*(?:\[[^\]]*\])?\s*(.*)", spec.strip())
    name, constraints = match.group(1), match.group(2)
    floor = re.search(r">=\s*([^,;\s]+)", constraints)
    if floor is None:
        sys.exit(f"hack/test-lowest.sh: {spec!r} declares no >= floor")
    print(f"{name}=={floor.group(1)}")
EOF
)

stamp="$venv/.modelguard-lowest"
want=$(printf '%s\n' "$pins" | cat - "$0" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "building $venv with the declared floors:" $pins
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    # shellcheck disable=SC2086  # one argument per pin
    "$venv/bin/python" -m pip install -q $pins
    echo "$want" > "$stamp"
fi

# This checkout's sources, not an install: the floors are what is under test.
export PYTHONPATH="$repo/operator:$repo/testenv:$repo"
cd "$repo"
# mypy is a lint tool, not installed here: its own test runs in the main venv only; nor
# is the optional plot extra (matplotlib), whose test is marked plot.
[ "$#" -gt 0 ] || set -- -m "not e2e and not typecheck and not plot"
say "fast tier on: $("$venv/bin/python" -m pip freeze 2>/dev/null \
    | grep -iE '^(kopf|kubernetes|pydantic|prometheus.api.client|pyyaml|prometheus.client|requests|urllib3)==' \
    | tr '\n' ' ')"
status=0
"$venv/bin/python" -m pytest -p no:cacheprovider -q "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: that is a failure, not a pass" >&2
    exit 1
fi
exit "$status"
