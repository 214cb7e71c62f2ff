package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
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

// tornPulumi fails its first torn runs as a read of an object whose
// attribute file another command is rewriting does, then answers.
type tornPulumi struct {
	auto.PulumiCommand
	torn int
	runs []string
}

func (c *tornPulumi) Run(_ context.Context, _ string, _ io.Reader, _, _ []io.Writer, _ []string, args ...string) (string, string, int, error) {
	c.runs = append(c.runs, strings.Join(args, " "))
	if len(c.runs) <= c.torn {
		return "", "error: failed to load checkpoint: EOF\n", 255, errors.New("exit status 255")
	}
	return "ok", "", 0, nil
}

func (c *tornPulumi) Version() semver.Version { return semver.Version{} }

func TestTornReadsAreReadAgainAndWritesRunOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		torn int
		runs int
		ok   bool
	}{
		{[]string{"stack", "history", "--json", "--stack", "dev"}, 1, 2, true},
		{[]string{"stack", "export", "--stack", "dev"}, 3, 4, true},
		{[]string{"stack", "ls", "--json"}, 2, 3, true},
		{[]string{"stack", "select", "--stack", "dev"}, 1, 2, true},
		{[]string{"stack", "tag", "ls", "--json", "--stack", "dev"}, 1, 2, true},
		// An EOF that outlasts readTries is the object's own: returned.
		{[]string{"stack", "export", "--stack", "dev"}, readTries, readTries, false},
		// A tag set beside an up: set again, the same value.
		{[]string{"stack", "tag", "set", "a", "b", "--stack", "dev"}, 1, 2, true},
		// Other writes are never run twice, whatever they fail on.
		{[]string{"up", "--yes", "--stack", "dev"}, 1, 1, false},
		{[]string{"stack", "select", "--create", "--stack", "dev"}, 1, 1, false},
		{[]string{"stack", "tag", "rm", "a", "--stack", "dev"}, 1, 1, false},
	} {
		for _, ex := range []*exports{{}, nil} {
			cli := &tornPulumi{torn: tc.torn}
			settled := 0
			p := leanPulumi{PulumiCommand: cli, exports: ex, settle: func() { settled++ }}
			out, _, _, err := p.Run(ctx, "", nil, nil, nil, nil, tc.args...)
			if (err == nil) != tc.ok || len(cli.runs) != tc.runs || settled != tc.runs-1 {
				t.Errorf("%q torn %d times (exports %v): ran %d times, settled %d, err %v, out %q; want %d runs, ok %v",
					tc.args, tc.torn, ex != nil, len(cli.runs), settled, err, out, tc.runs, tc.ok)
			}
		}
	}
	// A read whose output streams somewhere is run once: a second run
	// would write it twice.
	cli := &tornPulumi{torn: 1}
	p := leanPulumi{PulumiCommand: cli, exports: &exports{}, settle: func() {}}
	if _, _, _, err := p.Run(ctx, "", nil, []io.Writer{io.Discard}, nil, nil, "stack", "ls"); err == nil || len(cli.runs) != 1 {
		t.Errorf("a streamed read ran %d times (err %v), want once and its error", len(cli.runs), err)
	}
}

func TestTraceTellsEachRunAndNoConfigValue(t *testing.T) {
	ctx := context.Background()
	l, err := lease.New(memblob.OpenBucket(nil)).Acquire(ctx, "dev", "deploy", lease.Options{})
	if err != nil {
		t.Fatal(err)
	}
	held := lease.NewContext(ctx, l)
	var lines []string
	tr := &tracer{logf: func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }}
	p := leanPulumi{PulumiCommand: &tornPulumi{torn: 1}, exports: &exports{}, settle: func() {}, trace: tr}
	for _, args := range [][]string{
		{"stack", "export", "--stack", "dev"}, // torn once: two runs
		{"stack", "export", "--stack", "dev"}, // remembered: no run
		{"config", "set", "--secret", "--stack", "dev", "phoenix:token", "s3cr3t"},
	} {
		if _, _, _, err := p.Run(held, "", nil, nil, nil, nil, args...); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`^pulumi stack export --stack dev: \d+\.\d\ds, exit 255$`,
		`^pulumi stack export --stack dev: \d+\.\d\ds$`,
		`^pulumi config set \(values not shown\): \d+\.\d\ds$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("traced %q, want %d lines", lines, len(want))
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("trace line %d: %q, want %s", i, lines[i], w)
		}
	}
	if joined := strings.Join(lines, "\n"); strings.Contains(joined, "s3cr3t") || strings.Contains(joined, "phoenix:token") {
		t.Errorf("the trace shows a config value:\n%s", joined)
	}
}
