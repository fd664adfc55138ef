# Build the manager binary.
# Override BASE_IMAGE to build from another registry, e.g. docker.io/library/golang:1.26
ARG BASE_IMAGE=golang:1.26
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
# https://github.com/GoogleContainerTools/distroless
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532

ENTRYPOINT ["/manager"]
