package orchestrator

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/phoenix-iac/phoenix/stacks"
)

// longOps are the resource types whose operations wait long enough, in a
// version's up, to be drawn on a terminal: the image build of either
// platform (the ECS rollout is waited for by the health gate, which draws
// its own line). Each names what the operation does.
var longOps = map[string]string{
	"docker:index/remoteImage:RemoteImage": "building image",
	"docker:index/image:Image":             "building image",
}

// working are the step operations that do work; a "same" step is instant.
var working = []apitype.OpType{apitype.OpCreate, apitype.OpCreateReplacement, apitype.OpUpdate, apitype.OpReplace}

// statusLine keeps one line of status at the bottom of a terminal, under
// the lines that the engine's progress prints there: each write of the
// progress clears the status first and draws it again once a line is
// complete, so that neither garbles the other.
type statusLine struct {
	mu      sync.Mutex
	term    io.Writer
	text    string // drawn now; "" when none
	midLine bool   // the progress's last write did not end its line
}

// Write passes the engine's progress to the terminal.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if s.text != "" && !s.midLine {
		fmt.Fprint(s.term, clearLine)
	}
	n, err := s.term.Write(p)
	s.midLine = p[len(p)-1] != '\n'
	if s.text != "" && !s.midLine {
		fmt.Fprint(s.term, s.text)
	}
	return n, err
}

// around runs write, which prints whole lines on the terminal, with the
// status cleared before and drawn again after.
func (s *statusLine) around(write func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.text != "" && !s.midLine {
		fmt.Fprint(s.term, clearLine)
	}
	write()
	if s.text != "" && !s.midLine {
		fmt.Fprint(s.term, s.text)
	}
}

// set draws text as the status, "" to clear it.
func (s *statusLine) set(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if text != "" {
		text = fit(text)
	}
	if text == s.text {
		return
	}
	if !s.midLine {
		fmt.Fprint(s.term, clearLine+text)
	}
	s.text = text
}

// longOp is a long operation under way.
type longOp struct {
	what, name, typ string
	start           time.Time
}

// opWatch follows a version's up through its engine events and, on a
// terminal, draws each long operation under way (an image build) with its
// time gone and the time left, estimated from the same operation's last
// duration on this machine (Options.Durations). Without a ticker it does
// nothing: the up runs with the usual options.
type opWatch struct {
	o        *Orchestrator
	stack    stacks.StackName
	line     *statusLine // nil without a ticker
	progress io.Writer   // the engine's progress, through line when they share the terminal
	done     chan struct{}

	mu      sync.Mutex
	drained []chan struct{}   // one per up's event stream, closed once read to its end
	running map[string]longOp // by URN
	last    map[string]time.Duration
	changed bool // last holds a new duration
	stopped bool // the line is cleared for good
}

// watchOps starts an opWatch for the up of stack; stop ends it once the
// up has returned.
func (o *Orchestrator) watchOps(stack stacks.StackName) *opWatch {
	w := &opWatch{o: o, stack: stack, progress: o.opts.Progress}
	if o.opts.Ticker == nil {
		return w
	}
	w.line = &statusLine{term: o.opts.Ticker}
	w.done = make(chan struct{})
	w.running, w.last = map[string]longOp{}, readDurations(o.opts.Durations)
	if sameWriter(w.progress, o.opts.Ticker) {
		w.progress = w.line
	}
	o.status.Store(w.line) // Log writes on the same terminal (Options.Ticker)
	go w.draw()
	return w
}

