package tests

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/phoenix-iac/phoenix/platforms/docker"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/harness"
)

// BenchmarkRollback measures phoenix rollback against a bare `pulumi up` of
// the env stack that makes the same traffic change, with 2 and with 50 warm
// versions. Run it with a fixed count, as setting up 50 versions takes minutes:
//
//	go test ./tests -run '^$' -bench Rollback -benchtime 5x
func BenchmarkRollback(b *testing.B) {
	for _, warm := range []int{2, 50} {
		b.Run(fmt.Sprintf("warm=%d", warm), func(b *testing.B) {
			c := newCLIEnv(b)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
			defer cancel()
			cfg := harness.Config("docker", docker.KeyPort, fmt.Sprint(c.lb.port))
			start := time.Now()
			c.deploy("va")
			// Warm versions beyond the two the CLI deploys.
			for i := range warm - 2 {
				up(b, ctx, c.h.Stack(ctx, fmt.Sprintf("dev.w%d", i), cfg))
			}
			c.deploy("vb")
			b.Logf("set up %d warm versions in %s", warm, time.Since(start).Round(time.Second))

			// Each rollback goes to the version that is not live.
			live := "vb"
			other := func() string {
				if live == "va" {
					live = "vb"
				} else {
					live = "va"
				}
				return live
			}
			b.Run("rollback-force", func(b *testing.B) {
				for range b.N {
					c.must("rollback", "--env", "dev", "--to", other(), "--force")
				}
			})
			b.Run("rollback-verified", func(b *testing.B) {
				for range b.N {
					c.must("rollback", "--env", "dev", "--to", other(), "--gate-count", "3")
				}
			})
			env := c.h.Stack(ctx, "dev", cfg)
			b.Run("bare-pulumi-up", func(b *testing.B) {
				for range b.N {
					v := other()
					if err := harness.SetConfig(ctx, env, harness.Config("docker", docker.KeyPort, fmt.Sprint(c.lb.port), stacks.KeyLive, v, stacks.KeyCandidate, v)); err != nil {
						b.Fatal(err)
					}
					up(b, ctx, env)
				}
			})
			// The `pulumi up` process alone, without the Automation API's
			// reads around it: the timer runs only while that process runs.
			// (The project's runtime is Go, whose language plugin cannot run
			// here, so the program is served by this process, as the
			// Automation API does for inline programs.)
			b.Run("pulumi-up-process", func(b *testing.B) {
				b.StopTimer()
				timed, err := auto.UpsertStackInlineSource(ctx, "dev", "phoenix", stacks.ProgramIn(filepath.Join(c.h.Dir(), "work", "dev"), c.h.Env["PULUMI_BACKEND_URL"]),
					auto.WorkDir(filepath.Join(c.h.Dir(), "work", "dev")), auto.Pulumi(upTimer{c.h.Pulumi, b}), auto.EnvVars(c.h.Env))
				if err != nil {
					b.Fatal(err)
				}
				for range b.N {
					v := other()
					if err := harness.SetConfig(ctx, timed, harness.Config("docker", docker.KeyPort, fmt.Sprint(c.lb.port), stacks.KeyLive, v, stacks.KeyCandidate, v)); err != nil {
						b.Fatal(err)
					}
					if _, err := timed.Up(ctx, optup.SuppressProgress()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// upTimer runs the Pulumi CLI with a benchmark's timer running only while
// a `pulumi up` process runs.
type upTimer struct {
	auto.PulumiCommand
	b *testing.B
}

func (u upTimer) Run(ctx context.Context, wd string, stdin io.Reader, out, errOut []io.Writer, env []string, args ...string) (string, string, int, error) {
	if len(args) > 0 && args[0] == "up" {
		u.b.StartTimer()
		defer u.b.StopTimer()
	}
	return u.PulumiCommand.Run(ctx, wd, stdin, out, errOut, env, args...)
}

func (u upTimer) Version() semver.Version { return u.PulumiCommand.Version() }
