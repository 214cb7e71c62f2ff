# Phoenix make targets. `make test` is the test command the README gives and
# CI runs (.ci/run).
GO ?= go
BIN := $(CURDIR)/.bin
# The version is internal/pulumicli's Version, stated once there.
PULUMI_VERSION := $(shell sed -n 's/^const Version = "\(.*\)"$$/\1/p' internal/pulumicli/pulumicli.go)
PULUMI := $(BIN)/pulumi/bin/pulumi
# The tests' Go language host, next to the CLI, which finds it there.
LANGUAGE_GO := $(BIN)/pulumi/bin/pulumi-language-go
CADDY := $(BIN)/caddy
ACTIONLINT := $(BIN)/actionlint
DOCKER_PLUGIN := $(BIN)/pulumi-resource-docker
AZURITE := $(BIN)/azurite/node_modules/.bin/azurite-blob
IMAGE_GOCACHE := $(BIN)/image-gocache
MERMAID := $(BIN)/mermaid/node_modules/mermaid/dist/mermaid.min.js

.PHONY: test repo unit engine dataplane browser e2e bench-promotion vet lint build tools

# Everything CI checks: formatting and vet, the workflows' lint, unit and
# mock tests, then the engine and data-plane tests, which need the Pulumi
# CLI and Caddy (built on first use), and the end-to-end test on a real
# Docker engine (started by tests/e2e/with-dockerd.sh; needs root and
# Debian's docker.io and busybox-static, which .ci/run installs). The
# browser tests need Debian's chromium, which .ci/run installs too.
TEST_STEPS := repo vet lint unit engine dataplane browser e2e

test:
	@for step in $(TEST_STEPS); do \
		start=$$(date +%s); \
		$(MAKE) --no-print-directory $$step || exit 1; \
		echo "make test: $$step took $$(( $$(date +%s) - start )) s"; \
	done

