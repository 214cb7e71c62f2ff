// Command phoenix-lb starts Caddy for the docker platform. It binds the
// listening socket itself and hands it to Caddy as file descriptor 3 (the
// config listens on "fd/3"), so that the socket lives as long as the
// container: on a config reload Caddy keeps accepting on the same socket
// instead of binding a new SO_REUSEPORT socket and closing the old one,
// which resets connections still queued on it. It waits for the first
// config to appear, runs `caddy run --watch`, and passes signals on.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	config := flag.String("config", "/etc/phoenix/caddy.json", "Caddy JSON config to watch")
	caddy := flag.String("caddy", "caddy", "the caddy binary")
	flag.Parse()
	if err := run(*listen, *config, *caddy); err != nil {
		fmt.Fprintln(os.Stderr, "phoenix-lb:", err)
		os.Exit(1)
	}
}

func run(listen, config, caddy string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	sock, err := ln.(*net.TCPListener).File()
	if err != nil {
		return err
	}
	ln.Close() // sock holds a duplicate of the socket

	for {
		if info, err := os.Stat(config); err == nil && info.Size() > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	cmd := exec.Command(caddy, "run", "--config", config, "--watch")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{sock} // fd 3
	if err := cmd.Start(); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	return cmd.Wait()
}
