"""Running deploy/argocd's Lua the way Argo CD does, for the fast tier and the e2e tier.

Argo CD runs resource customizations in gopher-lua (Lua 5.1) with the global `obj` and,
unless `useOpenLibs` is set, only the base, table, package and a safe os library
(util/lua/lua.go). lupa's Lua 5.1 with string, math, io, os and debug removed is the
nearest stand-in: a script that leans on the string library fails here as in Argo CD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lupa.lua51 import LuaRuntime, lua_type

REPO = Path(__file__).resolve().parents[1]
HEALTH = REPO / "deploy" / "argocd" / "health" / "modelguard.io" / "ModelDeployment"
ACTIONS = HEALTH / "actions"
# Not opened by Argo CD without useOpenLibs (its os is a safe subset; none is needed here).
CLOSED_LIBRARIES = ("string", "math", "io", "os", "debug")


def run(script: Path, obj: dict[str, Any]) -> Any:
    """The script's return value for `obj` (a Lua table comes back as a lupa table)."""
    lua = LuaRuntime(unpack_returned_tuples=True, register_eval=False, register_builtins=False)
    env = lua.globals()
    for library in CLOSED_LIBRARIES:
        env[library] = None
    env.obj = lua.table_from(obj, recursive=True)
    return lua.execute(script.read_text())


def health(obj: dict[str, Any]) -> dict[str, str]:
    """health.lua's {status, message} for a ModelDeployment."""
    result = run(HEALTH / "health.lua", obj)
    return {"status": str(result["status"]), "message": str(result["message"] or "")}


def discover(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """actions/discovery.lua's actions, as action_test.yaml lists them (by name)."""
    found = run(ACTIONS / "discovery.lua", obj)
    return [
        {"name": str(name), "disabled": bool(found[name]["disabled"])}
        for name in sorted(found.keys())
    ]


def act(action: str, obj: dict[str, Any]) -> Any:
    """The object actions/<action>/action.lua returns, back as JSON-like Python."""
    return to_python(run(ACTIONS / action / "action.lua", obj), obj)


def to_python(value: Any, like: Any = None) -> Any:
    """A Lua value as JSON-like Python. A Lua table is a list when its keys are 1..n; an
    empty one takes the type `like` (the input at the same place) had, as Argo CD's
    cleanReturnedObj does, since Lua cannot tell {} from []."""
    if lua_type(value) != "table":
        return value
    keys = list(value.keys())
    if not keys:
        return [] if isinstance(like, list) else {}
    if all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
        items = like if isinstance(like, list) else []
        return [
            to_python(value[i], items[i - 1] if i <= len(items) else None)
            for i in range(1, len(keys) + 1)
        ]
    fields = like if isinstance(like, dict) else {}
    return {str(k): to_python(value[k], fields.get(str(k))) for k in keys}
