package orchestrator

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/internal/header"
)

// TestGateTicker: on a terminal the gate redraws one line per answer, the
// good answers so far and the time left, and clears it at the end.
func TestGateTicker(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(header.Version, "v2")
	}))
	defer ts.Close()
	var ticker bytes.Buffer
	o := &Orchestrator{opts: Options{Ticker: &ticker, HTTPClient: ts.Client()}}
	if err := o.probe(context.Background(), ts.URL, "v2", GateOptions{Need: 3, Timeout: time.Minute, interval: time.Millisecond}, nil); err != nil {
		t.Fatal(err)
	}
	got := ticker.String()
	for _, want := range []string{clearLine + "health gate: 1 of 3 good answers from v2, 0:00 gone, 1:00 left", clearLine + "health gate: 2 of 3"} {
		if !strings.Contains(got, want) {
			t.Errorf("the ticker drew %q, without %q", got, want)
		}
	}
	if !strings.HasSuffix(got, clearLine) || strings.Contains(got, "\n") {
		t.Errorf("the ticker drew %q: want one line redrawn, cleared at the end", got)
	}
}
