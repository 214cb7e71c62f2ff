// Package iostreams carries the standard streams of the phoenix CLI, so that
// commands never touch os.Stdout or os.Stdin and tests can run them in memory.
package iostreams

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IOStreams are a command's input, output and error output.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, errTTY bool
	color         bool
}

// System returns the process's streams.
func System() *IOStreams {
	errTTY := term.IsTerminal(int(os.Stderr.Fd()))
	_, noColor := os.LookupEnv("NO_COLOR")
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		inTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		errTTY: errTTY,
		color:  errTTY && !noColor && os.Getenv("TERM") != "dumb",
	}
}

// Test returns in-memory streams with no terminal, and the buffers behind them.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// CanPrompt reports whether the user can be asked something.
func (s *IOStreams) CanPrompt() bool { return s.inTTY && s.errTTY }

// ProgressEnabled reports whether live progress should be drawn on ErrOut.
func (s *IOStreams) ProgressEnabled() bool { return s.errTTY }

// ColorEnabled reports whether output may use color (never with NO_COLOR).
func (s *IOStreams) ColorEnabled() bool { return s.color }

// ReadSecret reads a line from the terminal without echo.
func (s *IOStreams) ReadSecret() (string, error) {
	if f, ok := s.In.(*os.File); ok {
		b, err := term.ReadPassword(int(f.Fd()))
		return string(b), err
	}
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
