#!/bin/sh
# Builds the manager binary of the container image: static (no cgo), without build paths or VCS
# stamps, stripped. The Dockerfile's builder stage and `make e2e-cluster` both run this, so the image
# that the in-cluster e2e tests is built the way the released one is.
#
# Usage: hack/build-manager.sh OUTPUT     (GOOS and GOARCH as usual; GOOS defaults to linux)
set -eu
out="${1:?usage: hack/build-manager.sh OUTPUT}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$(dirname "$0")/.."
CGO_ENABLED=0 GOOS="${GOOS:-linux}" exec go build -buildvcs=false -trimpath -ldflags="-s -w" -o "$out" ./cmd
