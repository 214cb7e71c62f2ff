#!/usr/bin/env bash
# Builds the stand-in docker provider plugin (see main.go) into $1.
#
# pulumi-terraform-bridge needs Pulumi's fork of terraform-plugin-sdk/v2, and
# that fork's gRPC server lacks GenerateResourceConfig, which the
# terraform-plugin-go version the Docker provider requires expects of every
# provider server. So the build takes a scratch copy of the fork from the
# module cache, adds that one method (answering that it is not supported;
# Pulumi never calls it), and builds against the copy through a scratch
# go.mod. Nothing of the fork or the provider is kept in this repository.
set -euo pipefail
out=${1:?usage: build.sh OUTPUT}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

scratch=$(mktemp -d)
trap 'chmod -R u+w "$scratch"; rm -rf "$scratch"' EXIT

go mod download
sdk=$(go list -m -f '{{.Dir}}' github.com/hashicorp/terraform-plugin-sdk/v2)
cp -r "$sdk" "$scratch/sdk"
chmod -R u+w "$scratch/sdk"
cat > "$scratch/sdk/helper/schema/phoenix_generate_resource_config.go" <<'GO'
package schema

import (
	"context"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
)

// GenerateResourceConfig is not supported: Pulumi never calls it.
func (s *GRPCProviderServer) GenerateResourceConfig(context.Context, *tfprotov5.GenerateResourceConfigRequest) (*tfprotov5.GenerateResourceConfigResponse, error) {
	return &tfprotov5.GenerateResourceConfigResponse{Diagnostics: []*tfprotov5.Diagnostic{{
		Severity: tfprotov5.DiagnosticSeverityError,
		Summary:  "GenerateResourceConfig is not supported by this provider",
	}}}, nil
}
GO

cp go.mod go.sum "$scratch/"
go mod edit -modfile="$scratch/go.mod" -replace "github.com/hashicorp/terraform-plugin-sdk/v2=$scratch/sdk"
go build -modfile="$scratch/go.mod" -tags no_compose -trimpath -o "$out" .
