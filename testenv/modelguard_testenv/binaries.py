"""Where the test environment finds its binaries.

The control-plane binaries are built by ``hack/build-control-plane.sh`` into a cache outside
the repository (they are ~350 MB and never committed). Lookup order, per binary:

1. an explicit ``bin_dir`` argument (then nothing else is searched);
2. ``$MODELGUARD_K8S_BIN``;
3. ``$KUBEBUILDER_ASSETS`` (envtest's convention; it holds etcd, kube-apiserver and kubectl
   only, so the other binaries fall through to the cache);
4. ``$MODELGUARD_CACHE/k8s-<version>/bin`` (default ``~/.cache/modelguard``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from modelguard_testenv._process import MissingBinaryError

# Must match K8S_VERSION in hack/build-control-plane.sh: it names the cache folder.
K8S_VERSION = "v1.35.4"
BUILD_HINT = "run hack/build-control-plane.sh (it builds them into the cache and prints the dir)"


def cache_root() -> Path:
    return Path(os.environ.get("MODELGUARD_CACHE") or Path.home() / ".cache" / "modelguard")


def default_bin_dir() -> Path:
    return cache_root() / f"k8s-{K8S_VERSION}" / "bin"


def search_dirs(bin_dir: str | Path | None = None) -> list[Path]:
    """The folders searched, in order, for control-plane binaries."""
    if bin_dir is not None:
        return [Path(bin_dir)]
    dirs = [
        Path(value)
        for value in (os.environ.get("MODELGUARD_K8S_BIN"), os.environ.get("KUBEBUILDER_ASSETS"))
        if value
    ]
    dirs.append(default_bin_dir())
    return dirs


def find_binary(name: str, bin_dir: str | Path | None = None, *, component: str = "") -> Path:
    """Return the path of control-plane binary ``name`` or raise MissingBinaryError."""
    dirs = search_dirs(bin_dir)
    for folder in dirs:
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    searched = ", ".join(str(folder) for folder in dirs)
    raise MissingBinaryError(
        component or name, f"binary {name!r} not found in {searched}; {BUILD_HINT}"
    )


GATEWAY_API_VERSION = "v1.6.3"  # hack/build-control-plane.sh copies its CRDs


def find_gateway_api_crds() -> list[Path]:
    """The Gateway API CRDs (GatewayClass, Gateway, HTTPRoute) the build script copied
    from the `sigs.k8s.io/gateway-api` Go module. ``$MODELGUARD_GATEWAY_API_CRDS`` (a
    folder) overrides."""
    override = os.environ.get("MODELGUARD_GATEWAY_API_CRDS")
    folder = (
        Path(override)
        if override
        else default_bin_dir().parent / f"gateway-api-{GATEWAY_API_VERSION}"
    )
    names = ("gatewayclasses", "gateways", "httproutes")
    paths = [folder / f"gateway.networking.k8s.io_{name}.yaml" for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise MissingBinaryError(
            "gateway-api", f"CRDs not found: {', '.join(missing)}; {BUILD_HINT}"
        )
    return paths


def find_kwok_stages(bin_dir: str | Path | None = None) -> Path:
    """The kwok Stage configs (fake node and pod lifecycles) copied by the build script.

    ``$MODELGUARD_KWOK_STAGES`` overrides; otherwise they sit next to the bin folder that
    holds kwok.
    """
    override = os.environ.get("MODELGUARD_KWOK_STAGES")
    if override:
        candidates = [Path(override)]
    else:
        kwok_dir = find_binary("kwok", bin_dir).resolve().parent
        candidates = [
            kwok_dir.parent / "kwok-stages" / "stages.yaml",
            default_bin_dir().parent / "kwok-stages" / "stages.yaml",
        ]
    for candidate in candidates:
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise MissingBinaryError("kwok", f"kwok stage configs not found (tried {tried}); {BUILD_HINT}")


def _find_debian_tool(name: str, env: str, binary: str | Path | None) -> Path:
    """``binary``, else ``$env``, /usr/bin/NAME, PATH: the first executable one."""
    if binary is not None:
        candidates = [Path(binary)]
    else:
        on_path = shutil.which(name)
        candidates = [Path(p) for p in (os.environ.get(env), f"/usr/bin/{name}", on_path) if p]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise MissingBinaryError(
        name,
        f"{name} not found (tried {tried}); on Debian/Ubuntu it comes with "
        f"apt-get install -y --no-install-recommends prometheus, or set {env}",
    )


def find_prometheus(binary: str | Path | None = None) -> Path:
    """Prometheus: ``binary``, ``$MODELGUARD_PROMETHEUS_BIN``, /usr/bin/prometheus, PATH."""
    return _find_debian_tool("prometheus", "MODELGUARD_PROMETHEUS_BIN", binary)


def find_promtool(binary: str | Path | None = None) -> Path:
    """promtool (Debian's prometheus package ships it): ``binary``,
    ``$MODELGUARD_PROMTOOL_BIN``, /usr/bin/promtool, PATH."""
    return _find_debian_tool("promtool", "MODELGUARD_PROMTOOL_BIN", binary)
