// Package dockerengine talks to the Docker engine that the docker platform
// uses, over the engine's HTTP API: it checks that the engine answers before
// phoenix changes anything, and lists and removes what carries phoenix's
// labels (for gc --orphans), and streams containers' output (phoenix logs,
// the canary analysis). It finds the engine as the Docker provider
// does: $DOCKER_HOST, else the default local socket.
package dockerengine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
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

// Client is a connection to one engine.
type Client struct {
	host string
	http *http.Client
}

// New returns a client of the engine at host. It returns an *ErrUnchecked
// for hosts it cannot reach by itself (ssh://, TLS-protected tcp://).
func New(host string, tlsVerify bool) (*Client, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("DOCKER_HOST=%q is not an address such as unix:///var/run/docker.sock or tcp://127.0.0.1:2375", host)
	}
	var network, addr string
	switch u.Scheme {
	case "unix":
		network, addr = "unix", u.Path
	case "tcp":
		if tlsVerify {
			return nil, &ErrUnchecked{Host: host}
		}
		network, addr = "tcp", u.Host
	default:
		return nil, &ErrUnchecked{Host: host}
	}
	return &Client{host: host, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}}, nil
}

// Ping asks the engine at host for its /_ping within timeout. It returns
// nil when the engine answers OK, an *ErrUnchecked for hosts it cannot
// check, and otherwise an error that says how to start an engine.
func Ping(ctx context.Context, host string, tlsVerify bool, timeout time.Duration) error {
	c, err := New(host, tlsVerify)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = c.do(ctx, http.MethodGet, "/_ping", http.StatusOK)
	return err
}

// do sends a request and returns the body of an answer with one of the
// wanted statuses.
func (c *Client) do(ctx context.Context, method, path string, want ...int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, notAnswering(c.host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, notAnswering(c.host, err)
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return body, nil
		}
	}
	if path == "/_ping" {
		return nil, notAnswering(c.host, fmt.Errorf("/_ping answered %s %s", resp.Status, strings.TrimSpace(string(body))))
	}
	return nil, fmt.Errorf("the Docker engine at %s answered %s %s to %s %s", c.host, resp.Status, strings.TrimSpace(string(body)), method, path)
}

// Kinds of objects List and Remove handle, in the order they must be
// removed: a container holds its network and volumes.
const (
	KindContainer = "container"
	KindNetwork   = "network"
	KindVolume    = "volume"
)

// Object is a container, network or volume.
type Object struct {
	Kind   string
	ID     string // a container's or network's id; a volume's name
	Name   string
	Labels map[string]string
}

