package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-iac/phoenix/internal/dashboard"
	"github.com/phoenix-iac/phoenix/internal/lease"
	"github.com/phoenix-iac/phoenix/internal/orchestrator"
)

// DashboardOptions are the options of phoenix dashboard.
type DashboardOptions struct {
	Global   *GlobalOptions
	Listen   string
	Public   bool
	Interval time.Duration
}

func newDashboardCmd(f *Factory, g *GlobalOptions, runF func(context.Context, *DashboardOptions) error) *cobra.Command {
	opts := &DashboardOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a live, read-only web page of the project's envs",
		Long: `Dashboard serves a web page of every env of the project: its platform and
URL, the traffic split between live and candidate, who holds its lease,
when it expires, its versions (role, age, artifact, image), each version's
production traffic drawn over time (requests, error rate, p50 and p99,
from the load balancer's records that a deploy's canary analysis judges),
the verdicts of its canary steps and its history of cut-overs. A version's
page shows its stack, resources, cut-overs and newest log lines. The page
updates itself (server-sent events) while deploys, canaries and rollbacks
run from this or any other machine that shares the backend; its state is
read again every --interval, its traffic every second.

The page and its script are in the phoenix binary: it needs no network.
It changes nothing. It listens on loopback (127.0.0.1:9000) unless told
otherwise; an address other machines can reach needs --public as well, as
the page shows the envs' URLs, versions and logs to whoever can reach it.

It stops with Ctrl-C. It refuses to start, changing nothing, when the
project has no env (exit 6), when the backend cannot be read, and when
the address is in use.`,
		Example: `  phoenix dashboard                                  # http://127.0.0.1:9000
  phoenix dashboard --listen 127.0.0.1:9090 --interval 10s
  phoenix dashboard --listen 0.0.0.0:9000 --public   # reachable from other machines`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDurations(cmd); err != nil {
				return err
			}
			if err := checkListen(opts.Listen, opts.Public); err != nil {
				return err
			}
			if opts.Interval < time.Second {
				return usagef("--interval %s: at least 1s, such as 5s (each read runs the Pulumi CLI a few times per env)", opts.Interval)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return dashboardRun(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:9000", "the address to serve on, host:port")
	fl.BoolVar(&opts.Public, "public", false, "serve on an address other than loopback, reachable from other machines")
	fl.DurationVar(&opts.Interval, "interval", 5*time.Second, "how often the envs' state is read again")
	return cmd
}

// checkListen refuses an address that is not host:port, and one that other
// machines can reach (any other than loopback) without public.
func checkListen(addr string, public bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return usagef("--listen %q: an address as host:port, such as 127.0.0.1:9000", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usagef("--listen %s: the port %q is not a number from 0 to 65535 (0 picks a free one), such as 127.0.0.1:9000", addr, port)
	}
	if public {
		return nil
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	what := host
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		what = "every interface"
	}
	return usagef("--listen %s would serve the dashboard on %s, reachable from other machines; pass --public as well to mean it, or listen on 127.0.0.1", addr, what)
}

func dashboardRun(ctx context.Context, f *Factory, opts *DashboardOptions) error {
	o, err := f.Orchestrator(ctx, opts.Global)
	if err != nil {
		return err
	}
	_, backend, err := f.backend(opts.Global)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("--listen %s: the address is in use (another dashboard?); stop what holds it or pass another port, such as --listen %s", opts.Listen, nextPort(opts.Listen))
		}
		return fmt.Errorf("--listen %s: %w", opts.Listen, err)
	}
	defer ln.Close()
	reader := &dashboardReader{Orchestrator: o, open: func(ctx context.Context) (*lease.Store, func() error, error) { return f.openLeases(ctx, backend) }}
	defer reader.close()
	srv := dashboard.New(dashboard.Options{Reader: reader, Interval: opts.Interval, Log: f.IO.ErrOut})
	envs, err := srv.Load(ctx)
	if err != nil {
		return fmt.Errorf("reading the project's envs from %s: %w; check --backend (or PULUMI_BACKEND_URL) and that the backend is reachable", redactURL(backend), err)
	}
	if len(envs) == 0 {
		return &orchestrator.NotFoundError{What: fmt.Sprintf("no env of this project has been deployed in %s, so there is nothing to show; deploy one with: phoenix deploy --env dev, or name the backend that holds them with --backend", redactURL(backend))}
	}
	hs := &http.Server{Handler: srv.Handler(dashboard.HandlerOptions{Public: opts.Public}), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		srv.Run(ctx)
	}()
	served := make(chan error, 1)
	go func() {
		defer wg.Done()
		served <- hs.Serve(ln)
	}()
	addr := ln.Addr().String()
	fmt.Fprintf(f.IO.ErrOut, "phoenix dashboard: envs %s at http://%s/ (read-only; Ctrl-C stops it)\n", strings.Join(envs, ", "), addr)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-served:
	}
	cancel()
	shut, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer done()
	hs.Shutdown(shut)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// nextPort is addr with its port one more, for the hint of a port in use.
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	var n int
	if err != nil || func() error { _, err := fmt.Sscan(port, &n); return err }() != nil || n == 0 || n >= 65535 {
		return "127.0.0.1:9001"
	}
	return net.JoinHostPort(host, fmt.Sprint(n+1))
}

// dashboardReader is what the dashboard reads: the orchestrator, and the
// lease store opened at its first use (after the envs were found).
type dashboardReader struct {
	Orchestrator
	open func(context.Context) (*lease.Store, func() error, error)

	once    sync.Once
	store   *lease.Store
	closeFn func() error
	err     error
}

// Lease implements dashboard.Reader: an env's lease, none where the
// backend holds no leases (Pulumi Cloud, which locks its stacks itself).
func (r *dashboardReader) Lease(ctx context.Context, env string) (lease.State, error) {
	r.once.Do(func() { r.store, r.closeFn, r.err = r.open(ctx) })
	if errors.Is(r.err, lease.ErrNotABucket) {
		return lease.State{}, nil
	}
	if r.err != nil {
		return lease.State{}, r.err
	}
	return r.store.Current(ctx, env)
}

func (r *dashboardReader) close() {
	if r.closeFn != nil {
		r.closeFn()
	}
}

// redactURL hides the credentials a backend URL may carry, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("REDACTED")
	return u.String()
}
