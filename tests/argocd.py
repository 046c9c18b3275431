"""Running deploy/argocd's Lua the way Argo CD does, for the fast tier and the e2e tier.

Argo CD runs resource customizations in gopher-lua (Lua 5.1) with the global `obj` and,
unless `useOpenLibs` is set, only the base, table, package and a safe os library
(util/lua/lua.go). lupa's Lua 5.1 with string, math, io, os and debug removed is the
nearest stand-in: a script that leans on the string library fails here as in Argo CD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lupa.lua51 import LuaRuntime

REPO = Path(__file__).resolve().parents[1]
HEALTH = REPO / "deploy" / "argocd" / "health" / "modelguard.io" / "ModelDeployment"
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
