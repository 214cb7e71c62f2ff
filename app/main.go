// Command phoenix-app is the sample service Phoenix deploys. It answers / with
// its env and version, /healthz with ok, and every response carries an
// X-Phoenix-Version header, so tests and the health gate can tell versions
// apart. Run with -healthcheck it probes a running instance and exits 0 when
// healthy: the container health check of an image with no shell.
//
// Two settings make a version bad in ways its health check does not show,
// to see the canary analysis at work (phoenix:environment sets them):
// PHOENIX_FAIL_EVERY=N answers every Nth request to / with a 500, and
// PHOENIX_DELAY=50ms answers / that much later.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// VersionHeader is the response header that names the serving version.
const VersionHeader = "X-Phoenix-Version"

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe the local instance's /healthz and exit 0 when healthy")
	flag.Parse()

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if *healthcheck {
		if err := probe("http://127.0.0.1:" + port + "/healthz"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(port); err != nil {
		log.Fatal(err)
	}
}

func probe(url string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

func run(port string) error {
	s := &server{env: os.Getenv("PHOENIX_ENV"), version: os.Getenv("PHOENIX_VERSION")}
	if s.version == "" {
		s.version = "unknown"
	}
	if v, _ := strconv.ParseBool(os.Getenv("PHOENIX_UNHEALTHY")); v {
		s.unhealthy.Store(true)
	}
	if v := os.Getenv("PHOENIX_FAIL_EVERY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("PHOENIX_FAIL_EVERY=%q is not a whole number of 1 or more", v)
		}
		s.failEvery = int64(n)
	}
	if v := os.Getenv("PHOENIX_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("PHOENIX_DELAY=%q is not a duration such as 50ms", v)
		}
		s.delay = d
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("HOST"), port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("phoenix-app %s (env %q) listening on %s", s.version, s.env, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Fail health checks first so load balancers stop sending, then drain.
	s.unhealthy.Store(true)
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type server struct {
	env, version string
	unhealthy    atomic.Bool
	failEvery    int64 // every failEvery-th request to / fails; 0 never
	delay        time.Duration
	requests     atomic.Int64
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.unhealthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
		if s.failEvery > 0 && n%s.failEvery == 0 {
			http.Error(w, "failing on purpose (PHOENIX_FAIL_EVERY)", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "phoenix-app env=%s version=%s\n", s.env, s.version)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(VersionHeader, s.version)
		mux.ServeHTTP(w, r)
	})
}
