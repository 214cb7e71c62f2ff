package orchestrator

import (
	"bytes"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/phoenix-iac/phoenix/internal/lockedbuf"
	"github.com/phoenix-iac/phoenix/stacks"
)

// TestStatusLineKeepsProgressWhole: the engine's progress lines and the
// status line share a terminal: each progress line is printed whole on a
// cleared line, and the status is drawn again under it.
func TestStatusLineKeepsProgressWhole(t *testing.T) {
	var term bytes.Buffer
	l := &statusLine{term: &term}
	l.set("building image app, 0:01 gone")
	l.Write([]byte("+  docker:index/remoteImage:RemoteImage app creat"))
	l.set("building image app, 0:02 gone") // mid-line: not drawn
	l.Write([]byte("ing (0s)\n"))
	l.set("")
	want := clearLine + "building image app, 0:01 gone" +
		clearLine + "+  docker:index/remoteImage:RemoteImage app creating (0s)\n" +
		"building image app, 0:02 gone" + clearLine
	if got := term.String(); got != want {
		t.Errorf("the terminal got\n%q\nwant\n%q", got, want)
	}
}

// eventStream is the event stream that an up on a terminal is given.
func eventStream(t *testing.T, w *opWatch) chan<- events.EngineEvent {
	t.Helper()
	for _, opt := range w.upOpts() {
		var u optup.Options
		opt.ApplyOption(&u)
		if len(u.EventStreams) == 1 {
			return u.EventStreams[0]
		}
	}
	t.Fatal("an up on a terminal is given no event stream")
	return nil
}

// TestOpWatch: a version's up on a terminal draws its image build with the
// time gone; the build's duration is kept, and the next build of the
// env's versions is drawn with the time left as the last one took. Other
// resources, and steps that do nothing, draw nothing.
func TestOpWatch(t *testing.T) {
	durations := filepath.Join(t.TempDir(), "phoenix", "durations.json")
	term := &lockedbuf.Buffer{}
	o := &Orchestrator{opts: Options{ProjectDir: t.TempDir(), Ticker: term, Progress: term, Durations: durations}}
	up := func(version string, build time.Duration) string {
		t.Helper()
		w := o.watchOps(stacks.StackName{Env: "dev", Version: version})
		if w.progress != w.line {
			t.Fatalf("the engine's progress is not passed through the status line")
		}
		ch := eventStream(t, w)
		image := apitype.StepEventMetadata{Op: apitype.OpCreate, Type: "docker:index/remoteImage:RemoteImage",
			URN: "urn:pulumi:dev." + version + "::phoenix::phoenix:docker:Version$docker:index/remoteImage:RemoteImage::app-image"}
		same := apitype.StepEventMetadata{Op: apitype.OpSame, Type: image.Type, URN: image.URN + "-old"}
		other := apitype.StepEventMetadata{Op: apitype.OpCreate, Type: "docker:index/container:Container", URN: "urn:pulumi:x::p::docker:index/container:Container::c"}
		for _, md := range []apitype.StepEventMetadata{same, other, image} {
			ch <- events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: md}}}
		}
		time.Sleep(build)
		ch <- events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: image}}}
		close(ch)
		w.stop()
		return term.String()
	}

	first := up("v1", 1500*time.Millisecond)
	if !strings.Contains(first, clearLine+"dev.v1: building image app-image, 0:01 gone (no earlier one on this machine to estimate the rest)") {
		t.Errorf("the first build drew %q", first)
	}
	if strings.Contains(first, "Container") || strings.Count(first, "building image") != strings.Count(first, "app-image") {
		t.Errorf("a resource other than the image build was drawn: %q", first)
	}
	if !strings.HasSuffix(first, clearLine) || strings.Contains(first, "\n") {
		t.Errorf("the status was not one line, cleared at the end: %q", first)
	}
	last := readDurations(durations)
	if len(last) != 1 {
		t.Fatalf("kept durations %v, want the one build", last)
	}
	for _, d := range last {
		if d < 1500*time.Millisecond || d > 10*time.Second {
			t.Errorf("the build took 1.5 s, kept as %s", d)
		}
	}

	second := strings.TrimPrefix(up("v2", 1100*time.Millisecond), first)
	if !regexp.MustCompile(`dev\.v2: building image app-image, 0:0\d gone, about 0:0\d left \(the last took 0:0\d\)`).MatchString(second) {
		t.Errorf("the second build drew %q, want the time left as the first took", second)
	}
}

