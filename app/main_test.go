package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRoutes(t *testing.T) {
	s := &server{env: "dev", version: "3f9a1c2e"}
	ts := httptest.NewServer(s.routes())
	defer ts.Close()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := get("/")
	if resp.StatusCode != 200 || !strings.Contains(body, "version=3f9a1c2e") || !strings.Contains(body, "env=dev") {
		t.Errorf("GET / = %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get(VersionHeader); got != "3f9a1c2e" {
		t.Errorf("got %s %q, want 3f9a1c2e", VersionHeader, got)
	}
	if resp, _ := get("/healthz"); resp.StatusCode != 200 || resp.Header.Get(VersionHeader) != "3f9a1c2e" {
		t.Errorf("GET /healthz = %d", resp.StatusCode)
	}
	if resp, _ := get("/nope"); resp.StatusCode != 404 {
		t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
	}
	s.unhealthy.Store(true)
	if resp, _ := get("/healthz"); resp.StatusCode != 503 {
		t.Errorf("unhealthy GET /healthz = %d, want 503", resp.StatusCode)
	}
	if err := probe(ts.URL + "/healthz"); err == nil {
		t.Error("probe of an unhealthy instance succeeded")
	}
}

// TestFaults: the settings that make a version bad where its health check
// cannot see it.
func TestFaults(t *testing.T) {
	s := &server{version: "v2", failEvery: 20, delay: 30 * time.Millisecond}
	ts := httptest.NewServer(s.routes())
	defer ts.Close()
	failed := 0
	start := time.Now()
	for range 40 {
		resp, err := http.Get(ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 500 {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d of 40 requests failed, want every 20th: 2", failed)
	}
	if took := time.Since(start); took < 40*30*time.Millisecond {
		t.Errorf("40 requests took %s, want at least 40 × 30ms", took)
	}
	for range 40 {
		resp, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz answered %d: the faults must not show in the health check", resp.StatusCode)
		}
	}
}
