package analysis

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-iac/phoenix/components/caddyconfig"
)

var defaults = Thresholds{MaxErrorRate: 0.01, MaxErrorRateRatio: 2, MaxLatencyRatio: 1.2, MinRequests: 100}

func ms(n float64) Duration { return Duration(n * float64(time.Millisecond)) }

func TestJudge(t *testing.T) {
	good := Stats{Requests: 900, Errors: 0, P50: ms(50), P99: ms(60)}
	for _, tt := range []struct {
		name      string
		newer     Stats
		base      Stats
		want      Verdict
		reasonHas string
	}{
		{"same as live passes", Stats{Requests: 100, P50: ms(50), P99: ms(61)}, good, Pass, "error rate 0%"},
		{"5% errors fails the absolute rule", Stats{Requests: 100, Errors: 5, P50: ms(50), P99: ms(60)}, good, Fail, "error rate 5% (5 of 100) is over 1%"},
		{"1% errors is allowed", Stats{Requests: 100, Errors: 1, P50: ms(50), P99: ms(60)}, good, Pass, ""},
		{"as bad as a bad live is allowed by the ratio", Stats{Requests: 100, Errors: 5, P50: ms(50), P99: ms(60)}, Stats{Requests: 900, Errors: 27, P50: ms(50), P99: ms(60)}, Pass, ""},
		{"twice a bad live's rate and more fails", Stats{Requests: 100, Errors: 7, P50: ms(50), P99: ms(60)}, Stats{Requests: 900, Errors: 27, P50: ms(50), P99: ms(60)}, Fail, "over 6%"},
		{"50% slower fails on p50", Stats{Requests: 100, P50: ms(75), P99: ms(80)}, good, Fail, "p50 latency 75ms is over 65ms"},
		{"a slow tail fails on p99", Stats{Requests: 100, P50: ms(50), P99: ms(200)}, good, Fail, "p99 latency 200ms"},
		{"a tail spike within live's own spread passes", Stats{Requests: 551, P50: ms(0.58), P99: ms(16.6)}, Stats{Requests: 551, P50: ms(0.54), P99: ms(9.5)}, Pass, ""},
		{"a tail beyond live's spread fails", Stats{Requests: 551, P50: ms(0.58), P99: ms(30)}, Stats{Requests: 551, P50: ms(0.54), P99: ms(9.5)}, Fail, "p99 latency 30ms is over 20.4ms"},
		{"a few ms on a fast service is slack", Stats{Requests: 100, P50: ms(4), P99: ms(6)}, Stats{Requests: 900, P50: ms(1), P99: ms(2)}, Pass, ""},
		{"too few candidate requests", Stats{Requests: 99, Errors: 99}, good, NoVerdict, "99 new and 900 base requests, 100 each needed"},
		{"too few live requests", Stats{Requests: 500}, Stats{Requests: 3}, NoVerdict, "too little traffic"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := Judge(defaults, tt.newer, tt.base)
			if j.Verdict != tt.want || !strings.Contains(j.Reason, tt.reasonHas) {
				t.Errorf("Judge = %s (%s), want %s with %q", j.Verdict, j.Reason, tt.want, tt.reasonHas)
			}
		})
	}
}

func line(logger, route, version string, end time.Time, took time.Duration, status int) string {
	return fmt.Sprintf(`{"level":"info","ts":%d,"logger":%q,"msg":"handled request","request":{"method":"GET","uri":"/"},"duration":%d,"size":28,"status":%d,%q:%q,%q:%q}`,
		end.UnixNano(), logger, took.Nanoseconds(), status, caddyconfig.FieldVersion, version, caddyconfig.FieldRoute, route)
}

