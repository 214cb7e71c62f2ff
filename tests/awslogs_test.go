package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/cli"
)

// fakeCloudWatchLogs answers FilterLogEvents, CloudWatch Logs' API over
// AWS JSON 1.1, with the events of one log group.
type fakeCloudWatchLogs struct {
	mu     sync.Mutex
	asked  []string // "group prefix" of each call
	events map[string][]map[string]any
}

func (f *fakeCloudWatchLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "Logs_20140328.FilterLogEvents" {
		http.Error(w, "unexpected request "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
		return
	}
	var in struct{ LogGroupName, LogStreamNamePrefix string }
	json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, in.LogGroupName+" "+in.LogStreamNamePrefix)
	var out []map[string]any
	for _, e := range f.events[in.LogGroupName] {
		if strings.HasPrefix(e["logStreamName"].(string), in.LogStreamNamePrefix) {
			out = append(out, e)
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"events": out})
}

// TestCLILogsOnAWS: phoenix logs on the aws platform reads the version's
// streams in the env's log group, as its stack names it, from an endpoint
// that speaks CloudWatch Logs' API, with the region of the env's config.
func TestCLILogsOnAWS(t *testing.T) {
	c := newCLIEnv(t)
	cfg := fmt.Sprintf("config:\n  phoenix:platform: aws\n  aws:region: eu-west-1\n  phoenix:appPath: %s\n", filepath.Join(c.h.Root, "app"))
	if err := os.WriteFile(filepath.Join(c.project, "Pulumi.dev.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The simulated ALB has no address: the gate fails, the version is kept.
	r := c.run("deploy", "--env", "dev", "--version", "v1", "--gate-count", "1", "--gate-timeout", "1s", "--keep-failed")
	if r.code != 3 {
		t.Fatalf("deploy on aws: %s", r)
	}
	groups := c.h.Cloud.Find("aws:cloudwatch/logGroup:LogGroup", "")
	if len(groups) != 1 {
		t.Fatalf("%d log groups", len(groups))
	}
	group := groups[0].Inputs["name"].StringValue()
	at := time.Now().Add(-time.Minute).UnixMilli()
	fake := &fakeCloudWatchLogs{events: map[string][]map[string]any{group: {
		{"eventId": "1", "logStreamName": "v1/app/0f1e2d3c", "message": "phoenix-app v1 listening", "timestamp": at},
		{"eventId": "2", "logStreamName": "v0/app/9a8b7c6d", "message": "another version", "timestamp": at},
	}}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")

	r = c.must("logs", "--env", "dev", "--version", "v1")
	if !strings.Contains(r.out, "v1 0f1e2d3c | phoenix-app v1 listening") || strings.Contains(r.out, "another version") {
		t.Errorf("phoenix logs on aws printed:\n%s\nwant the v1 stream's line, tagged with the version and task", r.out)
	}
	if len(fake.asked) == 0 || fake.asked[0] != group+" v1/" {
		t.Errorf("asked CloudWatch Logs for %v, want group %s and stream prefix v1/", fake.asked, group)
	}
	// A version that never existed is named as such, not read as silence.
	r = c.run("logs", "--env", "dev", "--version", "v7")
	if r.code != cli.ExitNotFound || !strings.Contains(r.errOut, "dev.v7 does not exist") {
		t.Errorf("logs of a version that does not exist: %s", r)
	}
}
