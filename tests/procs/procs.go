// Package procs runs the servers that tests start as child processes (moto,
// Azurite): each on a free loopback port, in a process group of its own
// that the test kills when it ends, so that nothing outlives it.
package procs

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Serve starts cmd, a server of what (such as "moto"), in a process group
// of its own, kills that group when t ends, and returns once 127.0.0.1:port
// answers. It fails t with the server's output, and hint (how to install
// it), when the server exits first or does not answer within 30 s.
func Serve(t testing.TB, what string, cmd *exec.Cmd, port int, hint string) {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), what+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s): %v", what, hint, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s exited before it answered on %s (%s):\n%s", what, addr, hint, b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s did not answer on %s within 30s (%s):\n%s", what, addr, hint, b)
		}
	}
}
