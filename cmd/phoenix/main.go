// Command phoenix deploys immutable versions of Pulumi environments and
// moves traffic between them. It drives the env and version stacks with the
// Pulumi Automation API, running the same program as `pulumi up`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/iostreams"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.NewFactory(iostreams.System()))
	stop()
	os.Exit(code)
}
