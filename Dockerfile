# Build the manager binary.
# BASE_IMAGE is the Go toolchain image; RUNTIME_IMAGE the distroless static nonroot image, both as
# your registry or mirror names them (pass --build-arg to override).
ARG BASE_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=distroless/static:nonroot
FROM ${BASE_IMAGE} AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Download the modules first, in their own layer, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download

# Copy the Go source (.dockerignore keeps only *.go files, minus tests, go.mod/go.sum and
# hack/build-manager.sh).
COPY . .

# A static binary (no cgo, no build paths, stripped), for the target platform of `docker buildx`
# (GOARCH empty: the builder's). `make e2e-cluster` builds its image's binary with the same script.
RUN GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} hack/build-manager.sh manager

# Distroless static: no shell, no package manager, runs as the unprivileged user 65532 ("nonroot").
# `make e2e-cluster` assembles this stage itself (hack/ociimage reads it from here), with the CA
# bundle, the nonroot user and /tmp in place of the base image: keep it to COPY --from, WORKDIR,
# USER, ENV and ENTRYPOINT/CMD in exec form.
FROM ${RUNTIME_IMAGE}
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532

ENTRYPOINT ["/manager"]
