# Image URL to use all building/pushing image targets. No registry by default: pass IMG=<registry>/sim-operator:<tag>.
IMG ?= sim-operator:latest
# YEAR defines the year value used for substituting the YEAR placeholder in the boilerplate header.
YEAR ?= $(shell date +%Y)

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# CONTAINER_TOOL defines the container tool to be used for building images.
# Be aware that the target commands are only tested with Docker which is
# scaffolded by default. However, you might want to replace it to use other
# tools. (i.e. podman)
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'. The awk command is responsible for reading the
# entire set of makefiles included in this invocation, looking for lines of the
# file as xyz: ## something, and then pretty-format the target and help. Then,
# if there's a line with ##@ something, that gets pretty-printed as a category.
# More info on the usage of ANSI control characters for terminal formatting:
# https://en.wikipedia.org/wiki/ANSI_escape_code#SGR_parameters
# More info on the awk command:
# http://linuxcommand.org/lc3_adv_awk.php

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate WebhookConfiguration, ClusterRole and CustomResourceDefinition objects (and the Helm chart's copies).
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	$(helm-sync)

# The Helm chart renders its CRDs and its Roles/ClusterRoles from byte-for-byte copies of
# config/crd/bases and config/rbac, kept in charts/sim-operator/files. `make manifests` refreshes them,
# so `make verify` fails on a stale copy, and test/install compares the rendered chart with config/.
HELM_CHART ?= charts/sim-operator
define helm-sync
rm -rf "$(HELM_CHART)/files/crds" "$(HELM_CHART)/files/rbac"
mkdir -p "$(HELM_CHART)/files/crds" "$(HELM_CHART)/files/rbac"
cp config/crd/bases/*.yaml "$(HELM_CHART)/files/crds/"
cp config/rbac/role.yaml config/rbac/*_role.yaml "$(HELM_CHART)/files/rbac/"
mkdir -p "$(HELM_CHART)/files/prometheus"
cp config/prometheus/alerts.yaml "$(HELM_CHART)/files/prometheus/alerts.yaml"
endef

.PHONY: helm-crds
helm-crds: manifests ## Regenerate the CRDs and RBAC and copy them into the Helm chart (done by `make manifests` too).

.PHONY: generate
generate: controller-gen ## Generate code containing DeepCopy, DeepCopyInto, and DeepCopyObject method implementations.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt",year=$(YEAR) paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

# ENVTEST_ASSETS is where hack/envtest-assets.sh builds kube-apiserver, etcd and kubectl from source
# (once; later runs reuse them).
ENVTEST_K8S_VERSION ?= 1.37.2
ENVTEST_ASSETS ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/kubebuilder-envtest/k8s/$(ENVTEST_K8S_VERSION)-linux-amd64

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd and kubectl from the Go module proxy, unless already cached.
	K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ASSETS_DIR="$(ENVTEST_ASSETS)" hack/envtest-assets.sh >/dev/null

GO_TEST_FLAGS ?= -race
.PHONY: test
test: manifests generate fmt vet envtest-assets kustomize ## Run all tests: unit, envtest integration and e2e (real kube-apiserver, etcd, kubectl).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test $(GO_TEST_FLAGS) ./... -coverprofile cover.out
	@# The fake checked with SailPoint's official Go SDK, in its own module (the SDK never enters the
	@# operator's module graph); without -race: it tests the wire protocol, and the SDK is large.
	cd test/conformance && go test ./...
	@# The alert rules evaluated with Prometheus' engine and the generated dashboard, in their own module.
	cd test/observability && go test ./...

.PHONY: dashboard
dashboard: ## Regenerate the Grafana dashboard the chart ships.
	cd test/observability && go run ./cmd/dashboard

.PHONY: dashboard-picture
dashboard-picture: envtest-assets ## Record a real run (~5 min) and draw docs/images/dashboard.png.
	cd test/observability && KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./cmd/picture -record

.PHONY: verify
verify: manifests generate fmt vet lint test ## Regenerate, lint and test; fail if generated files or formatting changed the tree.
	@git diff --exit-code --stat || { echo "make verify: the tree changed; run 'make manifests generate fmt' and commit the result" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=normal)" || { git status --porcelain; echo "make verify: untracked files" >&2; exit 1; }

.PHONY: lint
lint: golangci-lint ## Run golangci-lint linter
	"$(GOLANGCI_LINT)" run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint linter and perform fixes
	"$(GOLANGCI_LINT)" run --fix

.PHONY: lint-config
lint-config: golangci-lint ## Verify golangci-lint linter configuration
	"$(GOLANGCI_LINT)" config verify

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build manager binary.
	go build -o bin/manager ./cmd

.PHONY: kubectl-sim
kubectl-sim: fmt vet ## Build the kubectl plugin, bin/kubectl-sim (put it on the PATH to run `kubectl sim`).
	go build -o $(LOCALBIN)/kubectl-sim ./cmd/kubectl-sim

.PHONY: run
run: manifests generate fmt vet ## Run a controller from your host.
	go run ./cmd

# The demo and the e2e suite run the real manager binary and the fake IdentityNow API (cmd/fake-identitynow)
# against a local kube-apiserver and etcd, and drive them with kubectl (test/harness holds the shared code).
DEMO_ARGS ?=
.PHONY: demo
demo: ## Run the operator locally (kube-apiserver, fake IdentityNow, config/samples) until Ctrl-C; DEMO_ARGS=--once checks and exits.
	@test -x "$(ENVTEST_ASSETS)/kube-apiserver" -a -x "$(ENVTEST_ASSETS)/etcd" -a -x "$(ENVTEST_ASSETS)/kubectl" || \
		echo "make demo: first run: building kube-apiserver, etcd and kubectl $(ENVTEST_K8S_VERSION) from source (about 10 minutes on 2 cores, once; later runs start in seconds)"
	@$(MAKE) -s --no-print-directory envtest-assets
	@go build -o "$(LOCALBIN)/sim-operator-demo" ./hack/demo
	@KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" "$(LOCALBIN)/sim-operator-demo" $(DEMO_ARGS)

.PHONY: e2e
e2e: envtest-assets ## Run only the e2e suite (test/e2e; `make test` runs it too).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/e2e/ -v -count=1 -timeout 10m

# The benchmark (test/bench) runs the manager binary as its own process against kube-apiserver, etcd and
# the fake API with a scaled-down rate limit and poll interval: the one- and two-tenant phases, the list
# cost against N and a fleet of 1,000 tenants, about 20 minutes on 2 cores; docs/benchmarks.md describes
# it and its flags (BENCH_ARGS="--only fleet"; BENCH_ARGS=--quick is a smoke run).
BENCH_ARGS ?=
.PHONY: bench
bench: envtest-assets ## Measure bulk create, steady calls, edits, restarts, memory, throughput, list cost and a 1,000-tenant fleet (writes bench-results.json and the charts in docs/images/bench).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./test/bench $(BENCH_ARGS)

# The long part of the fault-injection suite (test/reliability, build tag soak): >= 50 kill -9 rounds with
# 100 SimIntegrations and longer remote fault storms; docs/reliability.md records the figures.
# SOAK_KILLS and SOAK_SIMS change its size; the fast part runs in `make test`.
.PHONY: soak
soak: envtest-assets ## Run the long fault-injection (soak) suite: kill -9 rounds, fault storms, secrets scan.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./test/reliability/ -tags soak -run Soak -v -count=1 -timeout 60m

# A real single-node cluster (hack/e2e-cluster.sh, as root): kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy built from source beside the envtest binaries (the first build
# of the four node binaries takes ~22 minutes on 2 cores), containerd, runc and the CNI plugins from
# Debian, the manager image made without a registry (hack/build-manager.sh and the Dockerfile's final
# stage, packed by hack/ociimage); then the in-cluster e2e suite (test/cluster, build tag e2ecluster)
# and a teardown that leaves no processes, mounts, interfaces or iptables chains behind.
.PHONY: e2e-cluster
e2e-cluster: kustomize ## Run the in-cluster e2e suite on a real single-node cluster it brings up and tears down (root).
	@test -x "$(ENVTEST_ASSETS)/kubelet" -a -x "$(ENVTEST_ASSETS)/kube-proxy" || \
		echo "make e2e-cluster: first run: building the node binaries $(ENVTEST_K8S_VERSION) from source (about 22 minutes on 2 cores, once)"
	K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ASSETS_DIR="$(ENVTEST_ASSETS)" NODE_BINARIES=1 hack/envtest-assets.sh >/dev/null
	K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ASSETS="$(ENVTEST_ASSETS)" KUSTOMIZE="$(KUSTOMIZE)" hack/e2e-cluster.sh

# If you wish to build the manager image targeting other platforms you can use the --platform flag.
# (i.e. docker build --platform linux/arm64). However, you must enable docker buildKit for it.
# More info: https://docs.docker.com/develop/develop-images/build_enhancements/
# Override BASE_IMAGE to build from another registry, e.g.
# make docker-build IMG=<img> BASE_IMAGE=<registry>/golang:1.26
.PHONY: docker-build
docker-build: ## Build docker image with the manager.
	$(CONTAINER_TOOL) build $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) $(if $(RUNTIME_IMAGE),--build-arg RUNTIME_IMAGE=$(RUNTIME_IMAGE)) -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push docker image with the manager.
	$(CONTAINER_TOOL) push ${IMG}

# PLATFORMS defines the target platforms for the manager image be built to provide support to multiple
# architectures. (i.e. make docker-buildx IMG=myregistry/mypoperator:0.0.1). To use this option you need to:
# - be able to use docker buildx. More info: https://docs.docker.com/build/buildx/
# - have enabled BuildKit. More info: https://docs.docker.com/develop/develop-images/build_enhancements/
# - be able to push the image to your registry (i.e. if you do not set a valid value via IMG=<myregistry/image:<tag>> then the export will fail)
# To adequately provide solutions that are compatible with multiple platforms, you should consider using this option.
PLATFORMS ?= linux/arm64,linux/amd64,linux/s390x,linux/ppc64le
.PHONY: docker-buildx
docker-buildx: ## Build and push docker image for the manager for cross-platform support
	# copy existing Dockerfile and insert --platform=${BUILDPLATFORM} into Dockerfile.cross, and preserve the original Dockerfile
	sed -e '1 s/\(^FROM\)/FROM --platform=\$$\{BUILDPLATFORM\}/; t' -e ' 1,// s//FROM --platform=\$$\{BUILDPLATFORM\}/' Dockerfile > Dockerfile.cross
	- $(CONTAINER_TOOL) buildx create --name sim-operator-builder
	$(CONTAINER_TOOL) buildx use sim-operator-builder
	- $(CONTAINER_TOOL) buildx build --push --platform=$(PLATFORMS) $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) --tag ${IMG} -f Dockerfile.cross .
	- $(CONTAINER_TOOL) buildx rm sim-operator-builder
	rm Dockerfile.cross

# The image is set in a throw-away overlay under dist/ (kustomize refuses absolute resource paths), so
# the tracked kustomization files never change. INSTALLER names another output file (make e2e-cluster
# writes its own, outside the repository).
INSTALLER ?= dist/install.yaml
.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate a consolidated YAML with CRDs and deployment: dist/install.yaml.
	mkdir -p dist "$(dir $(INSTALLER))"
	@overlay="$$(mktemp -d dist/.overlay.XXXXXX)"; trap 'rm -rf "$$overlay"' EXIT; \
	printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../config/default\n' > "$$overlay/kustomization.yaml"; \
	( cd "$$overlay" && "$(KUSTOMIZE)" edit set image sim-operator=${IMG} ); \
	"$(KUSTOMIZE)" build "$$overlay" > "$(INSTALLER).tmp"
	mv "$(INSTALLER).tmp" "$(INSTALLER)"
	@echo "$(INSTALLER): image ${IMG}"

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install CRDs into the K8s cluster specified in ~/.kube/config.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" apply -f -; else echo "No CRDs to install; skipping."; fi

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall CRDs from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	@out="$$( "$(KUSTOMIZE)" build config/crd 2>/dev/null || true )"; \
	if [ -n "$$out" ]; then echo "$$out" | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -; else echo "No CRDs to delete; skipping."; fi

.PHONY: deploy
deploy: manifests kustomize ## Deploy controller to the K8s cluster specified in ~/.kube/config.
	cd config/manager && "$(KUSTOMIZE)" edit set image sim-operator=${IMG}
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" apply -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy controller from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

## Tool Binaries
KUBECTL ?= $(ENVTEST_ASSETS)/kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT = $(LOCALBIN)/golangci-lint

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.1
CONTROLLER_TOOLS_VERSION ?= v0.23.0

GOLANGCI_LINT_VERSION ?= v2.15.0
.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))
	@test -f .custom-gcl.yml && { \
		echo "Building custom golangci-lint with plugins..." && \
		$(GOLANGCI_LINT) custom --destination $(LOCALBIN) --name golangci-lint-custom && \
		mv -f $(LOCALBIN)/golangci-lint-custom $(GOLANGCI_LINT); \
	} || true

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef

define gomodver
$(shell go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' $(1) 2>/dev/null)
endef
