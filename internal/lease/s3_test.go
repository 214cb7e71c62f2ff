package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/phoenix-iac/phoenix/tests/moto"
)

// TestLeaseOnS3: the lease on a real S3 API, opened with the backend URL
// as the Pulumi CLI takes it: of eight machines that try to take one env's
// lease at once, exactly one gets it, in every round; a missing bucket is
// refused before anything is written.
func TestLeaseOnS3(t *testing.T) {
	srv := moto.Start(t)
	srv.Bucket(t, "state")
	backend, creds := srv.BackendURL("state", "team")
	for _, kv := range creds {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	client := srv.Client()
	machinesAtOnce(t, backend, strings.Replace(backend, "s3://state", "s3://missing", 1), func() int {
		out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("state"), Prefix: aws.String("team/" + Prefix)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents)
	})
}

// machinesAtOnce runs eight machines that try to take one env's lease at
// once, in 20 rounds, on the store at backend: exactly one gets it in each
// round, with a token above the last one, and afterwards objects() (the
// count of lease objects in the store) shows that old generations are
// removed. A missing bucket is refused before anything is written.
func machinesAtOnce(t *testing.T, backend, missing string, objects func() int) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := Open(ctx, missing, "phoenix"); err == nil || !strings.Contains(err.Error(), strings.SplitN(missing, "?", 2)[0]) {
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
	t.Logf("%d rounds of %d machines at once on %s: one holder each, tokens 1 to %d", rounds, machines, backend, lastToken)
	if n := objects(); n == 0 || n > 6 {
		t.Errorf("%d lease objects in the bucket after %d rounds, want the last two generations at most", n, rounds)
	}
}

// BenchmarkLease measures one acquire, renew (check and beat), fence check
// and release of an env lease, on moto's S3 API, fake-gcs-server's GCS API,
// Azurite's Azure Blob API and the file system:
//
//	go test ./internal/lease -run '^$' -bench Lease -benchtime 50x
func BenchmarkLease(b *testing.B) {
	srv := moto.Start(b)
	srv.Bucket(b, "state")
	s3URL, creds := srv.BackendURL("state", "bench")
	for _, kv := range creds {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	gcs := startGCS(b)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "state"})
	b.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcs.URL(), "http://"))
	_, azQuery := azuriteContainer(b, "state")
	for _, backend := range []struct{ name, url string }{
		{"s3", s3URL}, {"gs", "gs://state/bench"}, {"azblob", "azblob://state/bench" + azQuery}, {"file", "file://" + b.TempDir()},
	} {
		b.Run(backend.name, func(b *testing.B) {
			ctx := context.Background()
			store, done, err := Open(ctx, backend.url, "bench")
			if err != nil {
				b.Fatal(err)
			}
			defer done()
			var acquire, renew, fence, release time.Duration
			for i := range b.N {
				env := fmt.Sprintf("env%d", i%4)
				start := time.Now()
				l, err := store.Acquire(ctx, env, "bench", Options{TTL: time.Hour})
				acquire += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				if err := l.renew(ctx); err != nil {
					b.Fatal(err)
				}
				renew += time.Since(start)
				start = time.Now()
				if err := l.Check(ctx); err != nil {
					b.Fatal(err)
				}
				fence += time.Since(start)
				start = time.Now()
				if err := l.Release(ctx); err != nil {
					b.Fatal(err)
				}
				release += time.Since(start)
			}
			for name, d := range map[string]time.Duration{"acquire": acquire, "renew": renew, "fence": fence, "release": release} {
				b.ReportMetric(float64(d.Microseconds())/float64(b.N)/1000, name+"-ms/op")
			}
		})
	}
}
