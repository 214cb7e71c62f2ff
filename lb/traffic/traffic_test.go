package traffic

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, table, want string
	}{
		{"not JSON", `{`, "not valid JSON"},
		{"unknown field", `{"format":1,"env":"dev","weight":5}`, "unknown field"},
		{"other format", `{"format":2,"env":"dev"}`, "format 2"},
		{"no env", `{"format":1}`, "names no env"},
		{"weight over 100", `{"format":1,"env":"dev","live":{"version":"v1","upstreams":["a:1"]},"candidate":{"version":"v2","upstreams":["b:1"]},"candidateWeight":101}`, "outside 0 to 100"},
		{"weight without candidate", `{"format":1,"env":"dev","live":{"version":"v1","upstreams":["a:1"]},"candidateWeight":10}`, "lacks a live or a candidate"},
		{"pool without upstreams", `{"format":1,"env":"dev","live":{"version":"v1","upstreams":[]}}`, "no upstreams"},
		{"pool without version", `{"format":1,"env":"dev","live":{"upstreams":["a:1"]}}`, "without a version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.table)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestChooseSplitsExactly: a weight of w sends exactly w of every 100
// production requests to the candidate, spread out rather than in a burst,
// and the other pool is each one's fallback.
func TestChooseSplitsExactly(t *testing.T) {
	live, cand := &pool{version: "v1"}, &pool{version: "v2"}
	for _, w := range []int{0, 1, 10, 33, 50, 99, 100} {
		s := &snapshot{live: live, candidate: cand, table: &Table{Live: &Pool{Version: "v1"}, Candidate: &Pool{Version: "v2"}, CandidateWeight: w}}
		var picks atomic.Uint64
		got, longest, run := 0, 0, 0
		for range 1000 {
			p, fb := s.choose(&picks)
			if p == cand {
				got++
				run++
				if fb != live {
					t.Fatalf("weight %d: a candidate request falls back on %v, want live", w, fb)
				}
			} else {
				run = 0
				if w > 0 && fb != cand {
					t.Fatalf("weight %d: a live request falls back on %v, want the candidate", w, fb)
				}
			}
			longest = max(longest, run)
		}
		if got != 10*w {
			t.Errorf("weight %d: %d of 1000 requests went to the candidate, want %d", w, got, 10*w)
		}
		if w > 0 && w < 50 && longest > 1 {
			t.Errorf("weight %d: %d candidate requests in a row, want them spread out", w, longest)
		}
	}
	t.Run("a candidate that is live is all of production", func(t *testing.T) {
		s := &snapshot{live: live, candidate: live, table: &Table{Live: &Pool{Version: "v1"}, Candidate: &Pool{Version: "v1"}, CandidateWeight: 50}}
		var picks atomic.Uint64
		if p, fb := s.choose(&picks); p != live || fb != nil {
			t.Errorf("got %v and fallback %v, want live alone", p, fb)
		}
	})
}

func writeTable(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRouter: a new table is in force after the next poll, a bad one and
// a removed file keep the one in force, and an upstream whose health check
// fails leaves the pool's healthy list until it passes again.
func TestRouter(t *testing.T) {
	var sick atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer up.Close()
	addr := strings.TrimPrefix(up.URL, "http://")

	path := filepath.Join(t.TempDir(), "traffic.json")
	r := NewRouter(path, 5*time.Millisecond, HealthCheck{URI: "/healthz", Interval: 20 * time.Millisecond, Timeout: time.Second}, zap.NewNop())
	defer r.Close()
	if s := r.snapshot(); s.table != nil {
		t.Fatalf("a table is in force before any was written: %+v", s.table)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 5s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	good := `{"format":1,"env":"dev","live":{"version":"v1","upstreams":["` + addr + `"]}}`
	writeTable(t, path, good)
	eventually("the first table is in force", func() bool { return r.snapshot().id == ID([]byte(good)) })
	if got := r.snapshot().versionOf[addr]; got != "v1" {
		t.Errorf("the upstream maps to %q, want v1", got)
	}

	writeTable(t, path, `{"format":1,"env":"dev","live":{"version":"v2","upstreams":[]}}`)
	time.Sleep(50 * time.Millisecond)
	if r.snapshot().id != ID([]byte(good)) {
		t.Error("a bad table replaced the good one")
	}
	os.Remove(path)
	time.Sleep(50 * time.Millisecond)
	if r.snapshot().id != ID([]byte(good)) {
		t.Error("removing the file changed the table in force")
	}

	if n := len(r.snapshot().live.healthy()); n != 1 {
		t.Fatalf("%d healthy upstreams, want 1", n)
	}
	sick.Store(true)
	eventually("a failing upstream leaves the healthy list", func() bool { return len(r.snapshot().live.healthy()) == 0 })
	sick.Store(false)
	eventually("a recovered upstream comes back", func() bool { return len(r.snapshot().live.healthy()) == 1 })

	empty := `{"format":1,"env":"dev"}`
	writeTable(t, path, empty)
	eventually("a table with nothing live is in force", func() bool { return r.snapshot().id == ID([]byte(empty)) })
	r.mu.Lock()
	checkers := len(r.checkers)
	r.mu.Unlock()
	if checkers != 0 {
		t.Errorf("%d health checkers still run for upstreams no table names", checkers)
	}
}
