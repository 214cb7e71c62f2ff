package awslogs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// fakeLogs speaks the part of CloudWatch Logs' API the reader uses,
// FilterLogEvents over AWS JSON 1.1 as the SDK sends it, with pages of
// two events.
type fakeLogs struct {
	mu     sync.Mutex
	events []event
}

type event struct {
	Group, Stream, Message string
	At                     time.Time
}

func (f *fakeLogs) add(group, stream, msg string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, event{group, stream, msg, at})
}

func (f *fakeLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "Logs_20140328.FilterLogEvents" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	var in struct {
		LogGroupName, LogStreamNamePrefix, NextToken string
		StartTime                                    *int64
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []event
	for _, e := range f.events {
		if e.Group == in.LogGroupName && strings.HasPrefix(e.Stream, in.LogStreamNamePrefix) && (in.StartTime == nil || e.At.UnixMilli() >= *in.StartTime) {
			match = append(match, e)
		}
	}
	sort.SliceStable(match, func(i, j int) bool { return match[i].At.Before(match[j].At) })
	from := 0
	fmt.Sscan(in.NextToken, &from)
	type outEvent struct {
		EventID       string `json:"eventId"`
		LogStreamName string `json:"logStreamName"`
		Message       string `json:"message"`
		Timestamp     int64  `json:"timestamp"`
	}
	out := struct {
		Events    []outEvent `json:"events"`
		NextToken string     `json:"nextToken,omitempty"`
	}{Events: []outEvent{}}
	for i := from; i < len(match) && i < from+2; i++ {
		e := match[i]
		out.Events = append(out.Events, outEvent{fmt.Sprintf("%s-%d", e.Stream, e.At.UnixNano()), e.Stream, e.Message, e.At.UnixMilli()})
	}
	if from+2 < len(match) {
		out.NextToken = fmt.Sprint(from + 2)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func client(t *testing.T, url string) *cloudwatchlogs.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	return cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(url) })
}

func TestRead(t *testing.T) {
	fake := &fakeLogs{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	fake.add("dev-app", "v2/app/task1", "phoenix-app v2 listening\n", t0)
	fake.add("dev-app", "v2/app/task2", "phoenix-app v2 listening\n", t0.Add(time.Millisecond))
	fake.add("dev-app", "v2/app/task1", "GET /", t0.Add(time.Minute))
	fake.add("dev-app", "v1/app/task9", "an older version", t0.Add(time.Minute))
	fake.add("prod-app", "v2/app/task7", "another env", t0.Add(time.Minute))
	fake.add("dev-app", "v2/app/task2", "long ago", t0.Add(-24*time.Hour))

	var got []string
	err := Read(context.Background(), client(t, srv.URL), Options{Group: "dev-app", Version: "v2", Since: t0}, func(e Event) error {
		got = append(got, e.Stream+": "+e.Message)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v2/app/task1: phoenix-app v2 listening", "v2/app/task2: phoenix-app v2 listening", "v2/app/task1: GET /"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Following: new events come once each, until the context ends.
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, client(t, srv.URL), Options{Group: "dev-app", Version: "v2", Since: t0.Add(time.Minute), Follow: true, Poll: 20 * time.Millisecond}, func(e Event) error {
			lines <- e.Message
			return nil
		})
	}()
	if l := <-lines; l != "GET /" {
		t.Fatalf("first followed line %q", l)
	}
	fake.add("dev-app", "v2/app/task2", "GET /healthz", time.Now())
	select {
	case l := <-lines:
		if l != "GET /healthz" {
			t.Errorf("new line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a new event was not followed")
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("an ended follow returned %v, want nil", err)
	}
	close(lines)
	for l := range lines {
		t.Errorf("a line came twice or late: %q", l)
	}
}
