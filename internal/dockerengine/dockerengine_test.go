package dockerengine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// frame is one frame of Docker's multiplexed log stream.
func frame(stream byte, payload string) []byte {
	b := []byte{stream, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

// TestLogs: a container's output as the engine sends it, multiplexed
// (lines split across frames, both streams, a last line without its
// newline) or raw for a terminal, comes back a line at a time with its
// stream; the query carries the options; a missing container is an error.
func TestLogs(t *testing.T) {
	var query string
	host := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/containers/mux/json":
			w.Write([]byte(`{"Config":{"Tty":false}}`))
		case "/containers/tty/json":
			w.Write([]byte(`{"Config":{"Tty":true}}`))
		case "/containers/mux/logs":
			query = r.URL.RawQuery
			for _, f := range [][]byte{frame(1, "first li"), frame(2, "an error\n"), frame(1, "ne\nsecond line\nthi"), frame(1, "rd")} {
				w.Write(f)
			}
		case "/containers/tty/logs":
			w.Write([]byte("one\ntwo\n"))
		default:
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
		}
	})
	c, err := New(host, false)
	if err != nil {
		t.Fatal(err)
	}
	read := func(container string, o LogOptions) ([]string, error) {
		var got []string
		err := c.Logs(context.Background(), container, o, func(stream int, line []byte) error {
			got = append(got, fmt.Sprintf("%d:%s", stream, line))
			return nil
		})
		return got, err
	}
	since := time.Unix(1_800_000_000, 5)
	got, err := read("mux", LogOptions{Since: since, Stdout: true, Stderr: true, Timestamps: true, Tail: 10})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2:an error", "1:first line", "1:second line", "1:third"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("multiplexed: got %q, want %q", got, want)
	}
	for _, q := range []string{"since=1800000000.000000005", "stdout=true", "stderr=true", "timestamps=true", "tail=10", "follow=false"} {
		if !strings.Contains(query, q) {
			t.Errorf("query %q lacks %s", query, q)
		}
	}
	if got, err := read("tty", LogOptions{Stdout: true}); err != nil || strings.Join(got, "|") != "1:one|1:two" {
		t.Errorf("terminal: got %q, %v", got, err)
	}
	if _, err := read("gone", LogOptions{Stdout: true}); err == nil || !strings.Contains(err.Error(), "No such container") {
		t.Errorf("a missing container: %v", err)
	}
}

// TestImageID: an image is found by name, by a name with slashes as the
// engine routes it, and by id; one the engine lacks is ErrNoImage.
func TestImageID(t *testing.T) {
	const id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	host := serveUnix(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/images/phoenix-staging:3f9a1c2e/json", "/images/registry.example/team/app:v1/json", "/images/" + id + "/json":
			fmt.Fprintf(w, `{"Id":%q}`, id)
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such image"}`))
		}
	})
	c, err := New(host, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"phoenix-staging:3f9a1c2e", "registry.example/team/app:v1", id} {
		got, err := c.ImageID(context.Background(), ref)
		if err != nil || got != id {
			t.Errorf("ImageID(%s) = %q, %v; want %s", ref, got, err, id)
		}
	}
	if _, err := c.ImageID(context.Background(), "phoenix-prod:gone"); !errors.Is(err, ErrNoImage) {
		t.Errorf("a missing image: got %v, want ErrNoImage", err)
	}
	if _, err := c.ImageID(context.Background(), "a b"); err == nil || errors.Is(err, ErrNoImage) {
		t.Errorf("a bad reference: got %v, want it refused", err)
	}
}
