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

# Copy the Go source (.dockerignore keeps only *.go files, minus tests, and go.mod/go.sum).
COPY . .

# A static binary (no cgo), for the target platform of `docker buildx` (GOARCH empty: the builder's).
# -trimpath keeps build paths out of the binary.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags="-s -w" -o manager ./cmd

# Distroless static: no shell, no package manager, runs as the unprivileged user 65532 ("nonroot").
FROM ${RUNTIME_IMAGE}
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532

ENTRYPOINT ["/manager"]
