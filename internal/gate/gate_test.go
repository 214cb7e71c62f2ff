package gate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/header"
)

func TestGate(t *testing.T) {
	var n atomic.Int64
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"healthy candidate passes", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Phoenix-Route") != "candidate" {
				w.Header().Set(header.Version, "live")
			} else {
				w.Header().Set(header.Version, "v2")
			}
		}, ""},
		{"answers from another version fail", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(header.Version, "v1")
		}, `answered by version "v1", not "v2"`},
		{"errors fail", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(header.Version, "v2")
			w.WriteHeader(http.StatusBadGateway)
		}, "status 502"},
		{"a flapping version never gets enough in a row", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(header.Version, "v2")
			if n.Add(1)%3 == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}, "consecutive good answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.handler)
			defer ts.Close()
			var told []Result
			res, err := Probe{
				URL: ts.URL, Header: http.Header{"X-Phoenix-Route": {"candidate"}}, Version: "v2",
				Need: 5, Timeout: 500 * time.Millisecond, Interval: 5 * time.Millisecond,
				Progress: func(r Result, _ time.Duration) { told = append(told, r) },
			}.Run(context.Background())
			if tt.wantErr == "" {
				if err != nil || res.Good != 5 {
					t.Fatalf("got %+v, %v; want a pass", res, err)
				}
				// Told of each answer before the last: 1, 2, 3, 4 good.
				if len(told) != 4 || told[3].Good != 4 || told[3].Requests != 4 {
					t.Errorf("progress told %+v, want each of the 4 answers before the pass", told)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestGateWantsTheTable: with Traffic set, answers from the version under
// another traffic table (a canary's share before the promotion) do not
// count; once the table is in force they do.
func TestGateWantsTheTable(t *testing.T) {
	var table atomic.Value
	table.Store("old")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(header.Version, "v2")
		w.Header().Set(header.Traffic, table.Load().(string))
	}))
	defer ts.Close()
	p := Probe{URL: ts.URL, Version: "v2", Traffic: "new", Need: 3, Timeout: 200 * time.Millisecond, Interval: 5 * time.Millisecond}
	if _, err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `routed by traffic table "old", not "new"`) {
		t.Fatalf("got %v, want the old table refused", err)
	}
	table.Store("new")
	if res, err := p.Run(context.Background()); err != nil || res.Good != 3 {
		t.Fatalf("got %+v, %v; want a pass under the new table", res, err)
	}
}
