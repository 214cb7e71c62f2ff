package tests

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/moto"
)

func TestCLIPreview(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	ops := len(c.h.Cloud.Ops())
	stacksBefore := c.status().Versions
	state := strings.TrimPrefix(c.h.Env["PULUMI_BACKEND_URL"], "file://")
	backendBefore, projectBefore := filesIn(t, state), filesIn(t, c.project)

	// A new version: creates only, and the cut-over described.
	r := c.run("preview", "--env", "dev", "--version", "v2", "--format", "json")
	if r.code != 0 {
		t.Fatalf("preview of a new version: %s", r)
	}
	var plan orchestrator.Plan
	if err := json.Unmarshal([]byte(r.out), &plan); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if plan.From != "v1" || plan.To != "v2" || len(plan.Violations) != 0 {
		t.Errorf("plan %+v", plan)
	}
	if v := plan.Stacks[0]; v.Stack != "dev.v2" || v.Exists || v.Counts["create"] < 3 || len(v.Counts) > 2 {
		t.Errorf("version stack plan %+v, want only creates", v)
	}
	// Nothing left behind, nothing changed.
	if got := len(c.h.Cloud.Ops()); got != ops {
		t.Errorf("preview changed the cloud %d times", got-ops)
	}
	if after := c.status().Versions; len(after) != len(stacksBefore) {
		t.Errorf("preview left stacks behind: %+v", after)
	}
	// Nothing written that another command reads: not one file of the
	// backend (no stack created and removed, which a deploy of the same
	// version could have resumed and lost) nor of the project directory
	// (no config file that a deploy in the same checkout uses).
	if diff := changedFiles(backendBefore, filesIn(t, state)); diff != "" {
		t.Errorf("preview wrote to the backend:\n%s", diff)
	}
	if diff := changedFiles(projectBefore, filesIn(t, c.project)); diff != "" {
		t.Errorf("preview wrote to the project directory:\n%s", diff)
	}

	// The markdown comment says the same in ten seconds.
	r = c.run("preview", "--env", "dev", "--version", "v2", "--format", "markdown")
	if r.code != 0 || !strings.Contains(r.out, "✅ no violations") || !strings.Contains(r.out, "traffic v1 → v2") {
		t.Errorf("markdown preview: %s", r)
	}

	// An edited existing version: every change is a violation, exit 7.
	c.writeConfig("phoenix:replicas", "3")
	r = c.run("preview", "--env", "dev", "--version", "v1", "--format", "text")
	if r.code != cli.ExitViolations || !strings.Contains(r.out, "[immutable-version]") {
		t.Errorf("preview of an edited existing version: %s\nwant exit %d and immutable-version", r, cli.ExitViolations)
	}

	// A secret in plain text in the env's config file.
	c.writeConfig("phoenix:environment", `{"DB_PASSWORD":"hunter2"}`)
	r = c.run("preview", "--env", "dev", "--version", "v3", "--format", "markdown")
	if r.code != cli.ExitViolations || !strings.Contains(r.out, "`plain-secret`") || strings.Contains(r.out, "hunter2") {
		t.Errorf("preview with a plain secret: %s", r)
	}
}