func TestAccessLogStats(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var b strings.Builder
	// v2: 100 requests from t0, every 20th a 500, one slow; 10ms each.
	for i := range 100 {
		status, took := 200, 10*time.Millisecond
		if i%20 == 19 {
			status = 500
		}
		if i == 50 {
			took = 300 * time.Millisecond
		}
		start := t0.Add(time.Duration(i) * time.Millisecond)
		fmt.Fprintln(&b, line(caddyconfig.AccessLogger, caddyconfig.LogRouteProduction, "v2", start.Add(took), took, status))
	}
	// What must not count: the candidate route (health gate), another
	// logger, a 503 with no version, a request before the window, a cut line.
	fmt.Fprintln(&b, line(caddyconfig.AccessLogger, caddyconfig.LogRouteCandidate, "", t0.Add(time.Second), time.Millisecond, 200))
	fmt.Fprintln(&b, line("http.log.error", caddyconfig.LogRouteProduction, "v2", t0.Add(time.Second), time.Millisecond, 500))
	fmt.Fprintln(&b, line(caddyconfig.AccessLogger, caddyconfig.LogRouteProduction, "", t0.Add(time.Second), time.Millisecond, 503))
	fmt.Fprintln(&b, line(caddyconfig.AccessLogger, caddyconfig.LogRouteProduction, "v2", t0.Add(-time.Second), time.Millisecond, 500))
	fmt.Fprintln(&b, `{"level":"info","ts":17`)
	// v1: a 502 from the load balancer counts as an error.
	fmt.Fprintln(&b, line(caddyconfig.AccessLogger, caddyconfig.LogRouteProduction, "v1", t0.Add(2*time.Millisecond), time.Millisecond, 502))

	a := NewAccessLog()
	if err := a.Read(strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	got, err := a.Stats(t0, t0.Add(time.Minute), "v1", "v2", "v3")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Stats{
		"v1": {Requests: 1, Errors: 1, P50: ms(1), P99: ms(1)},
		"v2": {Requests: 100, Errors: 5, P50: ms(10), P99: ms(10)},
		"v3": {},
	}
	for v, w := range want {
		if got[v] != w {
			t.Errorf("%s: %+v, want %+v", v, got[v], w)
		}
	}
	// The slow request is the 100th of 100: the p99 of 100 is the 99th.
	if all, _ := a.Stats(t0, t0.Add(time.Minute), "v2"); all["v2"].P99 != ms(10) {
		t.Errorf("p99 %s", all["v2"].P99)
	}
	// A window counts requests by when they began.
	half, _ := a.Stats(t0, t0.Add(50*time.Millisecond), "v2")
	if half["v2"].Requests != 50 || half["v2"].Errors != 2 {
		t.Errorf("first 50ms: %+v, want 50 requests and 2 errors", half["v2"])
	}
}

func TestQuantile(t *testing.T) {
	xs := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]int64{0.5: 5, 0.99: 10, 0.9: 9, 0.1: 1} {
		if got := quantile(xs, q); got != want {
			t.Errorf("quantile(%v) = %d, want %d", q, got, want)
		}
	}
	if quantile(nil, .5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestStatsJSONInMilliseconds(t *testing.T) {
	b, err := json.Marshal(Stats{Requests: 3, Errors: 1, P50: ms(1.5), P99: Duration(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"requests":3,"errors":1,"p50":1.500,"p99":2000.000}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// BenchmarkAccessLog: reading Caddy's access log (a line per request) and
// judging a step's window of 100,000 requests, as a busy canary step
// does each second.
func BenchmarkAccessLog(b *testing.B) {
	t0 := time.Unix(1_800_000_000, 0)
	lines := make([][]byte, 100_000)
	for i := range lines {
		v := "v1"
		if i%10 == 0 {
			v = "v2"
		}
		lines[i] = []byte(line(caddyconfig.AccessLogger, caddyconfig.LogRouteProduction, v, t0.Add(time.Duration(i)*time.Millisecond), time.Duration(i%50)*time.Millisecond, 200))
	}
	b.Run("add", func(b *testing.B) {
		b.ReportAllocs()
		a := NewAccessLog()
		for i := 0; b.Loop(); i++ {
			a.Add(lines[i%len(lines)])
		}
	})
	b.Run("stats-100k", func(b *testing.B) {
		a := NewAccessLog()
		for _, l := range lines {
			a.Add(l)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Stats(t0, t0.Add(time.Hour), "v2", "v1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
