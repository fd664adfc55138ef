#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from source through the Go module proxy and caches them
# where setup-envtest keeps its binaries, so envtest, the e2e suite and the demo find them through
# KUBEBUILDER_ASSETS. Nothing prebuilt is downloaded. Does nothing when the binaries are already there.
# With NODE_BINARIES=1 it also builds what a real single-node cluster needs (kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy) from the same module graph, into the same directory.
#
# Usage: hack/envtest-assets.sh                  # builds if needed, prints the assets directory
#        NODE_BINARIES=1 hack/envtest-assets.sh  # the same, plus the node binaries (make e2e-cluster)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
K8S_MINOR="${K8S_VERSION#*.}"; K8S_MINOR="${K8S_MINOR%%.*}"
ASSETS_DIR="${ENVTEST_ASSETS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest/k8s/${K8S_VERSION}-linux-amd64}"
WORK_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/sim-operator/envtest-build"

log() { printf 'envtest-assets: %s\n' "$*" >&2; }

K8S_COMMANDS=(kube-apiserver kubectl)
if [[ "${NODE_BINARIES:-0}" == 1 ]]; then
  K8S_COMMANDS+=(kube-controller-manager kube-scheduler kubelet kube-proxy)
fi

missing=0
for cmd in etcd "${K8S_COMMANDS[@]}"; do
  [[ -x "$ASSETS_DIR/$cmd" ]] || missing=1
done
if [[ $missing == 0 ]]; then
  echo "$ASSETS_DIR"
  exit 0
fi

mkdir -p "$ASSETS_DIR" "$WORK_DIR/k8s" "$WORK_DIR/etcd"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off

build_k8s() {
  local dir="$WORK_DIR/k8s"
  log "resolving k8s.io/kubernetes v${K8S_VERSION} and its staging modules"
  local gomod
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  {
    echo "module sim-operator.local/envtest-build"
    echo
    echo "go 1.25"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    # k8s.io/kubernetes replaces each staging module with a local path; point each at its release instead.
    sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._/-]*\) => \./staging/.*#replace \1 => \1 v0.'"${K8S_MINOR}.${K8S_VERSION##*.}"'#p' "$gomod"
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true)
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_MINOR} -X k8s.io/client-go/pkg/version.gitVersion=v${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${K8S_MINOR}"
  for cmd in "${K8S_COMMANDS[@]}"; do
    if [[ ! -x "$ASSETS_DIR/$cmd" ]]; then
      log "building $cmd v${K8S_VERSION} from source (kube-apiserver takes about 9 minutes on 2 cores the first time; the four node binaries about 10 more)"
      (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$ASSETS_DIR/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
      mv "$ASSETS_DIR/$cmd.tmp" "$ASSETS_DIR/$cmd"
    fi
  done
}

build_etcd() {
  local dir="$WORK_DIR/etcd"
  log "building etcd ${ETCD_VERSION} from source (about a minute)"
  cat > "$dir/go.mod" <<GO
module sim-operator.local/etcd-build

go 1.25

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
GO
  cat > "$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$ASSETS_DIR/etcd.tmp" .)
  mv "$ASSETS_DIR/etcd.tmp" "$ASSETS_DIR/etcd"
}

[[ -x "$ASSETS_DIR/etcd" ]] || build_etcd
build_k8s
log "ready in $ASSETS_DIR"
echo "$ASSETS_DIR"
