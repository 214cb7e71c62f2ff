package tests

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/internal/cli"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
	"github.com/phoenix-iac/phoenix/stacks"
	"github.com/phoenix-iac/phoenix/tests/simcloud"
)

// serving returns the version the load balancer's production route answers
// from.
func (c *cliEnv) serving() string {
	c.t.Helper()
	resp, err := http.Get(c.url() + "/healthz")
	if err != nil {
		c.t.Fatalf("asking the load balancer: %v", err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Phoenix-Version")
}

func (c *cliEnv) url() string {
	return "http://127.0.0.1:" + strconv.Itoa(c.lb.port)
}

// failPointer makes the traffic pointer's next change fail, after letting
// after of them pass. The docker pointer is replaced delete-before-create,
// so its create is what fails, as it would on a Docker engine that went
// away in between.
func (c *cliEnv) failPointer(after int) {
	c.h.Cloud.ClearFaults()
	c.h.Cloud.Inject(simcloud.Fault{Kind: "create", Type: "docker:index/container:Container", NameContains: "-pointer", After: after, Times: 1, Err: "Cannot connect to the Docker daemon"})
}

// TestCLIFailedPointerUpdatesTellTheTruth fails the traffic pointer's
// update in a rollback, a promotion and a canary step. Each time, status
// reports what the load balancer serves, and the same command run again
// succeeds.
func TestCLIFailedPointerUpdatesTellTheTruth(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.deploy("v2")
	// check compares status and the load balancer with live and the
	// candidate route's version.
	check := func(when, live, candidate string) {
		t.Helper()
		st := c.status()
		if st.Live != live || st.Candidate != candidate || st.CandidateWeight != 0 {
			t.Errorf("%s: status says live %q candidate %q weight %d, want live %s candidate %q", when, st.Live, st.Candidate, st.CandidateWeight, live, candidate)
		}
		if got := c.serving(); got != live {
			t.Errorf("%s: the load balancer serves %q, want %s", when, got, live)
		}
	}

	// A forced rollback whose pointer update fails.
	c.failPointer(0)
	if r := c.run("rollback", "--env", "dev", "--to", "v1", "--force"); r.code == 0 || !strings.Contains(r.errOut, "phoenix rollback --env dev --to v1") {
		t.Fatalf("rollback with a failing pointer: %s", r)
	}
	check("after the failed rollback", "v2", "")
	if w := c.status().Warning; !strings.Contains(w, "rollback from v2 to v1") || !strings.Contains(w, "finish it with: phoenix rollback --env dev --to v1") {
		t.Errorf("status warning after the failed rollback: %q", w)
	}
	if r := c.run("rollback", "--env", "dev", "--to", "v2"); r.code == 0 && !strings.Contains(r.out, "already live") {
		t.Errorf("rollback to v2 after the failed rollback: %s", r)
	}
	c.must("rollback", "--env", "dev", "--to", "v1", "--force")
	// A forced rollback changes live only: the candidate route still
	// names v2, as it did.
	check("after the rollback run again", "v1", "v2")

	// A promotion that fails: the candidate route was set (1st pointer
	// change), the promotion (2nd) fails, the restore (3rd) works.
	c.failPointer(1)
	if r := c.run("deploy", "--env", "dev", "--version", "v3", "--gate-count", "2", "--gate-timeout", "5s"); r.code != cli.ExitChangeFailed {
		t.Fatalf("deploy with a failing promotion: %s", r)
	}
	check("after the failed promotion", "v1", "")
	c.deploy("v3")
	check("after the deploy run again", "v3", "")

	// A canary step that fails, and the restore after it too: the
	// candidate route still holds v4, and status says so.
	c.h.Cloud.ClearFaults()
	c.h.Cloud.Inject(simcloud.Fault{Kind: "create", Type: "docker:index/container:Container", NameContains: "-pointer", After: 1, Err: "Cannot connect to the Docker daemon"})
	r := c.run("deploy", "--env", "dev", "--version", "v4", "--canary", "50", "--step-wait", "10ms", "--analysis=false", "--gate-count", "2", "--gate-timeout", "5s", "--keep-failed")
	if r.code != cli.ExitChangeFailed || !strings.Contains(r.errOut, "phoenix rollback --env dev --to v3 --force") {
		t.Fatalf("deploy with a failing canary step and restore: %s", r)
	}
	if st := c.status(); st.Live != "v3" || st.Candidate != "v4" || st.CandidateWeight != 0 {
		t.Errorf("after the failed canary: status says live %q candidate %q weight %d; the pointer holds v3 live and v4 on the candidate route", st.Live, st.Candidate, st.CandidateWeight)
	}
	if got := c.serving(); got != "v3" {
		t.Errorf("after the failed canary the load balancer serves %q, want v3", got)
	}
	if w := c.status().Warning; !strings.Contains(w, "phoenix rollback --env dev --to v3 --force") {
		t.Errorf("status warning after the failed restore: %q", w)
	}
	c.h.Cloud.ClearFaults()
	c.must("rollback", "--env", "dev", "--to", "v3", "--force")
	check("after the advised rollback", "v3", "")
	if w := c.status().Warning; w != "" {
		t.Errorf("status still warns after the repair: %q", w)
	}
	c.must("deploy", "--env", "dev", "--version", "v4", "--canary", "50", "--step-wait", "10ms", "--analysis=false", "--gate-count", "2", "--gate-timeout", "5s")
	check("after the canary deploy run again", "v4", "")
}

// TestCLIFailedFirstEnvUp: when the env stack's first up fails, the env
// does not count as deployed, and the next deploy creates it.
func TestCLIFailedFirstEnvUp(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.failPointer(0)
	if r := c.run("deploy", "--env", "dev", "--version", "v1"); r.code == 0 {
		t.Fatalf("deploy with a failing env stack: %s", r)
	}
	if st := c.status(); st.Deployed {
		t.Errorf("an env stack whose first up failed counts as deployed: %+v", st)
	}
	r := c.deploy("v1")
	if !strings.Contains(r.errOut, "creating env stack dev") {
		t.Errorf("the second deploy did not create the env: %s", r)
	}
	if got := c.serving(); got != "v1" {
		t.Errorf("the load balancer serves %q, want v1", got)
	}
}

// TestCLIIncompleteVersions: a version stack whose first up failed is not a
// version: status lists it as incomplete, rollback refuses it, the next
// deploy of it finishes it, and gc removes one left behind.
func TestCLIIncompleteVersions(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.h.Cloud.Inject(simcloud.Fault{Kind: "create", Type: "docker:index/container:Container", NameContains: "dev-v2-1", Times: 1, Err: "no space left on device"})
	if r := c.run("deploy", "--env", "dev", "--version", "v2", "--keep-failed"); r.code != cli.ExitChangeFailed {
		t.Fatalf("deploy with a failing replica: %s", r)
	}
	roles := map[string]string{}
	for _, v := range c.status().Versions {
		roles[v.Version] = v.Role
	}
	if roles["v2"] != "incomplete" || roles["v1"] != "live" {
		t.Errorf("roles %v, want v1 live and v2 incomplete", roles)
	}
	if r := c.run("rollback", "--env", "dev", "--to", "v2", "--force"); r.code != cli.ExitNotFound || !strings.Contains(r.errOut, "incomplete") {
		t.Errorf("rollback to an incomplete version: %s", r)
	}
	r := c.deploy("v2")
	if !strings.Contains(r.errOut, "dev.v2 is incomplete") || !strings.Contains(r.errOut, "resuming it") {
		t.Errorf("deploy of an incomplete version did not say it resumed it: %s", r)
	}
	if got := c.serving(); got != "v2" {
		t.Errorf("the load balancer serves %q, want v2", got)
	}

	// gc destroys an incomplete version even when retention would keep it.
	c.h.Cloud.Inject(simcloud.Fault{Kind: "create", Type: "docker:index/container:Container", NameContains: "dev-v3-0", Times: 1, Err: "no space left on device"})
	if r := c.run("deploy", "--env", "dev", "--version", "v3", "--keep-failed"); r.code != cli.ExitChangeFailed {
		t.Fatalf("deploy with a failing replica: %s", r)
	}
	r = c.must("gc", "--env", "dev", "--keep", "5")
	if !strings.Contains(r.out, "destroyed v3") {
		t.Errorf("gc did not destroy the incomplete v3: %s", r)
	}
	if c.versionsInCloud()["v3"] {
		t.Error("v3's containers are still in the cloud after gc")
	}
}

// TestCLIGCOrphans: gc --orphans finds what carries the env's labels but no
// stack holds; a dry run removes nothing, a real run removes only that, and
// never what an env of the same name of another backend (another checkout,
// on the same engine) holds.
func TestCLIGCOrphans(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	mine := stacks.Owner{Project: orchestrator.ProjectName, Backend: stacks.BackendID(c.h.Env["PULUMI_BACKEND_URL"], "organization")}
	labels := func(version string, owner stacks.Owner) resource.PropertyValue {
		l := map[string]string{stacks.LabelEnv: "dev", stacks.LabelVersion: version}
		maps.Copy(l, owner.Labels())
		var out []resource.PropertyValue
		for _, k := range slices.Sorted(maps.Keys(l)) {
			out = append(out, resource.NewObjectProperty(resource.PropertyMap{"label": resource.NewStringProperty(k), "value": resource.NewStringProperty(l[k])}))
		}
		return resource.NewArrayProperty(out)
	}
	orphan, err := c.h.Cloud.Plant("docker:index/container:Container", "dev-v9-0", resource.PropertyMap{
		"name": resource.NewStringProperty("dev-v9-0-4f2a1c"), "image": resource.NewStringProperty("sha256:0"), "labels": labels("v9", mine),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Env dev of another checkout, whose state is elsewhere: not an orphan
	// of this one, though no stack here holds it.
	other := stacks.Owner{Project: orchestrator.ProjectName, Backend: "file:///home/someone/else/.phoenix/state"}
	if _, err := c.h.Cloud.Plant("docker:index/container:Container", "dev-v9-0", resource.PropertyMap{
		"name": resource.NewStringProperty("dev-v9-0-77e0b1"), "image": resource.NewStringProperty("sha256:0"), "labels": labels("v9", other),
	}); err != nil {
		t.Fatal(err)
	}
	// Nor is an unlabelled one (an env created before owner labels).
	if _, err := c.h.Cloud.Plant("docker:index/container:Container", "dev-v8-0", resource.PropertyMap{
		"name": resource.NewStringProperty("dev-v8-0-0c3d9e"), "image": resource.NewStringProperty("sha256:0"), "labels": labels("v8", stacks.Owner{}),
	}); err != nil {
		t.Fatal(err)
	}
	// Another env's resource is not this env's orphan.
	if _, err := c.h.Cloud.Plant("docker:index/volume:Volume", "qa-v1-data", resource.PropertyMap{
		"labels": resource.NewArrayProperty([]resource.PropertyValue{resource.NewObjectProperty(resource.PropertyMap{"label": resource.NewStringProperty("phoenix.env"), "value": resource.NewStringProperty("qa")})}),
	}); err != nil {
		t.Fatal(err)
	}
	before := len(c.h.Cloud.Inventory())

	r := c.must("gc", "--env", "dev", "--orphans", "--dry-run")
	if !strings.Contains(r.out, "1 orphan(s); would remove") || !strings.Contains(r.out, "container dev-v9-0-4f2a1c ("+orphan.ID+") version v9") {
		t.Errorf("dry run: %s", r)
	}
	if !strings.Contains(r.errOut, "leaving alone 1 resource(s) labelled phoenix.env=dev that are not this env's (phoenix.project=phoenix phoenix.backend=file:///home/someone/else/.phoenix/state") ||
		!strings.Contains(r.errOut, "leaving alone 1 resource(s) labelled phoenix.env=dev that are not this env's (no owner labels") {
		t.Errorf("dry run does not say which resources of env dev it leaves alone, and why: %s", r)
	}
	if got := len(c.h.Cloud.Inventory()); got != before {
		t.Fatalf("a dry run changed the cloud: %d resources, was %d", got, before)
	}

	r = c.must("gc", "--env", "dev", "--orphans")
	if !strings.Contains(r.out, "removed:") || !strings.Contains(r.out, orphan.ID) {
		t.Errorf("gc --orphans: %s", r)
	}
	if got := len(c.h.Cloud.Inventory()); got != before-1 {
		t.Errorf("gc --orphans left %d resources of %d, want exactly the orphan removed", got, before)
	}
	if _, ok := findID(c.h.Cloud, orphan.ID); ok {
		t.Error("the orphan is still in the cloud")
	}
	if got := c.serving(); got != "v1" {
		t.Errorf("after gc --orphans the load balancer serves %q, want v1", got)
	}
	r = c.must("gc", "--env", "dev", "--orphans", "--dry-run")
	if !strings.Contains(r.out, "no orphans") {
		t.Errorf("second dry run: %s", r)
	}
}

func findID(cloud *simcloud.Cloud, id string) (simcloud.Resource, bool) {
	for _, r := range cloud.Inventory() {
		if r.ID == id {
			return r, true
		}
	}
	return simcloud.Resource{}, false
}

// TestCLIRollbackRefusesAStoppedReplica: a warm version whose replica was
// stopped (as the Docker provider reads it: gone) is drift, and a verified
// rollback to it is refused while live stays.
func TestCLIRollbackRefusesAStoppedReplica(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	c.deploy("v2")
	replica := c.h.Cloud.Find("docker:index/container:Container", "dev-v1-0")[0]
	if err := c.h.Cloud.Stop(replica.ID); err != nil {
		t.Fatal(err)
	}
	r := c.run("rollback", "--env", "dev", "--to", "v1")
	if r.code != cli.ExitChangeFailed || !strings.Contains(r.errOut, "dev.v1 has drifted (delete dev-v1-0") {
		t.Fatalf("rollback to a version with a stopped replica: %s", r)
	}
	if got := c.serving(); got != "v2" {
		t.Errorf("after the refused rollback the load balancer serves %q, want v2", got)
	}
}

// TestCLIEmptyAttributeFile: a pulumi killed while the file backend wrote
// an object can leave that object's attribute file empty (the store
// truncates it, then writes it, then renames the object into place), and
// every Pulumi read of the stack then fails with "EOF". phoenix removes
// the empty attribute file, says so, and goes on.
func TestCLIEmptyAttributeFile(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	dir := filepath.Join(strings.TrimPrefix(c.h.Env["PULUMI_BACKEND_URL"], "file://"), ".pulumi", "stacks", orchestrator.ProjectName)
	for _, f := range []string{"dev.json.attrs", "dev.v1.json.attrs"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := c.must("status", "--env", "dev")
	if !strings.Contains(r.out, "v1") || !strings.Contains(r.errOut, "dev.v1.json.attrs: an empty attribute file that a killed pulumi left") {
		t.Errorf("status with empty attribute files: %s", r)
	}
	c.deploy("v2")
	if got := c.serving(); got != "v2" {
		t.Errorf("after the repair, deploy v2: production serves %q", got)
	}
}

// TestCLIHalfWrittenLock: a pulumi killed while it wrote a stack's lock
// leaves the file store's temporary file (<lock>.json.<n>.tmp) in the
// stack's lock folder, which every later pulumi command on the stack reads
// as another holder's lock and fails to parse ("unexpected end of JSON
// input"): a kill point of destroy met it. phoenix removes it, says so,
// and goes on; deploy and destroy both get through.
func TestCLIHalfWrittenLock(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	locks := filepath.Join(strings.TrimPrefix(c.h.Env["PULUMI_BACKEND_URL"], "file://"), ".pulumi", "locks")
	plant := func(stack string) string {
		t.Helper()
		dir := filepath.Join(locks, "organization", orchestrator.ProjectName, stack)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "0b6b5a0e-3f7c-4d3e-9c1e-5d2f0a1b2c3d.json.18a2b3c4d5e6f708.tmp")
		if err := os.WriteFile(path, []byte(`{"pid":4`), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		return path
	}
	planted := plant("dev")
	r := c.run("deploy", "--env", "dev", "--version", "v2", "--gate-count", "2", "--gate-timeout", "10s")
	if r.code != 0 || !strings.Contains(r.errOut, "a lock file that a killed pulumi left half written") {
		t.Fatalf("deploy over a half-written lock of the env stack: %s", r)
	}
	if _, err := os.Stat(planted); !os.IsNotExist(err) {
		t.Errorf("the half-written lock %s is still there (%v)", planted, err)
	}
	if got := c.serving(); got != "v2" {
		t.Errorf("after the repair, deploy v2: production serves %q", got)
	}
	plant("dev")
	if r := c.run("destroy", "--env", "dev", "--yes"); r.code != 0 || !strings.Contains(r.errOut, "half written") {
		t.Errorf("destroy over a half-written lock: %s", r)
	}
}
