// Command phoenix-lb runs Caddy for the docker platform and applies each new
// traffic configuration without dropping a request.
//
// A Caddy config load starts new servers and shuts the old ones down, and
// Go's HTTP server drops a request that it reads after its shutdown began:
// a client whose new connection the old server had just accepted got EOF.
// Sharing one listening socket between old and new servers, that happened at
// almost every load. phoenix-lb therefore owns two sockets bound to the same
// address (SO_REUSEPORT), handed to Caddy as fd 3 and fd 4, only one of them
// listening at a time. Each config is loaded on the other one: phoenix-lb
// starts it listening, shuts the old one down for reading, which takes it
// out of the group (the kernel moves connections still queued on it to the
// new socket when net.ipv4.tcp_migrate_req is 1, and with SYN cookies
// always on, net.ipv4.tcp_syncookies=2, no handshake is left half-done
// with it; the docker platform sets both on the container), and then loads
// the config. So the old
// servers accept nothing more while they drain during Caddy's
// shutdown_delay, telling keep-alive clients to close (caddyconfig renders
// that), and they shut down with no request half-read. New connections wait
// in the new socket's queue until the new servers accept them.
//
// The rendered config listens on "fd/3", meaning "the inherited socket";
// phoenix-lb maps it to the socket in use and adds the admin endpoint, a
// unix socket, through which it loads every config after the first.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// inherited is the listen address the rendered config uses for the socket
// phoenix-lb hands over (caddyconfig.InheritedListener).
const inherited = "fd/3"

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	config := flag.String("config", "/etc/phoenix/caddy.json", "Caddy JSON config written by the traffic pointer; watched")
	caddy := flag.String("caddy", "caddy", "the caddy binary")
	admin := flag.String("admin", "", "unix socket for Caddy's admin endpoint (default: in a temporary directory)")
	poll := flag.Duration("poll", 100*time.Millisecond, "how often to look for a new config")
	flag.Parse()
	if err := run(*listen, *config, *caddy, *admin, *poll); err != nil {
		fmt.Fprintln(os.Stderr, "phoenix-lb:", err)
		os.Exit(1)
	}
}

func run(listen, config, caddy, admin string, poll time.Duration) error {
	var socks [2]*os.File
	for i := range socks {
		f, err := bindReusePort(listen)
		if err != nil {
			return fmt.Errorf("binding %s: %w", listen, err)
		}
		socks[i] = f
	}
	l := &launcher{socks: socks}
	if err := l.listen(0); err != nil {
		return err
	}
	for key, want := range map[string]string{"tcp_migrate_req": "1", "tcp_syncookies": "2"} {
		if b, err := os.ReadFile("/proc/sys/net/ipv4/" + key); err != nil || string(bytes.TrimSpace(b)) != want {
			fmt.Fprintf(os.Stderr, "phoenix-lb: net.ipv4.%s is not %s: a connection being opened at the moment of a config load may be reset\n", key, want)
		}
	}
	if admin == "" {
		dir, err := os.MkdirTemp("", "phoenix-lb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		admin = filepath.Join(dir, "admin.sock")
	}
	l.admin = admin
	l.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", admin)
		},
	}}

	raw, sum := waitForConfig(config, poll)
	first, err := l.prepare(raw, 0)
	if err != nil {
		return err
	}
	firstFile := filepath.Join(filepath.Dir(admin), "first.json")
	if err := os.WriteFile(firstFile, first, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(caddy, "run", "--config", firstFile)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = socks[:] // fd 3 and fd 4
	if err := cmd.Start(); err != nil {
		return err
	}
	l.current = raw

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
			return <-exited
		case err := <-exited:
			return err
		case <-tick.C:
			b, err := os.ReadFile(config)
			if err != nil || len(b) == 0 {
				continue
			}
			if s := sha256.Sum256(b); s != sum {
				sum = s
				l.apply(b)
			}
		}
	}
}

// launcher holds the sockets and talks to Caddy's admin endpoint.
type launcher struct {
	socks   [2]*os.File
	active  int    // the listening socket, which Caddy's servers use
	current []byte // the last config loaded
	admin   string
	client  *http.Client
}