// sameWriter reports whether a and b are one writer (comparing writers
// whose type is not comparable would panic).
func sameWriter(a, b io.Writer) bool {
	return a != nil && b != nil && reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// upOpts are the options of one up (a retried up needs new ones: the
// Automation API closes each event stream at the end of its up).
func (w *opWatch) upOpts() []optup.Option {
	opts := w.o.upOptsTo(w.progress)
	if w.line == nil {
		return opts
	}
	ch, drained := make(chan events.EngineEvent), make(chan struct{})
	w.mu.Lock()
	w.drained = append(w.drained, drained)
	w.mu.Unlock()
	go func() {
		defer close(drained)
		for e := range ch {
			w.event(e)
		}
	}()
	return append(opts, optup.EventStreams(ch))
}

// stop clears the status line and keeps the durations measured.
func (w *opWatch) stop() {
	if w.line == nil {
		return
	}
	// An up that failed before it ran the engine never closes its stream.
	timeout := time.After(5 * time.Second)
	w.mu.Lock()
	drained := w.drained
	w.mu.Unlock()
	for _, d := range drained {
		select {
		case <-d:
		case <-timeout:
		}
	}
	close(w.done)
	w.o.status.CompareAndSwap(w.line, nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.line.set("")
	if !w.changed {
		return
	}
	if err := writeDurations(w.o.opts.Durations, w.last); err != nil {
		w.o.logf("warning: keeping how long the image build took, for the next estimate: %v", err)
	}
}

// key is what an operation's last duration is kept under: the same kind
// of resource in the env's versions (each builds one image), on this
// project.
func (w *opWatch) key(typ string) string {
	dir, _ := filepath.Abs(w.o.opts.ProjectDir)
	return dir + " " + w.stack.Env + " " + typ
}

func (w *opWatch) event(e events.EngineEvent) {
	var md *apitype.StepEventMetadata
	started := false
	switch {
	case e.ResourcePreEvent != nil:
		md, started = &e.ResourcePreEvent.Metadata, true
	case e.ResOutputsEvent != nil:
		md = &e.ResOutputsEvent.Metadata
	case e.ResOpFailedEvent != nil:
		md = &e.ResOpFailedEvent.Metadata
	default:
		return
	}
	what, ok := longOps[md.Type]
	if !ok || !slices.Contains(working, md.Op) {
		return
	}
	w.mu.Lock()
	if started {
		w.running[md.URN] = longOp{what: what, name: resource.URN(md.URN).Name(), typ: md.Type, start: time.Now()}
	} else if op, ok := w.running[md.URN]; ok {
		delete(w.running, md.URN)
		if e.ResOutputsEvent != nil { // a failed build says nothing of the next one
			w.last[w.key(op.typ)] = time.Since(op.start)
			w.changed = true
		}
	}
	w.mu.Unlock()
	w.redraw() // at once: the line comes and goes with the operation
}

// draw redraws the status each second until the watch stops.
func (w *opWatch) draw() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		w.redraw()
		select {
		case <-w.done:
			return
		case <-t.C:
		}
	}
}

// redraw draws the long operations under way, or clears the line.
func (w *opWatch) redraw() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	var parts []string
	for _, op := range w.running {
		last, known := w.last[w.key(op.typ)]
		parts = append(parts, opTick(op, time.Since(op.start), last, known))
	}
	slices.Sort(parts)
	if len(parts) > 0 {
		w.line.set(w.stack.String() + ": " + strings.Join(parts, " · "))
	} else {
		w.line.set("")
	}
}

// opTick is one long operation's part of the status: what, the time gone
// and the time left as the last one took.
func opTick(op longOp, gone, last time.Duration, known bool) string {
	s := fmt.Sprintf("%s %s, %s gone", op.what, op.name, clock(gone))
	switch {
	case !known:
		return s + " (no earlier one on this machine to estimate the rest)"
	case gone < last:
		return s + fmt.Sprintf(", about %s left (the last took %s)", clock(last-gone), clock(last))
	default:
		return s + fmt.Sprintf(", longer than the last (%s)", clock(last))
	}
}

// readDurations reads the last durations kept in path; none when there is
// no path, no file or one that does not parse (an estimate is a nicety).
func readDurations(path string) map[string]time.Duration {
	d := map[string]time.Duration{}
	if path == "" {
		return d
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return d
	}
	_ = json.Unmarshal(b, &d)
	return d
}

// writeDurations keeps d in path, through a temporary file so that a
// concurrent reader never sees half of it.
func writeDurations(path string, d map[string]time.Duration) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := writeTemp(filepath.Dir(path), ".durations-*", b)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a rename, there is none
	return os.Rename(tmp, path)
}