# The repository itself: no tracked file over 1 MB (built binaries, state
# and archives never belong in git), and every module as go mod tidy
# leaves it.
repo:
	@big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 {print "  " $$2 " (" $$1 " bytes)"}'); \
		test -z "$$big" || { echo "tracked files over 1 MB:"; echo "$$big"; exit 1; }
	@for m in . app lb $$(ls tools/*/go.mod | xargs -n1 dirname); do \
		(cd $$m && $(GO) mod tidy -diff >/dev/null) || { echo "$$m: go.mod or go.sum is not tidy; run: (cd $$m && go mod tidy)"; exit 1; }; \
	done

build:
	$(GO) build ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cd app && $(GO) vet ./...
	cd lb && $(GO) vet ./...

# actionlint also runs shellcheck on the workflows' scripts; shellcheck
# (.ci/run installs it) checks the project's own scripts.
lint: $(ACTIONLINT)
	$(ACTIONLINT)
	shellcheck .ci/run $$(git ls-files '*.sh')

$(ACTIONLINT): tools/actionlint/go.mod tools/actionlint/go.sum
	cd tools/actionlint && $(GO) build -o $(ACTIONLINT) github.com/rhysd/actionlint/cmd/actionlint

unit: $(AZURITE)
	PHOENIX_AZURITE=$(AZURITE) $(GO) test ./stacks/... ./components/... ./platforms/... ./cmd/... ./internal/...
	cd app && $(GO) test ./...
	cd lb && $(GO) test ./...

engine: tools
	PHOENIX_PULUMI_ROOT=$(BIN)/pulumi $(GO) test -timeout 45m -parallel 3 ./tests/ ./tests/harness/ ./tests/simcloud/

# Alone, so that no other test competes with the load generator for the CPU.
dataplane: tools
	PHOENIX_CADDY=$(CADDY) $(GO) test -timeout 10m -v ./tests/dataplane/

# What phoenix draws, in headless Chromium: each Mermaid diagram of the
# golden files rendered by the mermaid package, GitHub's renderer.
browser: $(MERMAID)
	PHOENIX_MERMAID=$(MERMAID) $(GO) test -timeout 5m -v ./tests/browser/

# The README's main command for real: a private dockerd, the docker
# provider plugin built from kreuzwerker's Terraform provider, real builds.
e2e: tools $(DOCKER_PLUGIN)
	PHOENIX_PULUMI_ROOT=$(BIN)/pulumi PHOENIX_DOCKER_PLUGIN=$(DOCKER_PLUGIN) PHOENIX_CADDY=$(CADDY) \
		PHOENIX_IMAGE_GOCACHE=$(IMAGE_GOCACHE) tests/e2e/with-dockerd.sh $(GO) test -timeout 30m -v ./tests/e2e/

# Issue 21's target on a real engine: a promotion beside a deploy with a
# build, three changes of the app through staging and prod, with the
# tests' warm build cache and with none, as the golang image has (minutes;
# not part of make test).
bench-promotion: tools $(DOCKER_PLUGIN)
	PHOENIX_PULUMI_ROOT=$(BIN)/pulumi PHOENIX_DOCKER_PLUGIN=$(DOCKER_PLUGIN) PHOENIX_CADDY=$(CADDY) \
		PHOENIX_IMAGE_GOCACHE=$(IMAGE_GOCACHE) tests/e2e/with-dockerd.sh $(GO) test -run '^$$' -bench Promotion -benchtime 3x -timeout 30m ./tests/e2e/

# The Pulumi CLI, built from the Go module proxy with its version set at link
# time, with its Go language host, and the load balancer's Caddy, built from lb/ as its image builds it
# (static, so that it also serves as the Caddy image stand-in), for the
# data-plane and end-to-end tests, kept under .bin/ (git-ignored) and
# rebuilt when lb/ changes.
tools: $(PULUMI) $(LANGUAGE_GO) $(CADDY) $(AZURITE)

# The standard Pulumi install has the Go language plugin; tests get
# phoenix's own (tools/language-go), for the plain pulumi up path.
$(LANGUAGE_GO): tools/language-go/main.go go.mod go.sum
	$(GO) build -o $(LANGUAGE_GO) ./tools/language-go

# Users get the official docker plugin; tests get this build of the same
# upstream provider (tools/docker-provider/main.go says how it is mapped).
$(DOCKER_PLUGIN): tools/docker-provider/go.mod tools/docker-provider/go.sum tools/docker-provider/main.go tools/docker-provider/build.sh
	tools/docker-provider/build.sh $(DOCKER_PLUGIN)

# Azurite, the Azure Blob API the lease's test runs on, from the npm
# registry at the versions tools/azurite/package-lock.json pins.
$(AZURITE): tools/azurite/package.json tools/azurite/package-lock.json
	mkdir -p $(BIN)/azurite
	cp tools/azurite/package.json tools/azurite/package-lock.json $(BIN)/azurite/
	cd $(BIN)/azurite && npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

# Mermaid, for the browser test, from the npm registry at the versions
# tools/mermaid/package-lock.json pins.
$(MERMAID): tools/mermaid/package.json tools/mermaid/package-lock.json
	mkdir -p $(BIN)/mermaid
	cp tools/mermaid/package.json tools/mermaid/package-lock.json $(BIN)/mermaid/
	cd $(BIN)/mermaid && npm ci --no-audit --no-fund --loglevel=error
	touch $(MERMAID)

# Caddy is built as lb/Dockerfile builds it (CGO_ENABLED=0, -trimpath),
# into a Go build cache of its own: the end-to-end test's golang stand-in
# carries that cache, so the image builds on its engine find compiled what
# this build compiled, and link.
$(CADDY): $(shell git ls-files lb)
	cd lb && CGO_ENABLED=0 GOCACHE=$(IMAGE_GOCACHE) $(GO) build -trimpath -o $(CADDY) .

$(PULUMI): tools/pulumi/go.mod tools/pulumi/go.sum
	cd tools/pulumi && $(GO) build -o $(PULUMI) \
		-ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
