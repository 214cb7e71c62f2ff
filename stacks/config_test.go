package stacks

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func getter(m map[string]string) Getter {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// TestParseConfigDefaults: the settings every platform shares; each
// platform's package tests its own (Config.Settings).
func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(getter(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings == nil {
		t.Error("the default platform's settings are missing")
	}
	c.Settings = nil
	want := &Config{
		Platform:           DefaultPlatform,
		AppPath:            "app",
		AppPort:            8080,
		Replicas:           2,
		Environment:        map[string]string{},
		HealthCheckPath:    "/healthz",
		HealthCheckCommand: DefaultHealthCheckCommand,
		Retention:          2,
		Analysis:           Analysis{MaxErrorRate: 0.01, MaxErrorRateRatio: 2, MaxLatencyRatio: 1.2, MinRequests: 100},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestParseAnalysis(t *testing.T) {
	a, err := ParseAnalysis(getter(map[string]string{KeyAnalysis: `{"maxErrorRate":"0.05","minRequests":20,"bake":"2m"}`}))
	if err != nil {
		t.Fatal(err)
	}
	want := Analysis{MaxErrorRate: 0.05, MaxErrorRateRatio: 2, MaxLatencyRatio: 1.2, MinRequests: 20, Bake: 2 * time.Minute}
	if a != want {
		t.Errorf("got %+v, want %+v (unset fields keep their defaults)", a, want)
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := ParseConfig(getter(map[string]string{KeyAppPort: "x", KeyReplicas: "0", KeyPlatform: "gcp"}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, key := range []string{KeyAppPort, KeyReplicas, KeyPlatform} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

// TestTrafficGiven tells a plain pulumi up (no traffic keys) from the CLI
// saying "nothing live" (keys set, empty).
func TestTrafficGiven(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]string
		want   bool
	}{
		{"no traffic keys", nil, false},
		{"live set", map[string]string{KeyLive: "v1"}, true},
		{"set to none", map[string]string{KeyLive: "", KeyCandidate: "", KeyCandidateWeight: "0"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(getter(tt.config))
			if err != nil {
				t.Fatal(err)
			}
			if c.TrafficGiven != tt.want {
				t.Errorf("got TrafficGiven %v, want %v", c.TrafficGiven, tt.want)
			}
		})
	}
}

func TestTrafficStringRoundTrips(t *testing.T) {
	for _, tr := range []Traffic{{}, {Live: "v1"}, {Live: "v1", Candidate: "v2", CandidateWeight: 10}} {
		got, err := ParseTraffic(tr.String())
		if err != nil || got != tr {
			t.Errorf("ParseTraffic(%q) = %+v, %v; want %+v", tr.String(), got, err, tr)
		}
	}
	for _, bad := range []string{"", "live=v1", "live=v1 candidate=- weight=101", "candidate=- live=- weight=0", "live=../x candidate=- weight=0"} {
		if _, err := ParseTraffic(bad); err == nil {
			t.Errorf("ParseTraffic(%q) accepted", bad)
		}
	}
}
