# Phoenix make targets. `make test` is the test command the README gives and
# CI runs (.ci/run).
GO ?= go
BIN := $(CURDIR)/.bin
PULUMI_VERSION := v3.274.1
PULUMI := $(BIN)/pulumi/bin/pulumi

.PHONY: test unit vet build tools

test: vet unit

build:
	$(GO) build ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cd app && $(GO) vet ./...

unit:
	$(GO) test ./...
	cd app && $(GO) test ./...

# The Pulumi CLI, built from the Go module proxy with its version set at link
# time, kept under .bin/ (git-ignored) and reused when present.
tools: $(PULUMI)

$(PULUMI): tools/pulumi/go.mod tools/pulumi/go.sum
	cd tools/pulumi && $(GO) build -o $(PULUMI) \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
