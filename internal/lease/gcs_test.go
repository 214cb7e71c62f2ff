package lease

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/phoenix-iac/phoenix/tests/procs"
)

// TestLeaseOnGCS: the lease on Google Cloud Storage's JSON API, as served
// by fake-gcs-server (in this process; it applies ifGenerationMatch, the
// precondition of a conditional create, under its lock), reached as
// gcsblob reaches an emulator (STORAGE_EMULATOR_HOST), with a backend URL
// as the Pulumi CLI takes it: gs://bucket/prefix.
func TestLeaseOnGCS(t *testing.T) {
	srv := startGCS(t)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "state"})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	machinesAtOnce(t, "gs://state/team", "gs://missing/team", func() int {
		objs, _, err := srv.ListObjectsWithOptions("state", fakestorage.ListOptions{Prefix: "team/" + Prefix})
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	})
}

// startGCS starts fake-gcs-server on a free loopback port, which is also
// the host it serves object downloads on (the Go client reads objects from
// STORAGE_EMULATOR_HOST/<bucket>/<object>), and stops it when t ends.
func startGCS(t testing.TB) *fakestorage.Server {
	t.Helper()
	port := procs.FreePort(t)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(port), PublicHost: fmt.Sprintf("127.0.0.1:%d", port),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// TestOpenNamesMissingGoogleCredentials: a gs:// backend without any
// Google credentials is refused before anything is written, naming the URL
// and how to give them (gocloud.dev's own opener would print a warning to
// stdout, into --json output, and go on without credentials).
func TestOpenNamesMissingGoogleCredentials(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, k := range []string{"STORAGE_EMULATOR_HOST", "GOOGLE_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"} {
		t.Setenv(k, "")
	}
	_, _, err := Open(context.Background(), "gs://team-state/phoenix", "phoenix")
	if err == nil || !strings.Contains(err.Error(), "gs://team-state/phoenix") || !strings.Contains(err.Error(), "GOOGLE_CREDENTIALS") {
		t.Errorf("got %v, want an error naming the URL and GOOGLE_CREDENTIALS", err)
	}
}
