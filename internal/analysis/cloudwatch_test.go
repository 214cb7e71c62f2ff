package analysis

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
)

// fakeCloudWatch speaks the part of CloudWatch's API the source uses,
// GetMetricData over Smithy RPC v2 CBOR, as the SDK sends it: it serves
// per-minute data points of AWS/ApplicationELB metrics.
type fakeCloudWatch struct {
	mu     sync.Mutex
	points map[string][]point // "metric stat lb tg" → data points
	calls  int
}

type point struct {
	at    time.Time
	value float64
}

func (f *fakeCloudWatch) add(metric, stat, lb, tg string, at time.Time, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := strings.Join([]string{metric, stat, lb, tg}, " ")
	f.points[k] = append(f.points[k], point{at, v})
}

func (f *fakeCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/service/GraniteServiceVersion20100801/operation/GetMetricData" || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		http.Error(w, "unexpected request "+r.URL.Path, http.StatusBadRequest)
		return
	}
	if !strings.Contains(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		http.Error(w, "unsigned request", http.StatusForbidden)
		return
	}
	b, _ := io.ReadAll(r.Body)
	v, err := cbor.Decode(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in := v.(cbor.Map)
	start, _ := cbor.AsTime(in["StartTime"])
	end, _ := cbor.AsTime(in["EndTime"])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var results cbor.List
	for _, q := range in["MetricDataQueries"].(cbor.List) {
		qm := q.(cbor.Map)
		ms := qm["MetricStat"].(cbor.Map)
		m := ms["Metric"].(cbor.Map)
		dims := map[string]string{}
		for _, d := range m["Dimensions"].(cbor.List) {
			dm := d.(cbor.Map)
			dims[string(dm["Name"].(cbor.String))] = string(dm["Value"].(cbor.String))
		}
		if m["Namespace"].(cbor.String) != "AWS/ApplicationELB" {
			http.Error(w, "namespace", http.StatusBadRequest)
			return
		}
		k := strings.Join([]string{string(m["MetricName"].(cbor.String)), string(ms["Stat"].(cbor.String)), dims["LoadBalancer"], dims["TargetGroup"]}, " ")
		var values cbor.List
		var stamps cbor.List
		for _, p := range f.points[k] {
			if !p.at.Before(start) && p.at.Before(end) {
				values = append(values, cbor.Float64(p.value))
				stamps = append(stamps, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(p.at.Unix()))})
			}
		}
		results = append(results, cbor.Map{"Id": qm["Id"], "Label": m["MetricName"], "Values": values, "Timestamps": stamps, "StatusCode": cbor.String("Complete")})
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Write(cbor.Encode(cbor.Map{"MetricDataResults": results}))
}

func TestCloudWatchSource(t *testing.T) {
	fake := &fakeCloudWatch{points: map[string][]point{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	client := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(srv.URL) })

	const lb = "app/dev/50dc6c495c0c9188"
	tgs := map[string]string{"v1": "targetgroup/dev-v1/73e2d6bc24d8a067", "v2": "targetgroup/dev-v2/12e2d6bc24d8a011"}
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	// Three minutes of a canary: v2 fails 5% of its requests, and its
	// tasks refused 3 connections; both answer in about 40 ms.
	for m := range 3 {
		at := t0.Add(time.Duration(m) * time.Minute)
		fake.add("RequestCount", "Sum", lb, tgs["v1"], at, 900)
		fake.add("RequestCount", "Sum", lb, tgs["v2"], at, 100)
		fake.add("HTTPCode_Target_5XX_Count", "Sum", lb, tgs["v2"], at, 5)
		fake.add("TargetResponseTime", "p50", lb, tgs["v1"], at, 0.040)
		fake.add("TargetResponseTime", "p99", lb, tgs["v1"], at, 0.045+0.001*float64(m))
		fake.add("TargetResponseTime", "p50", lb, tgs["v2"], at, 0.041)
		fake.add("TargetResponseTime", "p99", lb, tgs["v2"], at, 0.046)
	}
	fake.add("TargetConnectionErrorCount", "Sum", lb, tgs["v2"], t0.Add(time.Minute), 3)
	// A minute before the window, which must not count.
	fake.add("RequestCount", "Sum", lb, tgs["v2"], t0.Add(-time.Minute), 1000)

	lookups := 0
	src := NewCloudWatchSource(client, lb, func(_ context.Context, v string) (string, error) {
		lookups++
		tg, ok := tgs[v]
		if !ok {
			return "", fmt.Errorf("no version %s", v)
		}
		return tg, nil
	})
	got, err := src.Stats(context.Background(), t0.Add(10*time.Second), t0.Add(2*time.Minute+30*time.Second), "v2", "v1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Stats{
		"v1": {Requests: 2700, P50: ms(40), P99: ms(47)},
		"v2": {Requests: 300, Errors: 18, P50: ms(41), P99: ms(46)},
	}
	for v, w := range want {
		g := got[v]
		if g.Requests != w.Requests || g.Errors != w.Errors || (g.P50-w.P50).abs() > Duration(time.Microsecond) || (g.P99-w.P99).abs() > Duration(time.Microsecond) {
			t.Errorf("%s: %+v, want %+v", v, g, w)
		}
	}
	if j := Judge(defaults, got["v2"], got["v1"]); j.Verdict != Fail || !strings.Contains(j.Reason, "error rate 6%") {
		t.Errorf("judgment %s (%s), want a failure on the 6%% error rate", j.Verdict, j.Reason)
	}
	if _, err := src.Stats(context.Background(), t0, t0.Add(time.Minute), "v2", "v1"); err != nil {
		t.Fatal(err)
	}
	if lookups != 2 {
		t.Errorf("looked up target groups %d times, want once per version", lookups)
	}
	if src.Resolution() != time.Minute {
		t.Errorf("resolution %s, want a minute", src.Resolution())
	}
}

func (d Duration) abs() Duration {
	if d < 0 {
		return -d
	}
	return d
}
