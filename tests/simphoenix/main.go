// Command simphoenix is the phoenix CLI of the engine tests that run a
// binary (the kill points, many machines): cmd/phoenix with one more
// registration, its platforms run against the simulated cloud
// (tests/simplatform).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/iostreams"
	"github.com/phoenix-iac/phoenix/tests/simplatform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	f := cli.NewFactory(iostreams.System())
	f.Platforms = simplatform.Lookup
	code := cli.Main(ctx, os.Args[1:], f)
	stop()
	os.Exit(code)
}