// List returns the containers (running or not), networks and volumes that
// carry every label in labels.
func (c *Client) List(ctx context.Context, labels map[string]string) ([]Object, error) {
	var filter []string
	for k, v := range labels {
		filter = append(filter, k+"="+v)
	}
	f, err := json.Marshal(map[string][]string{"label": filter})
	if err != nil {
		return nil, err
	}
	q := "filters=" + url.QueryEscape(string(f))
	var out []Object

	body, err := c.do(ctx, http.MethodGet, "/containers/json?all=1&"+q, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var containers []struct {
		ID     string `json:"Id"`
		Names  []string
		Labels map[string]string
	}
	if err := json.Unmarshal(body, &containers); err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	for _, x := range containers {
		name := ""
		if len(x.Names) > 0 {
			name = strings.TrimPrefix(x.Names[0], "/")
		}
		out = append(out, Object{Kind: KindContainer, ID: x.ID, Name: name, Labels: x.Labels})
	}

	body, err = c.do(ctx, http.MethodGet, "/networks?"+q, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var networks []struct {
		ID     string `json:"Id"`
		Name   string
		Labels map[string]string
	}
	if err := json.Unmarshal(body, &networks); err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	for _, x := range networks {
		out = append(out, Object{Kind: KindNetwork, ID: x.ID, Name: x.Name, Labels: x.Labels})
	}

	body, err = c.do(ctx, http.MethodGet, "/volumes?"+q, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var volumes struct {
		Volumes []struct {
			Name   string
			Labels map[string]string
		}
	}
	if err := json.Unmarshal(body, &volumes); err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	for _, x := range volumes.Volumes {
		out = append(out, Object{Kind: KindVolume, ID: x.Name, Name: x.Name, Labels: x.Labels})
	}
	return out, nil
}

// Remove removes one object; a running container is stopped first. An
// object that is already gone is not an error.
func (c *Client) Remove(ctx context.Context, obj Object) error {
	var path string
	switch obj.Kind {
	case KindContainer:
		path = "/containers/" + url.PathEscape(obj.ID) + "?force=1"
	case KindNetwork:
		path = "/networks/" + url.PathEscape(obj.ID)
	case KindVolume:
		path = "/volumes/" + url.PathEscape(obj.ID)
	default:
		return fmt.Errorf("cannot remove a %q", obj.Kind)
	}
	_, err := c.do(ctx, http.MethodDelete, path, http.StatusOK, http.StatusNoContent, http.StatusNotFound)
	return err
}

func notAnswering(host string, err error) error {
	return fmt.Errorf("the Docker engine at %s does not answer (%v): start Docker (Docker Desktop, or sudo systemctl start docker), or point DOCKER_HOST at a running engine", host, err)
}

// LogOptions select a container's output.
type LogOptions struct {
	// Since is the earliest time of the lines wanted; zero for all.
	Since time.Time
	// Tail, when above 0, starts with the last Tail lines.
	Tail int
	// Follow keeps the stream open for new lines until ctx ends.
	Follow bool
	// Stdout and Stderr select the streams.
	Stdout, Stderr bool
	// Timestamps starts each line with the time Docker received it, in
	// RFC 3339 with nanoseconds, and a space.
	Timestamps bool
}

// Streams of a log line.
const (
	Stdout = 1
	Stderr = 2
)

// ContainerState is what the engine says of a container's process: the
// part of GET /containers/{id}/json that explains one that does not serve.
type ContainerState struct {
	// Status is created, running, restarting, exited or dead.
	Status    string
	ExitCode  int
	Error     string
	OOMKilled bool
	// RestartCount is how often the engine restarted it.
	RestartCount int
	// Health is its health check's status (starting, healthy,
	// unhealthy; empty without one), and the output of its last check.
	Health, HealthOutput string
	// FailingStreak is how many checks in a row failed.
	FailingStreak int
}

// Inspect reads a container's state.
func (c *Client) Inspect(ctx context.Context, container string) (ContainerState, error) {
	body, err := c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(container)+"/json", http.StatusOK)
	if err != nil {
		return ContainerState{}, err
	}
	var inspect struct {
		RestartCount int
		State        struct {
			Status    string
			ExitCode  int
			Error     string
			OOMKilled bool
			Health    *struct {
				Status        string
				FailingStreak int
				Log           []struct{ Output string }
			}
		}
	}
	if err := json.Unmarshal(body, &inspect); err != nil {
		return ContainerState{}, fmt.Errorf("inspecting container %s: %w", container, err)
	}
	st := inspect.State
	out := ContainerState{Status: st.Status, ExitCode: st.ExitCode, Error: st.Error, OOMKilled: st.OOMKilled, RestartCount: inspect.RestartCount}
	if h := st.Health; h != nil {
		out.Health, out.FailingStreak = h.Status, h.FailingStreak
		if n := len(h.Log); n > 0 {
			out.HealthOutput = strings.TrimSpace(h.Log[n-1].Output)
		}
	}
	return out, nil
}

// ErrNoImage says that the engine has no image by the name asked for.
var ErrNoImage = errors.New("no such image")

// ImageID returns the id (sha256:...) of the image that ref names in the
// engine: a name:tag, a name@digest or an id. An image the engine does
// not have is ErrNoImage, wrapped.
func (c *Client) ImageID(ctx context.Context, ref string) (string, error) {
	if ref == "" || strings.ContainsAny(ref, " ?#%") {
		return "", fmt.Errorf("%q is not an image reference", ref)
	}
	// The engine takes a reference's slashes as they are.
	body, err := c.do(ctx, http.MethodGet, "/images/"+ref+"/json", http.StatusOK, http.StatusNotFound)
	if err != nil {
		return "", err
	}
	var inspect struct {
		ID      string `json:"Id"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &inspect); err != nil {
		return "", fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	if inspect.ID == "" {
		return "", fmt.Errorf("the Docker engine at %s has no image %s: %w", c.host, ref, ErrNoImage)
	}
	return inspect.ID, nil
}

// Logs calls line with each line of a container's output (without its
// newline), and the stream it came on, until the output ends or, when
// following, ctx ends (then it returns nil). line's slice is reused
// afterwards; an error from line stops the stream and is returned.
func (c *Client) Logs(ctx context.Context, container string, o LogOptions, line func(stream int, line []byte) error) error {
	info, err := c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(container)+"/json", http.StatusOK)
	if err != nil {
		return err
	}
	var inspect struct {
		Config struct{ Tty bool }
	}
	if err := json.Unmarshal(info, &inspect); err != nil {
		return fmt.Errorf("inspecting container %s: %w", container, err)
	}
	q := url.Values{}
	q.Set("stdout", fmt.Sprint(o.Stdout))
	q.Set("stderr", fmt.Sprint(o.Stderr))
	q.Set("follow", fmt.Sprint(o.Follow))
	q.Set("timestamps", fmt.Sprint(o.Timestamps))
	if !o.Since.IsZero() {
		q.Set("since", fmt.Sprintf("%d.%09d", o.Since.Unix(), o.Since.Nanosecond()))
	}
	if o.Tail > 0 {
		q.Set("tail", fmt.Sprint(o.Tail))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+url.PathEscape(container)+"/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && o.Follow {
			return nil
		}
		return notAnswering(c.host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the Docker engine at %s answered %s %s to the logs of %s", c.host, resp.Status, strings.TrimSpace(string(body)), container)
	}
	var err2 error
	if inspect.Config.Tty {
		// A terminal's output is one raw stream.
		err2 = splitLines(resp.Body, func(b []byte) error { return line(Stdout, b) })
	} else {
		err2 = demux(resp.Body, line)
	}
	if err2 != nil && ctx.Err() != nil && o.Follow {
		return nil
	}
	return err2
}

// demux reads Docker's multiplexed stream: frames of an 8-byte header
// (stream, three zero bytes, big-endian length) and their payload, whose
// lines may span frames.
func demux(r io.Reader, line func(stream int, line []byte) error) error {
	var hdr [8]byte
	pending := map[int][]byte{}
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				for s, rest := range pending {
					if len(rest) > 0 {
						if err := line(s, rest); err != nil {
							return err
						}
					}
				}
				return nil
			}
			return err
		}
		stream := int(hdr[0])
		n := binary.BigEndian.Uint32(hdr[4:])
		buf := append(pending[stream], make([]byte, n)...)
		if _, err := io.ReadFull(r, buf[len(buf)-int(n):]); err != nil {
			return err
		}
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			if err := line(stream, buf[:i]); err != nil {
				return err
			}
			buf = buf[i+1:]
		}
		pending[stream] = append([]byte(nil), buf...)
	}
}

func splitLines(r io.Reader, line func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if err := line(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}