// TestOpTick: the time left as the last build took, or that it takes
// longer, or that there is nothing to estimate from.
func TestOpTick(t *testing.T) {
	op := longOp{what: "building image", name: "app-image"}
	for _, c := range []struct {
		gone, last time.Duration
		known      bool
		want       string
	}{
		{10 * time.Second, 0, false, "building image app-image, 0:10 gone (no earlier one on this machine to estimate the rest)"},
		{10 * time.Second, 75 * time.Second, true, "building image app-image, 0:10 gone, about 1:05 left (the last took 1:15)"},
		{80 * time.Second, 75 * time.Second, true, "building image app-image, 1:20 gone, longer than the last (1:15)"},
	} {
		if got := opTick(op, c.gone, c.last, c.known); got != c.want {
			t.Errorf("opTick(%s, %s, %t) = %q, want %q", c.gone, c.last, c.known, got, c.want)
		}
	}
}

// TestOpWatchOffTerminal: without a ticker (output that is not a
// terminal, --json) an up gets the usual options and no event stream,
// and nothing is kept.
func TestOpWatchOffTerminal(t *testing.T) {
	var progress bytes.Buffer
	durations := filepath.Join(t.TempDir(), "durations.json")
	o := &Orchestrator{opts: Options{Progress: &progress, Durations: durations}}
	w := o.watchOps(stacks.StackName{Env: "dev", Version: "v1"})
	for _, opt := range w.upOpts() {
		var u optup.Options
		opt.ApplyOption(&u)
		if len(u.EventStreams) > 0 {
			t.Error("an up off a terminal is given an event stream")
		}
		if len(u.ProgressStreams) > 0 && u.ProgressStreams[0] != &progress {
			t.Error("an up off a terminal does not write its progress where asked")
		}
	}
	w.stop()
	if len(readDurations(durations)) != 0 || progress.Len() != 0 {
		t.Error("a watch off a terminal wrote something")
	}
}

// sliceWriter is a writer whose type is not comparable.
type sliceWriter struct{ lines []string }

func (w sliceWriter) Write(p []byte) (int, error) { return len(p), nil }

// TestSameWriter: the progress goes through the status line only when it
// is the ticker's own terminal; writers that cannot be compared are not.
func TestSameWriter(t *testing.T) {
	var a, b bytes.Buffer
	for _, c := range []struct {
		x, y io.Writer
		want bool
	}{
		{&a, &a, true}, {&a, &b, false}, {nil, &a, false}, {sliceWriter{}, sliceWriter{}, false}, {sliceWriter{}, &a, false},
	} {
		if got := sameWriter(c.x, c.y); got != c.want {
			t.Errorf("sameWriter(%T, %T) = %t, want %t", c.x, c.y, got, c.want)
		}
	}
}

// TestLogAboveTheStatusLine: while a version's up draws its status line,
// phoenix's own log lines (a stack lock waited for, say) are printed above
// it on a cleared line, and the status is drawn again under them; after
// the up they are printed as they are.
func TestLogAboveTheStatusLine(t *testing.T) {
	term := &lockedbuf.Buffer{}
	o := &Orchestrator{opts: Options{ProjectDir: t.TempDir(), Ticker: term, Progress: term, Log: term}}
	w := o.watchOps(stacks.StackName{Env: "dev", Version: "v1"})
	ch := eventStream(t, w)
	image := apitype.StepEventMetadata{Op: apitype.OpCreate, Type: "docker:index/remoteImage:RemoteImage",
		URN: "urn:pulumi:dev.v1::phoenix::phoenix:docker:Version$docker:index/remoteImage:RemoteImage::app-image"}
	ch <- events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{Metadata: image}}}
	status := "dev.v1: building image app-image, 0:00 gone (no earlier one on this machine to estimate the rest)"
	for !strings.Contains(term.String(), status) {
		time.Sleep(10 * time.Millisecond)
	}
	o.logf("stack dev.v1 is locked by another pulumi command: waiting")
	ch <- events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOutputsEvent: &apitype.ResOutputsEvent{Metadata: image}}}
	close(ch)
	w.stop()
	o.logf("after")
	got := term.String()
	if want := status + clearLine + "stack dev.v1 is locked by another pulumi command: waiting\n" + status; !strings.Contains(got, want) {
		t.Errorf("the terminal got\n%q\nwithout the log line above the status:\n%q", got, want)
	}
	if !strings.HasSuffix(got, clearLine+"after\n") {
		t.Errorf("the terminal got\n%q\nwant the line after the up printed after the cleared status", got)
	}
}
