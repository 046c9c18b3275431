#!/usr/bin/env bash
# Builds the local test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl and kwok) from the Go module proxy into a cache outside the repo.
#
#   hack/build-control-plane.sh          # build what is missing, print the bin dir
#
# Environment:
#   KUBEBUILDER_ASSETS   a folder with envtest binaries (etcd, kube-apiserver, kubectl):
#                        used as-is, nothing is built for those three.
#   MODELGUARD_CACHE     cache root (default: $HOME/.cache/modelguard)
#
# The last line printed on stdout is the bin dir; progress goes to stderr.
set -euo pipefail

K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.5
KWOK_VERSION=v0.7.0
GATEWAY_API_VERSION=v1.6.3

here=$(cd "$(dirname "$0")" && pwd)
cache=${MODELGUARD_CACHE:-$HOME/.cache/modelguard}
bin="$cache/k8s-$K8S_VERSION/bin"
stages="$cache/k8s-$K8S_VERSION/kwok-stages"
gateway="$cache/k8s-$K8S_VERSION/gateway-api-$GATEWAY_API_VERSION"
mkdir -p "$bin" "$stages" "$gateway"

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

export GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod

# build NAME PACKAGE MODULE_DIR LDFLAGS — skipped when the binary is already in the cache.
build() {
    local name=$1 pkg=$2 dir=$3 ldflags=$4
    if [ -x "$bin/$name" ]; then log "$name: cached"; return; fi
    if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$name" ]; then
        ln -sf "$KUBEBUILDER_ASSETS/$name" "$bin/$name"; log "$name: from KUBEBUILDER_ASSETS"; return
    fi
    command -v go >/dev/null || {
        log "ERROR: $name is not in $bin and 'go' is not on PATH: install Go 1.25+"
        log "       (KUBEBUILDER_ASSETS can provide etcd, kube-apiserver and kubectl only)"
        exit 1
    }
    local t0=$SECONDS
    log "$name: building $pkg"
    (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
    mv "$bin/$name.tmp" "$bin/$name"
    log "$name: built in $((SECONDS - t0))s"
}

kv="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
build etcd ./cmd/etcd "$here/tools/k8s" ""
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$here/tools/k8s" "$kv"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$here/tools/k8s" "$kv"
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$here/tools/k8s" "$kv"
build kubectl k8s.io/kubernetes/cmd/kubectl "$here/tools/k8s" "$kv"
build kwok sigs.k8s.io/kwok/cmd/kwok "$here/tools/kwok" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"

# kwok's stage configs (fake node and pod lifecycles) ship in its module, not its binary.
if [ ! -s "$stages/stages.yaml" ]; then
    src=$(cd "$here/tools/kwok" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
        cat "$src/kustomize/stage/$f"; printf '\n---\n'
    done > "$stages/stages.yaml.tmp"
    mv "$stages/stages.yaml.tmp" "$stages/stages.yaml"
    log "kwok stages: copied from $src"
fi
# The Gateway API CRDs (httpRoute canaries' e2e tests) as published in their Go module:
# only the CRDs an HTTPRoute needs, nothing built, nothing committed.
if [ ! -s "$gateway/gateway.networking.k8s.io_httproutes.yaml" ]; then
    src=$(cd "$here/tools/kwok" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    for kind in gatewayclasses gateways httproutes; do
        f="gateway.networking.k8s.io_$kind.yaml"
        cp "$src/config/crd/standard/$f" "$gateway/$f.tmp" && mv "$gateway/$f.tmp" "$gateway/$f"
    done
    log "gateway-api CRDs: copied from $src"
fi
echo "$ETCD_VERSION" > "$cache/k8s-$K8S_VERSION/etcd-version"
echo "$bin"
