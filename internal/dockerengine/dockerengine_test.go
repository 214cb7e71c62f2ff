package dockerengine

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveUnix serves handler on a unix socket, as dockerd does.
func serveUnix(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

func TestPing(t *testing.T) {
	ok := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("OK"))
	})
	failing := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "daemon is shutting down", http.StatusServiceUnavailable)
	})
	tcp := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return "tcp://" + ln.Addr().String()
	}()

	tests := []struct {
		name      string
		host      string
		tls       bool
		wantErr   string // "" means no error
		unchecked bool
	}{
		{name: "unix socket answering", host: ok},
		{name: "tcp answering", host: tcp},
		{name: "engine not ready", host: failing, wantErr: "503"},
		{name: "no socket", host: "unix://" + filepath.Join(t.TempDir(), "none.sock"), wantErr: "start Docker"},
		{name: "ssh host", host: "ssh://me@box", unchecked: true},
		{name: "tls tcp host", host: tcp, tls: true, unchecked: true},
		{name: "garbage", host: "::not a url", wantErr: "DOCKER_HOST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Ping(context.Background(), tt.host, tt.tls, 2*time.Second)
			var u *ErrUnchecked
			switch {
			case tt.unchecked:
				if !errors.As(err, &u) {
					t.Errorf("got %v, want an ErrUnchecked", err)
				}
			case tt.wantErr == "":
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
			case err == nil || !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHost(t *testing.T) {
	if got := Host(func(string) string { return "" }); got != DefaultHost {
		t.Errorf("got %q, want %q", got, DefaultHost)
	}
	if got := Host(func(string) string { return "tcp://h:1" }); got != "tcp://h:1" {
		t.Errorf("got %q, want tcp://h:1", got)
	}
}
