package lease

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// motoServer runs moto's S3 API on a free loopback port, single-threaded
// so that its conditional writes are atomic under concurrent requests, and
// stops it when the test ends. It returns the port. The test fails, never
// skips, without moto: .ci/run checks it is installed.
func motoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	script := fmt.Sprintf(`from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", %d, DomainDispatcherApplication(create_backend_app), threaded=False)`, port)
	cmd := exec.Command("python3", "-c", script)
	out, err := os.CreateTemp(t.TempDir(), "moto-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto (python3 with moto 5, which .ci/run checks for): %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("moto did not answer on port %d within 30s (is moto installed? python3 -c 'import moto'):\n%s", port, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLeaseOnS3: the lease on a real S3 API, opened with the backend URL
// as the Pulumi CLI takes it: of eight machines that try to take one env's
// lease at once, exactly one gets it, in every round; a missing bucket is
// refused before anything is written.
func TestLeaseOnS3(t *testing.T) {
	port := motoServer(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	ctx := context.Background()
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("state")}); err != nil {
		t.Fatal(err)
	}
	backend := fmt.Sprintf("s3://state/team?endpoint=127.0.0.1:%d&disableSSL=true&s3ForcePathStyle=true&region=us-east-1", port)

	if _, _, err := Open(ctx, strings.Replace(backend, "s3://state", "s3://missing", 1), "phoenix"); err == nil || !strings.Contains(err.Error(), "s3://missing") {
		t.Errorf("a missing bucket: %v, want an error naming the URL", err)
	}

	const machines, rounds = 8, 20
	stores := make([]*Store, machines)
	for i := range stores {
		s, closeFn, err := Open(ctx, backend, "phoenix")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeFn() })
		host := fmt.Sprintf("runner-%d", i)
		s.self = func() Holder { return Holder{User: "ci", Host: host, PID: 1000 + i, Machine: host} }
		stores[i] = s
	}
	var lastToken uint64
	for round := range rounds {
		var mu sync.Mutex
		var won []*Lease
		var refused int
		var wg sync.WaitGroup
		for _, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := s.Acquire(ctx, "prod", "deploy", Options{TTL: time.Minute})
				mu.Lock()
				defer mu.Unlock()
				var held *HeldError
				switch {
				case err == nil:
					won = append(won, l)
				case errors.As(err, &held):
					refused++
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}()
		}
		wg.Wait()
		if len(won) != 1 || refused != machines-1 {
			t.Fatalf("round %d: %d took the lease and %d were refused, want 1 and %d", round, len(won), refused, machines-1)
		}
		if won[0].Token() <= lastToken {
			t.Fatalf("round %d: token %d after %d", round, won[0].Token(), lastToken)
		}
		lastToken = won[0].Token()
		if err := won[0].Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rounds of %d machines at once on S3: one holder each, tokens 1 to %d", rounds, machines, lastToken)
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("state"), Prefix: aws.String("team/" + Prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.Contents); n == 0 || n > 6 {
		t.Errorf("%d lease objects in the bucket after %d rounds, want the last two generations at most", n, rounds)
	}
}
