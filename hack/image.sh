#!/usr/bin/env bash
# Builds the operator image from the repository's Dockerfile without a Docker engine and
# prints its reference (localhost/modelguard:<key>) as the last line of stdout. Used by
# tests/e2e/test_image.py (which runs it when MODELGUARD_IMAGE is not set); safe to run
# again: each step is skipped when its result is already there.
#
#   1. buildah, podman, runc and mmdebstrap from Debian's packages (apt), once;
#   2. a Debian bookworm base (python3 3.11, pip, ca-certificates, passwd) made by
#      mmdebstrap from the same apt sources this machine uses, imported with podman;
#   3. `buildah bud --build-arg BASE_IMAGE=<that base> -f Dockerfile .`, pip reaching PyPI
#      through this machine's CA bundle and proxy variables.
#
# Both results are cached in $MODELGUARD_CACHE/images (default ~/.cache/modelguard/images),
# keyed by a hash of their inputs, and in podman's own storage.
#
#   MODELGUARD_CACHE   cache root (default $HOME/.cache/modelguard)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${MODELGUARD_CACHE:-$HOME/.cache/modelguard}/images
mkdir -p "$cache"
# One build at a time per cache (two test runs on one machine would share its files).
exec 9>"$cache/.lock"
flock 9
say() { printf '\033[1m[image]\033[0m %s\n' "$*" >&2; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }
# Seconds since the script started, for the report of each step.
elapsed() { echo "$((SECONDS - ${1:-0}))s"; }

# --- 1. tools --------------------------------------------------------------------------
# runc rather than crun (podman's first choice): crun refuses a cgroup v1/v2 hybrid, which
# is what this kind of machine has ("cgroups in hybrid mode not supported").
# Root: podman runs rootful here (the machine's user is root; rootless would need subuids
# and a user namespace per container for nothing this test checks).
[ "$(id -u)" = 0 ] || die "the image tier runs podman as root (got uid $(id -u))"
tools=(buildah podman runc mmdebstrap slirp4netns)
missing=()
for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian's ${missing[*]}"
    command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} yourself"
    apt-get update -qq
    # slirp4netns: the test's container gets its own network namespace that reaches the
    # host's loopback (the local API server) and publishes its ports.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        buildah podman runc mmdebstrap slirp4netns containernetworking-plugins >/dev/null
fi

# The limits a container may have: the sandbox forbids raising any hard limit, and podman
# asks for more than this machine's (nofile 1048576), so every run names them. nproc is
# also capped by pid_max, which podman applies to itself (a larger value is refused).
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
[ "$nofile" = unlimited ] && nofile=1048576
if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
run_flags=(--runtime runc --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

# --- 2. the Debian base ----------------------------------------------------------------
# This machine's Debian sources (deb.debian.org, reached through the sandbox's gateway),
# so the base comes from the same archive, at the same snapshot, as every apt install here.
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ]; then
    sources_text=$(cat "$sources")
else
    sources_text="deb http://deb.debian.org/debian bookworm main"
fi
# What python:3.11-slim gives the Dockerfile: python3.11, pip, CA certificates, and
# groupadd/useradd (passwd). No compiler: every locked package has a cp311 wheel.
suite=bookworm  # its python3 is 3.11, the lock's (tests/unit/test_image_lock.py)
packages=python3,python3-pip,ca-certificates,passwd
mm_args=(
    --variant=minbase --format=tar --include="$packages"
    # The gateway serves a fixed snapshot whose Release files are past their Valid-Until.
    --aptopt='Acquire::Check-Valid-Until "false"'
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
    # Debian marks its Python "externally managed" (PEP 668), so `pip install` would refuse.
    # This base exists only to hold one application, as python:3.11-slim does: pip may
    # install into /usr/local, which is what the Dockerfile expects of its base.
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED'
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*'
    "$suite"
)
base_key=$(printf '%s\n' "${mm_args[@]}" "$sources_text" | sha256sum | cut -c1-16)
base="localhost/modelguard-base:$base_key"
base_tar="$cache/base-$base_key.tar"
if ! podman image exists "$base"; then
    if [ ! -s "$base_tar" ]; then
        start=$SECONDS
        say "building the Debian base with mmdebstrap ($packages)"
        printf '%s\n' "$sources_text" \
            | mmdebstrap --quiet "${mm_args[@]}" "$base_tar.part" - >&2
        mv "$base_tar.part" "$base_tar"
        # One base at a time: an older key's tarball is only disk.
        find "$cache" -maxdepth 1 -name 'base-*.tar' ! -name "base-$base_key.tar" -delete
        say "base built in $(elapsed "$start")"
    fi
    podman import --quiet --change 'CMD ["/usr/bin/python3"]' "$base_tar" "$base" >/dev/null
fi

# --- 3. the operator image ---------------------------------------------------------------
# The key covers every file the build context admits (.dockerignore), the base and this
# script: a change to any of them is a new image.
cd "$repo"
context_hash=$(
    {
        sha256sum Dockerfile .dockerignore deploy/requirements.lock pyproject.toml \
            README.md LICENSE hack/image.sh
        find operator -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 \
            | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -c1-16
)
key=$(printf '%s %s\n' "$base_key" "$context_hash" | sha256sum | cut -c1-16)
image="localhost/modelguard:$key"
image_tar="$cache/operator-$key.tar"
if ! podman image exists "$image"; then
    if [ -s "$image_tar" ]; then
        podman load --quiet --input "$image_tar" >/dev/null
    else
        start=$SECONDS
        say "building $image from the Dockerfile with buildah"
        # pip in the build container reaches PyPI as the host does: through the same CA
        # bundle (mounted for the build only, never committed to a layer) and proxy.
        proxy_args=()
        for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
            [ -z "${!var:-}" ] || proxy_args+=(--build-arg "$var=${!var}")
        done
        buildah bud --quiet --layers "${run_flags[@]}" --network host \
            --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
            --build-arg "BASE_IMAGE=$base" ${proxy_args[@]+"${proxy_args[@]}"} \
            --tag "$image" --file Dockerfile . >&2
        podman save --quiet --format oci-archive --output "$image_tar.part" "$image"
        mv "$image_tar.part" "$image_tar"
        find "$cache" -maxdepth 1 -name 'operator-*.tar' ! -name "operator-$key.tar" -delete
        # Older builds of the operator go too; their layers shared with this one (the
        # locked dependencies) stay, as this build's cache.
        podman images --filter reference=localhost/modelguard --format '{{.Repository}}:{{.Tag}}' \
            | grep -vxF "$image" | xargs -r podman rmi >/dev/null || true
        # No `podman image prune`: on a shared machine it would take other projects'
        # dangling images too. What an old build leaves is its own small source layer.
        say "operator image built in $(elapsed "$start")"
    fi
fi
echo "$image"
