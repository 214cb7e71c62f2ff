package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// TestCLIGCExpired: an env deployed with --ttl shows its expiry and, once
// past it, is destroyed by gc --expired (a dry run first lists it and
// destroys nothing), while an env without a TTL, and one that expires
// later, are left alone. On the way, the three envs, which differ in their
// ports only, show one artifact in status and side by side in envs.
func TestCLIGCExpired(t *testing.T) {
	t.Parallel()
	c := newCLIEnv(t)
	c.deploy("v1")
	// Review envs: the same definition, each on a port of its own.
	c.addEnv("rev1")
	c.addEnv("rev2")
	gate := []string{"--version", "v1", "--gate-count", "3", "--gate-timeout", "5s"}
	start := time.Now()
	c.must(append([]string{"deploy", "--env", "rev1", "--ttl", "1s"}, gate...)...)
	c.must(append([]string{"deploy", "--env", "rev2", "--ttl", "72h"}, gate...)...)

	var st orchestrator.Status
	if r := c.must("status", "--env", "rev2", "--json"); json.Unmarshal([]byte(r.out), &st) != nil || st.Expires == nil ||
		st.Expires.Before(start.Add(72*time.Hour-time.Minute)) || st.Expires.After(time.Now().Add(72*time.Hour)) {
		t.Errorf("status of rev2 deployed with --ttl 72h: expires %v, want 72h after its deploy\n%s", st.Expires, r)
	}
	if r := c.must("status", "--env", "rev2"); !strings.Contains(r.out, "expires") {
		t.Errorf("status of rev2 does not show its expiry:\n%s", r.out)
	}
	dev := c.status()
	if dev.Expires != nil {
		t.Errorf("env dev, deployed without --ttl, expires at %v", dev.Expires)
	}
	// The envs differ in config (their ports), so their versions differ,
	// but they run one artifact: the app's build context, hashed alone.
	if len(dev.Versions) != 1 || len(st.Versions) != 1 || dev.Versions[0].Artifact == "" || dev.Versions[0].Artifact != st.Versions[0].Artifact ||
		dev.Versions[0].Image == "" || st.Versions[0].Image == "" {
		t.Errorf("dev's versions %+v and rev2's %+v: want one each, with one artifact id and an image each", dev.Versions, st.Versions)
	}

	// Side by side: three envs, one artifact, their ports the one
	// difference of their definitions.
	var envs orchestrator.EnvsResult
	if r := c.must("envs", "--json"); json.Unmarshal([]byte(r.out), &envs) != nil || len(envs.Envs) != 3 || !envs.SameArtifact ||
		len(envs.Differences) != 1 || envs.Differences[0].Key != "phoenix:port" || len(envs.Differences[0].Values) != 3 {
		t.Errorf("envs --json: %+v, want dev, rev1 and rev2 with one artifact and phoenix:port their one difference\n%s", envs, r)
	}
	if r := c.must("envs"); !strings.Contains(r.out, "artifact: the same in every env") || !strings.Contains(r.out, "phoenix:port") {
		t.Errorf("envs:\n%s", r.out)
	}
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))

	ops := len(c.h.Cloud.Ops())
	r := c.must("gc", "--expired", "--dry-run")
	if !strings.Contains(r.out, "env rev1 expired at") || !strings.Contains(r.out, "would destroy") || strings.Contains(r.out, "rev2") || strings.Contains(r.out, "env dev") {
		t.Errorf("gc --expired --dry-run: want rev1 alone listed:\n%s", r.out)
	}
	if got := len(c.h.Cloud.Ops()); got != ops {
		t.Errorf("the dry run changed the cloud %d times", got-ops)
	}

	// An expired env whose config file is not in the checkout: named, with
	// the way to make it, and nothing destroyed; the next run does it.
	rev1 := filepath.Join(c.project, "Pulumi.rev1.yaml")
	saved, err := os.ReadFile(rev1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(rev1); err != nil {
		t.Fatal(err)
	}
	if r := c.run("gc", "--expired"); r.code != 1 || !strings.Contains(r.out+r.errOut, "Pulumi.rev1.yaml is not in this checkout") || len(c.h.Cloud.Ops()) != ops {
		t.Errorf("gc --expired without the expired env's config file: want exit 1 naming the file and nothing changed\n%s", r)
	}
	if err := os.WriteFile(rev1, saved, 0o644); err != nil {
		t.Fatal(err)
	}

	r = c.must("gc", "--expired", "--json")
	var res orchestrator.ExpiredResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || len(res.Envs) != 1 || res.Envs[0].Env != "rev1" || !res.Envs[0].Destroyed || res.Kept != 1 {
		t.Errorf("gc --expired: %+v (%v), want rev1 destroyed and one env kept\n%s", res, err, r)
	}
	if r := c.must("status", "--env", "rev1", "--json"); !strings.Contains(r.out, `"deployed": false`) {
		t.Errorf("rev1 after gc --expired:\n%s", r.out)
	}
	for _, env := range []string{"dev", "rev2"} {
		var st orchestrator.Status
		if r := c.must("status", "--env", env, "--json"); json.Unmarshal([]byte(r.out), &st) != nil || st.Live != "v1" || len(st.Versions) != 1 {
			t.Errorf("env %s after gc --expired: %+v, want it untouched", env, st)
		}
	}
	for _, res := range c.h.Cloud.Find("docker:index/container:Container", "rev1-") {
		t.Errorf("a container of the expired env is left: %s", res.Name)
	}
	if r := c.must("gc", "--expired"); !strings.Contains(r.out, "no expired envs (1 expire later)") {
		t.Errorf("gc --expired run again:\n%s", r.out)
	}
}