// filesIn lists the files under dir with their size and modification time.
// Lock files, which a reader of a stack takes and removes, are left out.
func filesIn(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "/.pulumi/locks/") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%d bytes, %s", info.Size(), info.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changedFiles describes how two listings of filesIn differ; "" if not.
func changedFiles(before, after map[string]string) string {
	var out []string
	for p, a := range after {
		if b, ok := before[p]; !ok {
			out = append(out, "  new: "+p)
		} else if a != b {
			out = append(out, "  changed: "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, "  removed: "+p)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestCLIPreviewPlantedLongName plants a target group whose name is over
// the ALB limit into the program of an env on aws (names from config are
// validated before this could happen) and checks that preview reports it,
// by the aws platform's rules, with exit 7.
func TestCLIPreviewPlantedLongName(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	cfg := fmt.Sprintf("config:\n  phoenix:platform: aws\n  aws:region: eu-west-1\n  phoenix:appPath: %s\n", filepath.Join(c.h.Root, "app"))
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi.dev.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The simulated ALB has no address: the gate fails, the env stack and
	// the version stay.
	if r := c.run("deploy", "--env", "dev", "--version", "v1", "--gate-count", "1", "--gate-timeout", "1s", "--keep-failed"); r.code != cli.ExitChangeFailed {
		t.Fatalf("deploy on aws: %s", r)
	}
	tgs := len(c.h.Cloud.Find("aws:lb/targetGroup:TargetGroup", ""))
	c.program = func(ctx *pulumi.Context) error {
		if err := stacks.ProgramIn(c.project, c.h.Env["PULUMI_BACKEND_URL"])(ctx); err != nil {
			return err
		}
		name, _ := stacks.ParseStackName(ctx.Stack())
		if !name.IsVersion() {
			return nil
		}
		_, err := lb.NewTargetGroup(ctx, "dev-"+name.Version+"-extra", &lb.TargetGroupArgs{
			Name:     pulumi.String("dev-" + name.Version + "-a-target-group-name-too-long"),
			Port:     pulumi.Int(8080),
			Protocol: pulumi.String("HTTP"),
		})
		return err
	}
	r := c.run("preview", "--env", "dev", "--version", "v2", "--format", "text")
	if r.code != cli.ExitViolations || !strings.Contains(r.out, "[target-group-name]") {
		t.Fatalf("preview with a long target group name: %s\nwant exit %d and target-group-name", r, cli.ExitViolations)
	}
	if len(c.h.Cloud.Find("aws:lb/targetGroup:TargetGroup", "")) != tgs {
		t.Error("preview created the target group")
	}
}

// TestCLIPreviewNeedsOnlyReadAccessToState: a preview, of a new version and
// of one that exists, with the passphrase and without, makes no write request to an S3 state backend (moto,
// behind a proxy that refuses and counts every request but GET and HEAD),
// so a pull request's role needs only s3:GetObject and s3:ListBucket on it
// (docs/aws-roles.md). Not parallel: phoenix's own reads of the backend
// (leases, Pulumi's lock files) take credentials from the process's
// environment, as on a CI runner.
func TestCLIPreviewNeedsOnlyReadAccessToState(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"} {
		t.Setenv(k, v)
	}
	c := newCLIEnv(t)
	srv := moto.Start(t)
	srv.Bucket(t, "state")
	target, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		readOnly bool
		refused  []string
	)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ro := readOnly
		if ro && r.Method != http.MethodGet && r.Method != http.MethodHead {
			refused = append(refused, r.Method+" "+r.URL.Path)
			mu.Unlock()
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c.h.Env["PULUMI_BACKEND_URL"] = fmt.Sprintf("s3://state/team?endpoint=%s&disableSSL=true&s3ForcePathStyle=true&region=us-east-1", strings.TrimPrefix(front.URL, "http://"))
	c.h.Env["AWS_ACCESS_KEY_ID"], c.h.Env["AWS_SECRET_ACCESS_KEY"], c.h.Env["AWS_REGION"] = "test", "test", "us-east-1"
	c.deploy("v1")

	mu.Lock()
	readOnly = true
	mu.Unlock()
	// With the passphrase, and without it, as preview.yml runs.
	for _, noPassphrase := range []bool{false, true} {
		c.noPassphrase = noPassphrase
		for _, v := range []string{"v2", "v1"} {
			if r := c.run("preview", "--env", "dev", "--version", v, "--format", "json"); r.code != 0 || strings.Contains(r.out, `"redacted": true`) != noPassphrase {
				t.Errorf("preview of %s with read-only access to the state (no passphrase: %v): %s", v, noPassphrase, r)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) > 0 {
		t.Errorf("the previews asked to write to the state backend: %v", refused)
	}
}
