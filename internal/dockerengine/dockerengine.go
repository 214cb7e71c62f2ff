// Package dockerengine checks that the Docker engine the docker platform
// will use answers, before phoenix changes anything. It finds the engine as
// the Docker provider does: $DOCKER_HOST, else the default local socket.
package dockerengine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultHost is the engine the Docker provider uses when DOCKER_HOST is unset.
const DefaultHost = "unix:///var/run/docker.sock"

// Host returns the engine address that getenv names.
func Host(getenv func(string) string) string {
	if h := getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return DefaultHost
}

// ErrUnchecked is returned for engine addresses that Ping cannot reach by
// itself (ssh:// hosts, TLS-protected TCP): the provider checks them.
type ErrUnchecked struct{ Host string }

func (e *ErrUnchecked) Error() string {
	return fmt.Sprintf("the Docker engine at %s is not checked before use (only unix:// and plain tcp:// hosts are)", e.Host)
}

// Ping asks the engine at host for its /_ping within timeout. It returns
// nil when the engine answers OK, an *ErrUnchecked for hosts it cannot
// check, and otherwise an error that says how to start an engine.
func Ping(ctx context.Context, host string, tlsVerify bool, timeout time.Duration) error {
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("DOCKER_HOST=%q is not an address such as unix:///var/run/docker.sock or tcp://127.0.0.1:2375", host)
	}
	var dial func(ctx context.Context) (net.Conn, error)
	switch u.Scheme {
	case "unix":
		dial = func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", u.Path)
		}
	case "tcp":
		if tlsVerify {
			return &ErrUnchecked{Host: host}
		}
		dial = func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
		}
	default:
		return &ErrUnchecked{Host: host}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return notAnswering(host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		return notAnswering(host, fmt.Errorf("/_ping answered %s %s", resp.Status, strings.TrimSpace(string(body))))
	}
	return nil
}

func notAnswering(host string, err error) error {
	return fmt.Errorf("the Docker engine at %s does not answer (%v): start Docker (Docker Desktop, or sudo systemctl start docker), or point DOCKER_HOST at a running engine", host, err)
}
