# Phoenix make targets. `make test` is the test command the README gives and
# CI runs (.ci/run).
GO ?= go
BIN := $(CURDIR)/.bin
PULUMI_VERSION := v3.274.1
PULUMI := $(BIN)/pulumi/bin/pulumi
CADDY := $(BIN)/caddy
ACTIONLINT := $(BIN)/actionlint

.PHONY: test unit engine dataplane vet lint build tools

# Everything CI checks: formatting and vet, the workflows' lint, unit and
# mock tests, then the engine and data-plane tests, which need the Pulumi
# CLI and Caddy (built on first use).
test: vet lint unit engine dataplane

build:
	$(GO) build ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cd app && $(GO) vet ./...
	cd lb && $(GO) vet ./...

# actionlint also runs shellcheck on the workflows' scripts when it is
# installed (.ci/run installs it).
lint: $(ACTIONLINT)
	$(ACTIONLINT)

$(ACTIONLINT): tools/actionlint/go.mod tools/actionlint/go.sum
	cd tools/actionlint && $(GO) build -o $(ACTIONLINT) github.com/rhysd/actionlint/cmd/actionlint

unit:
	$(GO) test ./stacks/... ./components/... ./cmd/... ./internal/...
	cd app && $(GO) test ./...

engine: tools
	PHOENIX_PULUMI_ROOT=$(BIN)/pulumi $(GO) test -timeout 30m -parallel 3 ./tests/ ./tests/harness/ ./tests/simcloud/

# Alone, so that no other test competes with the load generator for the CPU.
dataplane: tools
	PHOENIX_CADDY=$(CADDY) $(GO) test -timeout 10m -v ./tests/dataplane/

# The Pulumi CLI, built from the Go module proxy with its version set at link
# time, and Caddy for the data-plane tests, kept under .bin/ (git-ignored)
# and reused when present.
tools: $(PULUMI) $(CADDY)

$(CADDY): tools/caddy/go.mod tools/caddy/go.sum
	cd tools/caddy && $(GO) build -o $(CADDY) github.com/caddyserver/caddy/v2/cmd/caddy

$(PULUMI): tools/pulumi/go.mod tools/pulumi/go.sum
	cd tools/pulumi && $(GO) build -o $(PULUMI) \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
