package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

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
			cfg := harness.Config("docker", stacks.KeyPort, fmt.Sprint(c.lb.port))
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
					if err := harness.SetConfig(ctx, env, harness.Config("docker", stacks.KeyPort, fmt.Sprint(c.lb.port), stacks.KeyLive, v, stacks.KeyCandidate, v)); err != nil {
						b.Fatal(err)
					}
					up(b, ctx, env)
				}
			})
		})
	}
}
