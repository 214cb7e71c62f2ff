package orchestrator

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"gocloud.dev/blob/memblob"

	"github.com/phoenix-iac/phoenix/internal/lease"
)

// countingPulumi answers every run, counting them: an export returns the
// stack's state number, which each write to it raises.
type countingPulumi struct {
	auto.PulumiCommand
	runs  []string
	state map[string]int
}

func (c *countingPulumi) Run(_ context.Context, _ string, _ io.Reader, _, _ []io.Writer, _ []string, args ...string) (string, string, int, error) {
	c.runs = append(c.runs, strings.Join(args, " "))
	stack := args[len(args)-1]
	if args[0] == "stack" && args[1] == "export" {
		return strings.Repeat("x", c.state[stack]), "", 0, nil
	}
	if args[0] == "up" {
		c.state[stack]++
	}
	return "", "", 0, nil
}

func (c *countingPulumi) Version() semver.Version { return semver.Version{} }

func TestExportsAreRememberedUnderTheLeaseUntilAWrite(t *testing.T) {
	ctx := context.Background()
	store := lease.New(memblob.OpenBucket(nil))
	l, err := store.Acquire(ctx, "dev", "deploy", lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	held := lease.NewContext(ctx, l)
	other, err := store.Acquire(ctx, "prod", "deploy", lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)

	cli := &countingPulumi{state: map[string]int{}}
	p := leanPulumi{PulumiCommand: cli, exports: &exports{}}
	export := func(ctx context.Context, stack string) string {
		t.Helper()
		out, _, _, err := p.Run(ctx, "", nil, nil, nil, nil, "stack", "export", "--stack", stack)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	up := func(stack string) {
		if _, _, _, err := p.Run(held, "", nil, nil, nil, nil, "up", "--yes", "--stack", stack); err != nil {
			t.Fatal(err)
		}
	}
	runs := func() int { return len(cli.runs) }

	export(held, "dev")
	export(held, "dev")
	export(held, "dev.v1")
	export(held, "dev.v1")
	if runs() != 2 {
		t.Fatalf("two exports each of dev and dev.v1 under the lease ran %d times, want 2: %v", runs(), cli.runs)
	}
	cli.state["dev"] = 7 // a plain pulumi up, which takes no lease
	if got := export(fresh(held), "dev"); got != "xxxxxxx" || runs() != 3 {
		t.Fatalf("a fresh export answered %q from memory (%d runs), want the backend's %q", got, runs(), "xxxxxxx")
	}
	if got := export(held, "dev"); got != "xxxxxxx" || runs() != 3 {
		t.Fatalf("the export after a fresh one answered %q (%d runs), want what the fresh one read", got, runs())
	}
	cli.state["dev"] = 0
	if _, _, _, err := p.Run(held, "", nil, nil, nil, nil, "stack", "ls", "--json"); err != nil {
		t.Fatal(err)
	}
	export(held, "dev")
	if runs() != 4 {
		t.Fatalf("a stack ls forgot the exports: %v", cli.runs)
	}
	up("dev.v9")
	export(held, "dev")
	if runs() != 5 {
		t.Fatalf("an up of dev.v9 forgot dev's export: %v", cli.runs)
	}
	up("dev")
	if got := export(held, "dev"); got != "x" {
		t.Fatalf("the export after an up answered %q from memory, want the new state %q", got, "x")
	}
	export(held, "dev.v1")
	if runs() != 7 {
		t.Fatalf("an up of dev forgot dev.v1's export, or kept dev's: %v", cli.runs)
	}
	if _, _, _, err := p.Run(held, "", nil, nil, nil, nil, "stack", "rm", "--yes", "dev.v1"); err != nil {
		t.Fatal(err)
	}
	export(held, "dev")
	export(held, "dev.v1")
	if runs() != 10 {
		t.Fatalf("a write naming no --stack did not forget every export: %v", cli.runs)
	}

	before := runs()
	export(ctx, "dev")
	export(ctx, "dev")
	if runs() != before+2 {
		t.Fatalf("exports without a lease were remembered: %v", cli.runs)
	}
	prod := lease.NewContext(ctx, other)
	export(prod, "dev")
	export(prod, "dev")
	if runs() != before+4 {
		t.Fatalf("exports of dev under prod's lease were remembered: %v", cli.runs)
	}

	export(held, "dev")
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	before = runs()
	export(held, "dev")
	if runs() != before+1 {
		t.Fatalf("an export under a released lease was answered from memory: %v", cli.runs)
	}
}