// apply loads raw on the socket not in use: start it listening, take the
// old one out (its queued connections move over), then load. If the load
// fails, the last good config is loaded there instead, so that the
// connections waiting on the new socket are served.
func (l *launcher) apply(raw []byte) {
	next := 1 - l.active
	cfg, err := l.prepare(raw, next)
	if err != nil {
		fmt.Fprintf(os.Stderr, "phoenix-lb: the new config was not loaded: %v; keeping the last one\n", err)
		return
	}
	if err := l.listen(next); err != nil {
		fmt.Fprintf(os.Stderr, "phoenix-lb: the new config was not loaded: %v; keeping the last one\n", err)
		return
	}
	if err := l.unlisten(l.active); err != nil {
		fmt.Fprintf(os.Stderr, "phoenix-lb: %v\n", err)
	}
	prev := l.active
	l.active = next
	err = l.load(cfg)
	if err == nil {
		l.current = raw
		return
	}
	fmt.Fprintf(os.Stderr, "phoenix-lb: the new config was not loaded: %v; loading the last one again\n", err)
	good, err := l.prepare(l.current, next)
	if err == nil {
		if err = l.load(good); err == nil {
			return
		}
	}
	// Nothing serves the new socket: go back to the old one.
	fmt.Fprintf(os.Stderr, "phoenix-lb: reloading the last config failed too: %v\n", err)
	l.active = prev
	if err := l.listen(prev); err != nil {
		fmt.Fprintf(os.Stderr, "phoenix-lb: %v\n", err)
	}
	if err := l.unlisten(next); err != nil {
		fmt.Fprintf(os.Stderr, "phoenix-lb: %v\n", err)
	}
}

// prepare maps the inherited listener to socket i and adds the admin endpoint.
func (l *launcher) prepare(raw []byte, i int) ([]byte, error) {
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("the config is not JSON: %w", err)
	}
	cfg["admin"] = map[string]any{"listen": "unix/" + l.admin}
	apps, _ := cfg["apps"].(map[string]any)
	httpApp, _ := apps["http"].(map[string]any)
	servers, _ := httpApp["servers"].(map[string]any)
	for _, s := range servers {
		srv, _ := s.(map[string]any)
		listens, _ := srv["listen"].([]any)
		for j, a := range listens {
			if a == inherited {
				listens[j] = fmt.Sprintf("fd/%d", 3+i)
			}
		}
	}
	return json.Marshal(cfg)
}

// load gives Caddy a config through its admin endpoint. Caddy answers once
// the new servers run and the old ones are shut down.
func (l *launcher) load(cfg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var resp *http.Response
	var err error
	for attempt := 0; ; attempt++ {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, "http://caddy/load", bytes.NewReader(cfg))
		if rerr != nil {
			return rerr
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err = l.client.Do(req)
		// Right after start the admin endpoint may not listen yet.
		if err == nil || attempt == 50 || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("caddy answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// SO_REUSEPORT (asm-generic/socket.h), absent from package syscall.
const soReusePort = 0xf

// listen starts socket i listening (again).
func (l *launcher) listen(i int) error {
	return l.control(i, func(fd int) error { return syscall.Listen(fd, 4096) }, "listening")
}

// unlisten stops socket i listening: shut down for reading, a listening
// socket leaves the SO_REUSEPORT group and its queued connections move to
// another member (with net.ipv4.tcp_migrate_req). It stays bound.
func (l *launcher) unlisten(i int) error {
	return l.control(i, func(fd int) error { return syscall.Shutdown(fd, syscall.SHUT_RD) }, "stopping listening")
}

func (l *launcher) control(i int, f func(fd int) error, what string) error {
	raw, err := l.socks[i].SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("%s on socket %d: %w", what, i, ferr)
	}
	return nil
}

// bindReusePort binds a TCP socket to addr with SO_REUSEPORT, without
// listening on it.
func bindReusePort(addr string) (*os.File, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	family, sa := syscall.AF_INET, syscall.Sockaddr(&syscall.SockaddrInet4{Port: ta.Port})
	if ip4 := ta.IP.To4(); ip4 != nil {
		copy(sa.(*syscall.SockaddrInet4).Addr[:], ip4)
	} else if ta.IP != nil {
		s6 := &syscall.SockaddrInet6{Port: ta.Port}
		copy(s6.Addr[:], ta.IP.To16())
		family, sa = syscall.AF_INET6, s6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, soReusePort, 1); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "phoenix-lb "+addr), nil
}

// waitForConfig waits for the traffic pointer's first config.
func waitForConfig(path string, poll time.Duration) ([]byte, [32]byte) {
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b, sha256.Sum256(b)
		}
		time.Sleep(poll)
	}
}
