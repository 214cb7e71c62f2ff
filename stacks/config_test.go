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

func TestParseConfigRefuses(t *testing.T) {
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		config  map[string]string
		wantKey string
		wantMsg string
	}{
		{"unknown platform", with(nil, KeyPlatform, "k8s"), KeyPlatform, "use one of docker, aws"},
		{"port not a number", with(nil, KeyAppPort, "http"), KeyAppPort, "whole number from 1 to 65535"},
		{"port out of range", with(nil, KeyAppPort, "70000"), KeyAppPort, "whole number from 1 to 65535"},
		{"no replicas", with(nil, KeyReplicas, "0"), KeyReplicas, "from 1 to 100"},
		{"negative retention", with(nil, KeyRetention, "-1"), KeyRetention, "from 0 to 100"},
		{"relative health path", with(nil, KeyHealthCheckPath, "healthz"), KeyHealthCheckPath, "absolute URL path"},
		{"health command not CMD", with(nil, KeyHealthCheck, `["curl","x"]`), KeyHealthCheck, "CMD or CMD-SHELL"},
		{"environment not an object", with(nil, KeyEnvironment, `["A=1"]`), KeyEnvironment, "object of string values"},
		{"environment sets PORT", with(nil, KeyEnvironment, `{"PORT":"1"}`), KeyEnvironment, "Phoenix sets PORT"},
		{"environment bad name", with(nil, KeyEnvironment, `{"1X":"1"}`), KeyEnvironment, "letters, digits and underscores"},
		{"bad live version", with(nil, KeyLive, "V1"), KeyLive, "lowercase"},
		{"bad candidate version", with(nil, KeyCandidate, "a.b"), KeyCandidate, "must not contain a dot"},
		{"weight over 100", with(nil, KeyLive, "v1", KeyCandidate, "v2", KeyCandidateWeight, "150"), KeyCandidateWeight, "from 0 to 100"},
		{"weight without candidate", with(nil, KeyLive, "v1", KeyCandidateWeight, "10"), KeyCandidateWeight, "needs both phoenix:live and phoenix:candidate"},
		{"analysis not an object", with(nil, KeyAnalysis, `[1]`), KeyAnalysis, "use an object"},
		{"analysis error rate as a percentage", with(nil, KeyAnalysis, `{"maxErrorRate":5}`), KeyAnalysis + ".maxErrorRate", "fraction from 0 to 1"},
		{"analysis latency ratio below 1", with(nil, KeyAnalysis, `{"maxLatencyRatio":0.5}`), KeyAnalysis + ".maxLatencyRatio", "multiple of 1 or more"},
		{"analysis no requests", with(nil, KeyAnalysis, `{"minRequests":0}`), KeyAnalysis + ".minRequests", "from 1 to 1000000"},
		{"analysis bake not a duration", with(nil, KeyAnalysis, `{"bake":"5"}`), KeyAnalysis + ".bake", "duration such as 5m"},
		{"analysis unknown field", with(nil, KeyAnalysis, `{"maxErrors":1}`), KeyAnalysis + ".maxErrors", "the settings are maxErrorRate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(getter(tt.config))
			if err == nil {
				t.Fatalf("ParseConfig(%v) succeeded, want an error", tt.config)
			}
			for _, want := range []string{tt.wantKey, tt.wantMsg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to contain %q", err, want)
				}
			}
		})
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
