package header

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestTheAppAnswersWithTheVersionHeader keeps the sample app, a module of
// its own that cannot import this package, naming the same header.
func TestTheAppAnswersWithTheVersionHeader(t *testing.T) {
	b, err := os.ReadFile("../../app/main.go")
	if err != nil {
		t.Fatal(err)
	}
	want := "const VersionHeader = " + strconv.Quote(Version)
	if !strings.Contains(string(b), want) {
		t.Errorf("app/main.go does not say %s: the gate and the load balancers read that header", want)
	}
}

// TestTheLoadBalancerNamesItsTable keeps the docker platform's load
// balancer (lb/, a module of its own) naming the same header.
func TestTheLoadBalancerNamesItsTable(t *testing.T) {
	b, err := os.ReadFile("../../lb/traffic/modules.go")
	if err != nil {
		t.Fatal(err)
	}
	want := "const HeaderTraffic = " + strconv.Quote(Traffic)
	if !strings.Contains(string(b), want) {
		t.Errorf("lb/traffic/modules.go does not say %s: phoenix and the data-plane tests read that header", want)
	}
}
